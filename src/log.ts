import pino, { type DestinationStream } from 'pino';
import type { LogFormat, LogLevel } from './config';

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** The least severe level written; absent means every level (a test's stand-in). */
  readonly level?: LogLevel;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/** Whether `log` writes lines at `level`: callers skip building fields that would be dropped. */
export const logs = (log: Logger, level: Exclude<LogLevel, 'silent'>): boolean => ORDER[level] >= ORDER[log.level ?? 'debug'];

/**
 * Fields that never reach a log line, whoever logs them: credentials (request headers, a
 * graphql-ws connection payload, anything named token) and URS text (a createJob input, a job
 * row). pino censors them while it serializes the line, so a new log call that passes such an
 * object is covered without knowing about this list. Named paths, and one wildcard for URS text
 * in any object one level down: every `*` path is a walk over each line's fields, and ten of
 * them cost more than the rest of an access line.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["proxy-authorization"]',
  'req.headers.cookie',
  'req.headers["svix-signature"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'connectionParams.authorization',
  'connectionParams.Authorization',
  'connectionParams.token',
  'authorization',
  'cookie',
  'token',
  'secret',
  'ursDocument',
  '*.ursDocument',
  'variables.input.ursDocument',
];
export const REDACTED = '[redacted]';

export interface LogOptions {
  /** `pretty` needs the development dependency pino-pretty; without it lines stay JSON. */
  format?: LogFormat;
  /** Where lines go: the server and worker write stdout; tool commands stderr, beside their output on stdout. */
  destination?: 'stdout' | 'stderr';
  /** Receives each line (without its newline) instead of a file descriptor: tests read lines this way. */
  sink?: (line: string) => void;
  /** Write each line before the call returns, instead of queueing it while a write is under way. */
  sync?: boolean;
}

/**
 * One JSON object per line (pino): `level` (its name), `time` (ISO 8601), `pid`, `hostname`,
 * the fields, `msg`. Writes go to the descriptor without blocking the event loop: lines
 * queue in memory while a write is under way and leave together; the queue is flushed when the
 * process exits.
 */
export function createLogger(level: LogLevel, options: LogOptions | ((line: string) => void) = {}): Logger {
  const opts = typeof options === 'function' ? { sink: options } : options;
  const p = pino(
    {
      level,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT_PATHS, censor: REDACTED },
    },
    destinationFor(opts),
  );
  return {
    level,
    debug: (msg, fields) => (fields ? p.debug(fields, msg) : p.debug(msg)),
    info: (msg, fields) => (fields ? p.info(fields, msg) : p.info(msg)),
    warn: (msg, fields) => (fields ? p.warn(fields, msg) : p.warn(msg)),
    error: (msg, fields) => (fields ? p.error(fields, msg) : p.error(msg)),
  };
}

/** Apollo Server's own messages (its `logger` option) as lines of `log`. */
export function apolloLogger(log: Logger): Record<'debug' | 'info' | 'warn' | 'error', (...message: unknown[]) => void> {
  const text = (message: unknown[]) => message.map((m) => (m instanceof Error ? m.message : String(m))).join(' ');
  return {
    debug: (...m) => log.debug(text(m), { source: 'apollo' }),
    info: (...m) => log.info(text(m), { source: 'apollo' }),
    warn: (...m) => log.warn(text(m), { source: 'apollo' }),
    error: (...m) => log.error(text(m), { source: 'apollo' }),
  };
}

function destinationFor(opts: LogOptions): DestinationStream {
  if (opts.sink) {
    const sink = opts.sink;
    return { write: (line: string) => sink(line.endsWith('\n') ? line.slice(0, -1) : line) };
  }
  const fd = opts.destination === 'stderr' ? 2 : 1;
  if (opts.format === 'pretty') {
    const pretty = loadPretty();
    if (pretty) return pretty({ destination: fd, sync: true, colorize: fd === 1 ? process.stdout.isTTY : process.stderr.isTTY, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true });
  }
  return pino.destination({ dest: fd, sync: opts.sync ?? false });
}

type PrettyFactory = (opts: Record<string, unknown>) => DestinationStream;

/** pino-pretty is a development dependency: absent after `npm ci --omit=dev`. */
function loadPretty(): PrettyFactory | null {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('pino-pretty') as PrettyFactory;
  } catch {
    process.emitWarning('LOG_FORMAT=pretty needs the development dependency pino-pretty (not installed): writing JSON lines.');
    return null;
  }
}
