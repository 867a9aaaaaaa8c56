/**
 * Reply texts exactly as QEMU writes them, without the trailing "\r\n".
 * Key orders are QDict hash orders: {"return", "id"}, {"id", "error"},
 * {"class", "desc"} (checked against qdictOrder in the tests).
 */
import { quoteString } from './serialize.ts';

/** `{"id": X, "error": {"class": C, "desc": D}}`, or without "id" when idText is undefined. */
export function errorReply(cls: string, desc: string, idText?: string): string {
  const error = `{"class": ${quoteString(cls)}, "desc": ${quoteString(desc)}}`;
  return idText === undefined ? `{"error": ${error}}` : `{"id": ${idText}, "error": ${error}}`;
}

/** `{"return": V, "id": X}`, or `{"return": V}` when idText is undefined. V and X are serialized JSON. */
export function returnReply(valueText: string, idText?: string): string {
  return idText === undefined ? `{"return": ${valueText}}` : `{"return": ${valueText}, "id": ${idText}}`;
}
