/**
 * The config file's "websocket" section: options of every `ws://` and `wss://` listener (the
 * certificate of `wss://` is the "tls" section's).
 *
 *   "websocket": {
 *     "origins": ["https://ops.example"],  // default: same origin only; "*" for any
 *     "tokenSubprotocol": true,            // accept qmp.token.<base64url> (browsers cannot set headers)
 *     "keepaliveMs": 30000,                // ping interval, 0 = off
 *     "keepaliveTimeoutMs": 30000,         // no pong by then: dropped (default: keepaliveMs)
 *     "maxPayload": 1048576,               // largest WebSocket message, checked before buffering
 *     "console": true                      // serve the web console on GET
 *   }
 */
import { normalizeOrigin, type WsListenOptions } from '@qmpmux/transports';
import { ConfigError } from './config-error.ts';
import * as v from './validate.ts';

const FIELDS = ['origins', 'tokenSubprotocol', 'keepaliveMs', 'keepaliveTimeoutMs', 'maxPayload', 'console'] as const;

export function parseWebsocketConfig(raw: unknown, path: string): WsListenOptions {
  const o = v.object(raw, path, FIELDS);
  const out: WsListenOptions = {};
  if (o.origins !== undefined) {
    out.origins = v.array(o.origins, `${path}.origins`, (x, p) => {
      const s = v.string(x, p);
      if (s === '*') return s;
      const origin = normalizeOrigin(s);
      if (origin === undefined) throw new ConfigError(p, 'expected an origin such as "https://ops.example:8443", "null" or "*"');
      return origin;
    });
  }
  if (o.tokenSubprotocol !== undefined) out.tokenSubprotocol = v.bool(o.tokenSubprotocol, `${path}.tokenSubprotocol`, true);
  if (o.keepaliveMs !== undefined) out.keepaliveMs = v.int(o.keepaliveMs, `${path}.keepaliveMs`, 0, 0, 2 ** 31 - 1);
  if (o.keepaliveTimeoutMs !== undefined) out.keepaliveTimeoutMs = v.int(o.keepaliveTimeoutMs, `${path}.keepaliveTimeoutMs`, 0, 1, 2 ** 31 - 1);
  if (o.maxPayload !== undefined) out.maxPayload = v.int(o.maxPayload, `${path}.maxPayload`, 0, 1, 2 ** 31 - 1);
  if (o.console !== undefined) out.console = v.bool(o.console, `${path}.console`, true);
  return out;
}
