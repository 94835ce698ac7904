import fs from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { lockDataDir } from './dataLock';
import type { Database, QueryResult, SqlClient } from './database';

type PGliteTx = Parameters<Parameters<PGlite['transaction']>[0]>[0];

const wrap = (q: PGlite | PGliteTx): SqlClient => ({
  async query<R>(text: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
    const res = await q.query<R>(text, params as unknown[]);
    // PGlite reports affectedRows = 0 for a SELECT: count the rows returned too (as node-postgres does).
    return { rows: res.rows, rowCount: Math.max(res.affectedRows ?? 0, res.rows.length) };
  },
  async exec(script: string): Promise<void> {
    await q.exec(script);
  },
});

/**
 * The embedded store: a real PostgreSQL (compiled to WASM) on disk in `dir`, or in memory
 * when `dir` is undefined. One connection, so transactions run one at a time.
 */
export async function openPglite(dir: string | undefined, opts: { onLockLost?: (err: Error) => void } = {}): Promise<Database> {
  if (dir) fs.mkdirSync(dir, { recursive: true });
  const unlock = dir ? await lockDataDir(dir, opts.onLockLost ?? ((err) => process.emitWarning(`embedded store lock lost: ${err.message}`))) : async () => undefined;
  let pg: PGlite;
  try {
    pg = await PGlite.create(dir);
  } catch (err) {
    await unlock();
    throw err;
  }
  const client = wrap(pg);
  // In-process: notifications cannot be lost to a broken connection.
  const always = { connected: true, since: new Date(), reconnects: 0 };
  return {
    kind: 'pglite',
    exclusive: true,
    query: client.query,
    exec: client.exec,
    transaction: (fn) => pg.transaction((tx) => fn(wrap(tx))),
    async listen(channel, onNotify) {
      const unsubscribe = await pg.listen(channel, onNotify);
      return async () => unsubscribe();
    },
    listenState: () => always,
    watchListen: () => () => undefined,
    async close() {
      try {
        await pg.close();
      } finally {
        await unlock();
      }
    },
  };
}
