import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import type { Database, QueryResult, SqlClient } from './database';

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

const wrap = (q: pg.Pool | pg.PoolClient): SqlClient => ({
  async query<R>(text: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
    const res = await q.query(text, params as unknown[]);
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
  onError?: (err: Error) => void;
}

/** A pooled PostgreSQL connection; LISTEN uses one dedicated client, opened on first use. */
export async function openPostgres(url: string, opts: PostgresOptions = {}): Promise<Database> {
  const pool = new pg.Pool({ connectionString: url, max: opts.max ?? 10, connectionTimeoutMillis: 10_000 });
  pool.on('error', (err) => opts.onError?.(err));
  // Fail at start-up, not on the first request, when the database is unreachable.
  const probe = await pool.connect();
  probe.release();

  let listener: pg.Client | undefined;
  const handlers = new Map<string, Set<(payload: string) => void>>();
  const ensureListener = async (): Promise<pg.Client> => {
    if (listener) return listener;
    const c = new pg.Client({ connectionString: url });
    c.on('error', (err) => opts.onError?.(err));
    c.on('notification', (n) => {
      for (const h of handlers.get(n.channel) ?? []) h(n.payload ?? '');
    });
    await c.connect();
    listener = c;
    return c;
  };
  const client = wrap(pool);

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
        const result = await fn(wrap(conn));
        await conn.query('COMMIT');
        return result;
      } catch (err) {
        await conn.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        conn.release();
      }
    },
    async listen(channel, onNotify) {
      const c = await ensureListener();
      let set = handlers.get(channel);
      if (!set) {
        set = new Set();
        handlers.set(channel, set);
        await c.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      }
      set.add(onNotify);
      return async () => {
        set!.delete(onNotify);
      };
    },
    async close() {
      await listener?.end().catch(() => undefined);
      await pool.end();
    },
  };
}
