/** A tiny levelled logger; every plugin gets one tagged with its name. Writes one line per record to stderr. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(tag: string): Logger;
}

export type LogSink = (level: LogLevel, tag: string, msg: string, fields?: Record<string, unknown>) => void;

const stderrSink: LogSink = (level, tag, msg, fields) => {
  const extra = fields ? ' ' + JSON.stringify(fields, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)) : '';
  process.stderr.write(`qmpmux ${level} [${tag}] ${msg}${extra}\n`);
};

export function createLogger(tag = 'qmpmux', level: LogLevel = (process.env.QMPMUX_LOG as LogLevel) || 'info', sink: LogSink = stderrSink): Logger {
  const min = ORDER[level] ?? ORDER.info;
  const at = (l: LogLevel) => (msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[l] >= min) sink(l, tag, msg, fields);
  };
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (t) => createLogger(`${tag}:${t}`, level, sink),
  };
}
