import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import type { Database, QueryResult, SqlClient, Statement } from './database';
import { PgListener } from './listener';

interface CopyOutOptions {
  sizeHint?: number;
  into?: Buffer;
}

// int8 (bigint) as string is node-postgres's default and keeps sequence numbers exact; we only
// change it for count(*) style results in SQL with ::int casts.

const sharedBuffer = (size: number) => Buffer.from(new SharedArrayBuffer(size));

/**
 * `COPY ... TO STDOUT` through pg-copy-streams, gathered into one buffer that lives in a
 * SharedArrayBuffer, so that worker threads can read the rows where they are.
 */
async function copyOn(conn: pg.PoolClient, sql: string, { sizeHint = 1 << 20, into }: CopyOutOptions = {}): Promise<Buffer> {
  let buf = into ?? sharedBuffer(sizeHint);
  let len = 0;
  for await (const chunk of conn.query(copyTo(sql)) as AsyncIterable<Buffer>) {
    if (len + chunk.length > buf.length) {
      const bigger = sharedBuffer(Math.max(buf.length * 2, len + chunk.length));
      bigger.set(buf.subarray(0, len));
      buf = bigger;
    }
    buf.set(chunk, len);
    len += chunk.length;
  }
  return buf.subarray(0, len);
}

const wrap = (q: pg.Pool | pg.PoolClient, named: boolean): SqlClient => ({
  async query<R>(statement: Statement, params: readonly unknown[] = []): Promise<QueryResult<R>> {
    const values = params as unknown[];
    const res =
      typeof statement === 'string'
        ? await q.query(statement, values)
        : await q.query(named ? { name: statement.name, text: statement.text, values } : statement.text, values);
    return { rows: res.rows as R[], rowCount: res.rowCount ?? res.rows.length };
  },
  async exec(script: string): Promise<void> {
    await q.query(script); // no parameters: the simple query protocol runs every statement
  },
  async copyOut(sql: string, opts?: CopyOutOptions): Promise<Buffer> {
    if (!(q instanceof pg.Pool)) return copyOn(q, sql, opts); // a transaction's own connection
    const conn = await q.connect();
    try {
      return await copyOn(conn, sql, opts);
    } finally {
      conn.release();
    }
  },
});

export interface PostgresOptions {
  max?: number;
  /**
   * Keep `prepared()` statements prepared on each connection (default true). Off behind a
   * transaction-mode pooler that cannot carry them (PgBouncer before 1.21, or without
   * max_prepared_statements): every statement is then parsed and planned each time.
   */
  preparedStatements?: boolean;
  onError?: (err: Error) => void;
  /** Backoff of the LISTEN connection's reconnects (defaults in listener.ts). */
  listenRetry?: { minDelayMs?: number; maxDelayMs?: number };
}

/** A pooled PostgreSQL connection; LISTEN uses one dedicated, self-healing client (listener.ts), opened on first use. */
export async function openPostgres(url: string, opts: PostgresOptions = {}): Promise<Database> {
  const pool = new pg.Pool({ connectionString: url, max: opts.max ?? 10, connectionTimeoutMillis: 10_000 });
  pool.on('error', (err) => opts.onError?.(err));
  // Fail at start-up, not on the first request, when the database is unreachable.
  const probe = await pool.connect();
  probe.release();

  const listener = new PgListener(url, { onError: opts.onError, ...opts.listenRetry });
  const named = opts.preparedStatements ?? true;
  const client = wrap(pool, named);

  return {
    kind: 'postgres',
    exclusive: false,
    query: client.query,
    exec: client.exec,
    copyOut: client.copyOut,
    async transaction(fn) {
      const conn = await pool.connect();
      try {
        await conn.query('BEGIN');
        const result = await fn(wrap(conn, named));
        await conn.query('COMMIT');
        return result;
      } catch (err) {
        await conn.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        conn.release();
      }
    },
    listen: (channel, onNotify) => listener.listen(channel, onNotify),
    listenState: () => listener.current,
    watchListen: (fn) => listener.watch(fn),
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    async close() {
      await listener.close();
      await pool.end();
    },
  };
}
