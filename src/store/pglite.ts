import fs from 'node:fs';
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { startModuleThread } from '../threads';
import { lockDataDir } from './dataLock';
import { statementText, type Database, type QueryResult, type SqlClient, type Statement } from './database';
import { createDataDirInChild } from './pgliteInit';
import type { Reply, Request, SerializedError, ThreadData } from './pgliteThread';

/**
 * PostgreSQL settings for the embedded store. Its shared buffers live in the process's own
 * memory (PostgreSQL's default is 128 MB); the operating system's page cache still holds the
 * files, so a smaller pool costs little for one process's working set.
 */
const CONF = 'shared_buffers=32MB';

type Unsent = Request extends infer R ? (R extends Request ? Omit<R, 'id'> : never) : never;

/** A database error rebuilt on this side, with PostgreSQL's fields (code is the SQLSTATE). */
function rebuild(e: SerializedError): Error {
  return Object.assign(new Error(e.message), e);
}

function startThread(data: ThreadData): { worker: Worker; ready: Promise<void> } {
  const worker = startModuleThread(__filename, 'pgliteThread', data);
  const ready = new Promise<void>((resolve, reject) => {
    const onMessage = (m: Reply) => {
      if ('ready' in m) resolve();
      else if ('fatal' in m) reject(rebuild(m.fatal));
      else return;
      worker.off('message', onMessage);
    };
    worker.on('message', onMessage);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the embedded database thread exited (code ${code}) while starting`)));
  });
  return { worker, ready };
}

/**
 * The embedded store: a real PostgreSQL (compiled to WASM) on disk in `dir`, or in memory when
 * `dir` is undefined, running in a thread of its own (pgliteThread.ts). One connection, so
 * transactions run one at a time; queries from outside a transaction wait until it ends.
 */
export async function openPglite(dir: string | undefined, opts: { onLockLost?: (err: Error) => void } = {}): Promise<Database> {
  if (dir) fs.mkdirSync(dir, { recursive: true });
  const unlock = dir ? await lockDataDir(dir, opts.onLockLost ?? ((err) => process.emitWarning(`embedded store lock lost: ${err.message}`))) : async () => undefined;
  try {
    return await startStore(dir, unlock);
  } catch (err) {
    await unlock();
    throw err;
  }
}

async function startStore(dir: string | undefined, unlock: () => Promise<void>): Promise<Database> {
  // A new data directory is made in a process of its own (pgliteInit.ts): initdb's memory then
  // leaves with it, which it does not when a thread of this process ends.
  if (dir && !fs.existsSync(path.join(dir, 'PG_VERSION'))) await createDataDirInChild(dir, CONF);
  const { worker, ready } = startThread({ dir, conf: CONF });
  await ready;

  let ids = 0;
  let dead: Error | null = null;
  type Answer = { rows?: string; dates?: string[]; rowCount?: number };
  const waiting = new Map<number, { resolve: (r: Answer) => void; reject: (e: Error) => void }>();
  const listeners = new Map<string, Set<(payload: string) => void>>();
  worker.on('message', (m: Reply) => {
    if ('notify' in m) {
      for (const l of listeners.get(m.notify) ?? []) l(m.payload);
      return;
    }
    if (!('id' in m)) return;
    const w = waiting.get(m.id);
    waiting.delete(m.id);
    if ('error' in m) w?.reject(rebuild(m.error));
    else w?.resolve(m);
  });
  const fail = (err: Error) => {
    dead = err;
    for (const w of waiting.values()) w.reject(err);
    waiting.clear();
  };
  worker.on('error', (err) => fail(new Error(`the embedded database thread failed: ${err.message}`)));
  worker.on('exit', (code) => fail(new Error(`the embedded database thread has stopped (code ${code})`)));

  const post = (req: Unsent): { id: number; answer: Promise<Answer> } => {
    const id = ++ids;
    if (dead) return { id, answer: Promise.reject(dead) };
    const answer = new Promise<Answer>((resolve, reject) => waiting.set(id, { resolve, reject }));
    worker.postMessage({ ...req, id });
    return { id, answer };
  };
  const call = (req: Unsent): Promise<Answer> => post(req).answer;
  const client = (tx?: number): SqlClient => ({
    async query<R>(statement: Statement, params: readonly unknown[] = []): Promise<QueryResult<R>> {
      const res = await call({ op: 'query', sql: statementText(statement), params: params as unknown[], tx });
      const rows = JSON.parse(res.rows ?? '[]') as Record<string, unknown>[];
      if (res.dates?.length) for (const row of rows) for (const c of res.dates) if (typeof row[c] === 'number') row[c] = new Date(row[c] as number);
      return { rows: rows as R[], rowCount: res.rowCount ?? 0 };
    },
    async exec(sql: string): Promise<void> {
      await call({ op: 'exec', sql, tx });
    },
  });
  const base = client();

  // In-process: notifications cannot be lost to a broken connection.
  const always = { connected: true, since: new Date(), reconnects: 0 };
  return {
    kind: 'pglite',
    exclusive: true,
    query: base.query,
    exec: base.exec,
    async transaction(fn) {
      const { id: tx, answer } = post({ op: 'begin' });
      await answer;
      let result;
      try {
        result = await fn(client(tx));
      } catch (err) {
        await call({ op: 'end', tx, commit: false }).catch(() => undefined);
        throw err;
      }
      await call({ op: 'end', tx, commit: true });
      return result;
    },
    async listen(channel, onNotify) {
      let set = listeners.get(channel);
      if (!set) {
        listeners.set(channel, (set = new Set()));
        await call({ op: 'listen', channel });
      }
      set.add(onNotify);
      return async () => {
        set!.delete(onNotify);
      };
    },
    listenState: () => always,
    watchListen: () => () => undefined,
    poolStats: () => ({ total: 1, idle: waiting.size === 0 ? 1 : 0, waiting: Math.max(0, waiting.size - 1) }),
    async close() {
      try {
        if (dead) return;
        await call({ op: 'close' });
        await new Promise<void>((resolve) => (worker.threadId === -1 ? resolve() : worker.once('exit', () => resolve())));
      } finally {
        await unlock();
      }
    },
  };
}
