/**
 * @qmpmux/qapi-types: TypeScript types for every QMP command, event and QAPI type of QEMU 7.2,
 * generated from its QAPI schema by @qmpmux/qapi (`npm run generate:qapi`).
 */
export type * from './generated.ts';
