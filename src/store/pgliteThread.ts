/**
 * The embedded database's own thread: PGlite (PostgreSQL compiled to WASM) runs here, so its
 * start-up (initdb, WASM compilation) and every query's execution and row parsing happen off the
 * event loop that answers HTTP. The main thread's side is pglite.ts; the messages are below.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite, type Transaction } from '@electric-sql/pglite';

export type Request =
  | { id: number; op: 'query'; sql: string; params: unknown[]; tx?: number }
  | { id: number; op: 'exec'; sql: string; tx?: number }
  | { id: number; op: 'begin' }
  | { id: number; op: 'end'; tx: number; commit: boolean }
  | { id: number; op: 'listen'; channel: string }
  | { id: number; op: 'close' };

export type Reply =
  | { id: number; rows?: string; dates?: string[]; rowCount?: number }
  | { id: number; error: SerializedError }
  | { notify: string; payload: string }
  | { ready: true }
  | { fatal: SerializedError };

/** What survives the thread boundary of a database error: its message and PostgreSQL's fields. */
export type SerializedError = { message: string } & Record<string, string | number | undefined>;

export interface ThreadData {
  dir: string | undefined;
  /** postgresql.conf lines. */
  conf: string;
}

/** timestamptz, timestamp, date: the types PGlite parses into Date. */
const DATE_TYPES = new Set([1184, 1114, 1082]);

/**
 * PGlite gives an int8 beyond 2^53 as a BigInt, which JSON cannot hold: such rows (rare) take a
 * slower pass that writes them as decimal strings, as node-postgres gives every int8.
 */
function toJson(rows: unknown[]): string {
  try {
    return JSON.stringify(rows);
  } catch {
    return JSON.stringify(rows, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  }
}

export function serializeError(err: unknown): SerializedError {
  const out: SerializedError = { message: err instanceof Error ? err.message : String(err) };
  if (err && typeof err === 'object') {
    for (const [k, v] of Object.entries(err)) if (typeof v === 'string' || typeof v === 'number') out[k] = v;
  }
  return out;
}

async function serve(): Promise<void> {
  const { dir, conf } = workerData as ThreadData;
  const pg = await PGlite.create(dir, { postgresqlconf: conf });
  const port = parentPort!;
  const send = (r: Reply) => port.postMessage(r);
  // Open transactions by id: the client that began one sends its queries with that id, and
  // PGlite keeps every other query waiting until the transaction ends.
  const open = new Map<number, { tx: Transaction; end: (commit: boolean) => void }>();
  const settled = new Map<number, Promise<void>>();
  const ROLLBACK = new Error('rollback');

  const run = async (r: Request): Promise<Reply | null> => {
    switch (r.op) {
      case 'query': {
        const on = r.tx === undefined ? pg : open.get(r.tx)?.tx;
        if (!on) throw new Error('transaction is not open');
        const res = await on.query<Record<string, unknown>>(r.sql, r.params);
        // Rows cross as JSON text, timestamps as epoch milliseconds in the columns named in
        // `dates`: the other side rebuilds them with its own Date and Object, which structured
        // clone does not (objects arrive from this thread's realm, and a test runner's sandbox
        // then does not recognise a Date as a Date).
        const dates = res.fields.filter((f) => DATE_TYPES.has(f.dataTypeID)).map((f) => f.name);
        if (dates.length) for (const row of res.rows) for (const c of dates) if (row[c] instanceof Date) row[c] = (row[c] as Date).getTime();
        // PGlite reports affectedRows = 0 for a SELECT: count the rows returned too (as node-postgres does).
        return { id: r.id, rows: toJson(res.rows), dates, rowCount: Math.max(res.affectedRows ?? 0, res.rows.length) };
      }
      case 'exec': {
        const on = r.tx === undefined ? pg : open.get(r.tx)?.tx;
        if (!on) throw new Error('transaction is not open');
        await on.exec(r.sql);
        return { id: r.id };
      }
      case 'begin': {
        // The transaction's callback waits for 'end'; PGlite commits when it returns and rolls
        // back when it throws. Its settling answers the 'end' request.
        let began!: () => void;
        const started = new Promise<void>((resolve) => (began = resolve));
        const done = pg.transaction(async (tx) => {
          const commit = await new Promise<boolean>((end) => {
            open.set(r.id, { tx, end });
            began();
          });
          if (!commit) throw ROLLBACK;
        });
        settled.set(r.id, done);
        await Promise.race([started, done]);
        return { id: r.id };
      }
      case 'end': {
        const t = open.get(r.tx);
        const done = settled.get(r.tx);
        open.delete(r.tx);
        settled.delete(r.tx);
        t?.end(r.commit);
        try {
          await done;
        } catch (err) {
          if (err !== ROLLBACK) throw err;
        }
        return { id: r.id };
      }
      case 'listen':
        await pg.listen(r.channel, (payload) => send({ notify: r.channel, payload }));
        return { id: r.id };
      case 'close':
        await pg.close();
        send({ id: r.id });
        port.close(); // nothing else keeps this thread alive: it ends
        return null;
    }
  };

  port.on('message', (r: Request) => {
    run(r).then(
      (reply) => reply && send(reply),
      (err: unknown) => send({ id: r.id, error: serializeError(err) }),
    );
  });
  send({ ready: true });
}

serve().catch((err) => parentPort!.postMessage({ fatal: serializeError(err) } satisfies Reply));
