import type { LogLevel } from './config';

const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

// Anything shaped like a JWT or a Clerk secret is replaced before a line is written: a log is
// read by more people than a token should be.
const SECRETISH = /eyJ[\w-]+\.[\w-]+\.[\w-]*|\b(sk|pk|whsec)_[\w]+|Bearer\s+\S+/g;

export function redact(text: string): string {
  return text.replace(SECRETISH, '[redacted]');
}

/** One JSON object per line on stderr. */
export function createLogger(level: LogLevel, sink: (line: string) => void = (l) => process.stderr.write(l + '\n')): Logger {
  const min = order[level];
  const write = (lvl: Exclude<LogLevel, 'silent'>, msg: string, fields?: Record<string, unknown>) => {
    if (order[lvl] < min) return;
    sink(redact(JSON.stringify({ time: new Date().toISOString(), level: lvl, msg, ...fields })));
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
  };
}
