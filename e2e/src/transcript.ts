/**
 * The differential transcript: every framing, negotiation and envelope case of QMP-NOTES §1–§3, ids of
 * every JSON type, and the misc.json commands that run under `-M none`. Strings are latin1 bytes.
 */
const ids = [
  '1', '-5', '0', '12345678901234567890', '-9223372036854775808', '18446744073709551616', '1.5', '0.1', '1.0', '1e18', '1.5e-7',
  '-0.0', '1e400', '"str"', '"\u00c3\u00a9"', '"\\u00e9"', '"\\ud83d\\ude00"', '"a/b\\\\c\\"d\\n\\t"', "'single'", 'true', 'false', 'null',
  '[]', '{}', '{"b":1,"a":2}', '[1,{"x":[],"y":{"z":null}}]', '{"id":{"id":1}}',
];

export const PRE_NEGOTIATION: string[] = [
  '{"execute":"query-status","id":1}',
  '{"execute":"qmp_capabilities","arguments":{"enable":["foo"]},"id":2}',
  '{"execute":"qmp_capabilities","arguments":{"enable":"oob"},"id":3}',
  '{"execute":"qmp_capabilities","arguments":{"enable":[1]},"id":4}',
  '{"execute":"qmp_capabilities","arguments":{"zz":1,"bar":2},"id":5}',
  '{"execute":"qmp_capabilities","arguments":[],"id":55}',
  '{"exec-oob":"qmp_capabilities","id":6}',
  '{"id":7}',
  '{"execute":1,"id":8}',
  '{"execute":"x","arguments":[],"id":9}',
  '{"execute":"x","arguments":null}',
  '{"execute":"x","foo":1,"id":10}',
  '{"zzz":1,"bar":2,"execute":"x"}',
  '{"execute":"x","exec-oob":"y","id":11}',
  '{}',
  '[1]', '42 ', '"s"', 'true ', 'null ', '-1.5e3 ',
  '{"execute": }', '[1,]', '{"a":1,}', '}', ']', '{"a" "b"}', '[1 2]', '{5:1}', 'nul ', 'foo ',
  '{"a":1,"a":2}', '"\\x"', '"\\ud83d"', '"\xc3\x28"', '"\xed\xa0\x80"', '01 ', '1. ', '- ', '+1 ', 'Infinity ', '%d ', '\x01', '\xff', '\xfe',
  '{"execute":"x","id":01}',
  '['.repeat(1025) + ']'.repeat(1025),
  '{' + '['.repeat(1025) + ']'.repeat(1025) + '}',
  '"tab\there"', '"nl\nhere"', '\x01',
  '{'.repeat(3) + '\x01',
  'garbage{"execute":"query-name","id":"g"}',
  '\xef\xbb\xbf{"execute":"query-name","id":"bom"}',
  "{'execute':'query-status','id':'sq\\'x'}",
  '{"execute":"qmp_capabilities","arguments":{"enable":["oob"]}',
  '\x01',
  '{"execute":"query-status","id":"split',
  '"}{"execute":"query-status","id":"glued"}',
  '{"execute":"qmp_capabilities","id":"neg"}',
];

export const POST_NEGOTIATION: string[] = [
  '{"execute":"qmp_capabilities","id":"again"}',
  '{"execute":"qmp_capabilities","arguments":{"enable":["x"]},"id":"again2"}',
  ...ids.map((id) => `{"execute":"query-name","id":${id}}`),
  '{"execute":"query-name"}',
  '{"id":"last","execute":"query-name"}',
  '{"exec-oob":"query-name","id":"oob"}',
  '{"execute":"query-iothreads","id":"it"}',
  '{"execute":"query-status","id":"st"}',
  '{"execute":"stop","id":"stop"}',
  '{"execute":"query-status","id":"st2"}',
  '{"execute":"cont","id":"cont"}',
  '{"execute":"human-monitor-command","arguments":{"command-line":"info status"},"id":"hmp"}',
  '{"execute":"human-monitor-command","arguments":{"command-line":"info status","cpu-index":5},"id":"hmp2"}',
  '{"execute":"human-monitor-command","arguments":{"command-line":"foo"},"id":"hmp3"}',
  '{"execute":"human-monitor-command","arguments":{"command-line":"  c  "},"id":"hmp4"}',
  '{"execute":"human-monitor-command","id":"hmp5"}',
  '{"execute":"query-command-line-options","arguments":{"option":"machine"},"id":"clo"}',
  '{"execute":"query-command-line-options","arguments":{"option":"nope"},"id":"clo2"}',
  '{"execute":"query-command-line-options","id":"clo-all"}',
  '{"execute":"x-exit-preconfig","id":"xp"}',
  '{"execute":"getfd","arguments":{"fdname":"fd1"},"id":"gf"}',
  '{"execute":"getfd","arguments":{"fdname":"1abc"},"id":"gf2"}',
  '{"execute":"getfd","id":"gf3"}',
  '{"execute":"getfd","arguments":{"fdname":5},"id":"gf4"}',
  '{"execute":"closefd","arguments":{"fdname":"nope"},"id":"cf"}',
  '{"execute":"add-fd","id":"af"}',
  '{"execute":"add-fd","arguments":{"fdset-id":-1},"id":"af2"}',
  '{"execute":"add-fd","arguments":{"fdset-id":1.5},"id":"af3"}',
  '{"execute":"remove-fd","arguments":{"fdset-id":5},"id":"rf"}',
  '{"execute":"remove-fd","arguments":{"fdset-id":3,"fd":999},"id":"rf2"}',
  '{"execute":"query-fdsets","id":"qf"}',
  '{"execute":"add_client","arguments":{"protocol":"vnc","fdname":"nope"},"id":"ac"}',
  '{"execute":"add_client","arguments":{"protocol":"spice","fdname":"nope"},"id":"ac2"}',
  '{"execute":"add_client","arguments":{"protocol":"bogus","fdname":"nope","skipauth":true},"id":"ac3"}',
  '{"execute":"query-name","arguments":{"x":1},"id":"ux"}',
  '{"execute":"nonexistent","id":"nx"}',
  '{"execute":"query-version","id":"ver"}',
  '{"execute":"query-commands","id":"qc"}',
  '{"execute":"query-qmp-schema","id":"schema"}',
  '{"execute":"query-name","id":"end"}',
];

/** With OOB negotiated; each step has exactly one reply and is sent after the previous reply. */
export const OOB_STEPS: string[] = [
  '{"execute":"qmp_capabilities","arguments":{"enable":["oob"]},"id":0}',
  '{"exec-oob":"query-name","id":"o1"}',
  '{"exec-oob":"query-yank","id":"o2"}',
  '{"execute":"query-name","exec-oob":"query-name","id":"o3"}',
  '{"exec-oob":"yank","arguments":{"instances":[]},"id":"o4"}',
  '{"exec-oob":1,"id":"o5"}',
  '{"exec-oob":"query-yank"}',
  '{"exec-oob":"nonexistent","id":"o6"}',
  '{"execute":"query-status","id":"o7"}',
];

/** Lines with what QEMU itself varies (timestamps) made equal. */
export function normalize(raw: string): string {
  return raw.replace(/"timestamp": \{"seconds": -?\d+, "microseconds": -?\d+\}/g, '"timestamp": T');
}
