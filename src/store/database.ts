/**
 * The storage seam: one PostgreSQL dialect, two drivers (node-postgres for a server, PGlite for
 * the embedded default). Nothing above this file imports a driver.
 */
import { createHash } from 'node:crypto';

/**
 * A statement PostgreSQL keeps prepared on each connection: parsed and planned once, then only
 * bound and executed (planning was about half of the database CPU of the worker's
 * transactions). Only for statements whose plan does not depend on their parameters' values:
 * after a few executions PostgreSQL may keep one generic plan for every value. A statement like
 * `($1 IS NULL OR seq > $1) ORDER BY seq` must stay a plain string. The embedded store runs the
 * text as usual.
 */
export interface Prepared {
  readonly name: string;
  readonly text: string;
}
export type Statement = string | Prepared;

const preparedByText = new Map<string, Prepared>();

/** The prepared form of `text`; the same text always has the same name (so one per connection). */
export function prepared(text: string): Prepared {
  let p = preparedByText.get(text);
  if (!p) preparedByText.set(text, (p = { name: `jl_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`, text }));
  return p;
}

export const statementText = (s: Statement): string => (typeof s === 'string' ? s : s.text);

export interface QueryResult<R> {
  rows: R[];
  rowCount: number;
}

export interface SqlClient {
  query<R = Record<string, unknown>>(statement: Statement, params?: readonly unknown[]): Promise<QueryResult<R>>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(script: string): Promise<void>;
  /**
   * Runs `COPY (...) TO STDOUT` and resolves to all its output, in a SharedArrayBuffer (PostgreSQL
   * only: PGlite has no COPY to a client). For reads of a bounded size that must skip per-row
   * driver work (audit verify). `into`: a buffer to reuse; `sizeHint`: else, the size to start with.
   */
  copyOut?(sql: string, opts?: { sizeHint?: number; into?: Buffer }): Promise<Buffer>;
}

export type Notification = (payload: string) => void;

/** Whether notifications are being received, since when, and how often the connection came back. */
export interface ListenState {
  connected: boolean;
  since: Date;
  reconnects: number;
}

export interface PoolStats {
  total: number;
  idle: number;
  waiting: number;
}

export interface Database extends SqlClient {
  readonly kind: 'pglite' | 'postgres';
  /**
   * True when no other process can write this database (the embedded store, held by one
   * process): caches of its rows, invalidated by this process's own writes, are then exact.
   */
  readonly exclusive: boolean;
  /** Runs `fn` in one transaction; commits when it resolves, rolls back when it throws. */
  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T>;
  /** LISTEN on a channel; resolves to a function that stops listening. */
  listen(channel: string, onNotify: Notification): Promise<() => Promise<void>>;
  /** The LISTEN connection's state (PGlite: always connected once something listens). */
  listenState(): ListenState;
  /**
   * Calls `fn` on every change of the LISTEN connection. Notifications sent while it was down are
   * lost: on `connected: true` after a loss, re-read whatever notifications would have announced.
   */
  watchListen(fn: (state: ListenState) => void): () => void;
  /**
   * Connections in use and queries waiting for one, for the metrics. PostgreSQL: the pool's
   * counts. Embedded: its one connection; `waiting` counts the queries queued behind the one
   * it is running.
   */
  poolStats(): PoolStats;
  close(): Promise<void>;
}

/** SQLSTATE codes we map to domain behaviour. */
export const SqlState = {
  uniqueViolation: '23505',
  serializationFailure: '40001',
  deadlockDetected: '40P01',
  raiseException: 'P0001',
  insufficientPrivilege: '42501',
} as const;

export function sqlStateOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
