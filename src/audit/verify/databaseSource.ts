import { AUDIT_COLUMNS, auditRowToRecord, LABEL_OF_FIELD } from '../event';
import os from 'node:os';
import { sqlStateOf, type Database, type SqlClient } from '../../store/database';
import { AGREED_BATCH_SQL, type AgreedRow } from './fast/agreementSql';
import { inlineRowChecker, workerRowChecker, type RowChecker } from './fast/copyCheckers';
import { chainFields, copyBatchSql, indexRows } from './fast/copyRows';
import { CHECKPOINT_COLUMNS, checkpointRowToRecord } from '../checkpoint/record';
import { keysetBatches, type FetchRange } from './keysetBatches';
import { show } from './findings';
import { selfCheck } from './self';
import type { AuditSource, CheckedEvent, VerifyEvent } from './types';
import { trailIdOf } from '../identity';

export const VERIFY_BATCH = 5000;
/** Smaller for COPY: fewer live events per young-generation collection (measured: 2,000 beat 5,000 and 10,000). */
const COPY_BATCH = 2000;

export interface DatabaseSource extends AuditSource {
  /** Where each event was checked against its canonical text; batches read again in full. */
  readonly stats: { checkedInCopy: number; checkedInWorkers: number; checkedInSql: number; checkedInNode: number; batchesReread: number };
}

/**
 * How the columns are compared with the canonical text:
 * - copy: binary COPY, checked on the bytes in Node (copyCheck.ts); PostgreSQL only, its default;
 * - sql: PostgreSQL rebuilds and compares (agreementSql.ts), 8 columns come back; PGlite's default;
 * - node: all 21 columns through the driver, compared in Node: what the other two fall back to
 *   for a batch they cannot vouch for, and the reference the tests hold them to.
 */
export type ColumnCheck = 'copy' | 'sql' | 'node';

export interface DatabaseSourceOptions {
  batchSize?: number;
  columns?: ColumnCheck;
  /** Batches in flight while one is checked (default: 2 on PostgreSQL, 1 on PGlite, 0 in a transaction). */
  lanes?: number;
  /**
   * Worker threads that check COPY rows beside this thread ('auto', the default: none for a trail
   * of one batch or less, else one per CPU but one, at most 4). The findings are the same.
   */
  workers?: number | 'auto';
}

const MAX_SEQ = '9223372036854775807';

/**
 * node-postgres reads times to the millisecond, and canonical text records milliseconds: a column
 * edited by less than that would look unchanged. These columns carry the full value of any time
 * that is finer (null otherwise), so the check can name it.
 */
const finer = (col: string) =>
  `CASE WHEN date_trunc('milliseconds', ${col}) <> ${col} THEN to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') END AS ${col}_finer`;
const FINER_THAN_MS = `${finer('occurred_at')}, ${finer('token_iat')}`;

function withFinerTimes(row: Record<string, unknown>): VerifyEvent {
  const e = auditRowToRecord(row);
  const finerTimes = [
    ['occurredAt', row.occurred_at_finer],
    ['tokenIssuedAt', row.token_iat_finer],
  ].filter(([, v]) => typeof v === 'string') as [keyof typeof LABEL_OF_FIELD & string, string][];
  if (!finerTimes.length) return e;
  const self = selfCheck(e) ?? { hashOk: true, diffs: [], computedHash: e.hash };
  let hashed: Record<string, unknown> = {};
  try {
    hashed = JSON.parse(e.canonical) as Record<string, unknown>;
  } catch {
    // selfCheck has said so already
  }
  for (const [key, value] of finerTimes) {
    self.diffs.push(`${LABEL_OF_FIELD[key]}: the column says ${value}, finer than the milliseconds the hashed canonical text records (${show(hashed[key])})`);
  }
  return { seq: e.seq, id: e.id, stream: e.stream, streamSeq: e.streamSeq, hash: e.hash, prevHash: e.prevHash, self };
}

/**
 * Keyset batches on the primary key: each batch costs the same at any depth, and memory stays flat.
 * The next batches are requested before the current one is checked (keysetBatches.ts), so the
 * database works while we hash.
 *
 * A batch whose events the COPY or SQL check cannot vouch for (a difference, an unusual form, or
 * an error casting a tampered text) is read again with all its columns and checked in Node, which
 * names the column: the findings are the same either way. Given a transaction client (no `transaction`
 * method) instead of a Database, the fast query runs under a savepoint, so that its error does not
 * abort the caller's transaction, and without read-ahead, so that nothing queued behind it fails.
 */
export function databaseSource(db: SqlClient, opts: DatabaseSourceOptions = {}): DatabaseSource {
  const stats = { checkedInCopy: 0, checkedInWorkers: 0, checkedInSql: 0, checkedInNode: 0, batchesReread: 0 };
  const inTransaction = !('transaction' in db);
  const mode: ColumnCheck = opts.columns ?? (db.copyOut ? 'copy' : 'sql');
  const batchSize = opts.batchSize ?? (mode === 'copy' ? COPY_BATCH : VERIFY_BATCH);
  if (mode === 'copy' && !db.copyOut) throw new Error('this database has no COPY to the client: check the columns with sql or node');
  // node-postgres has a pool: other batches read on other connections meanwhile. COPY: six (at 1M
  // events, 2 lanes gave ~180k events/s, 4 ~225k, 6 ~236k, 8 no more); the pool's default is 10.
  // PGlite has one connection.
  const pooled = (db as Database).kind === 'postgres';
  const lanes = inTransaction ? 0 : (opts.lanes ?? (pooled ? (mode === 'copy' ? 6 : 2) : 1));
  const range = (upto: string | null, limit: number) => [upto ?? MAX_SEQ, upto === null ? limit : null];
  const full: FetchRange<VerifyEvent> = async (after, upto, limit) => {
    const res = await db.query(`SELECT ${AUDIT_COLUMNS}, ${FINER_THAN_MS} FROM audit_events WHERE ($1::bigint IS NULL OR seq > $1) AND seq <= $2 ORDER BY seq LIMIT $3`, [after, ...range(upto, limit)]);
    stats.checkedInNode += res.rows.length;
    return res.rows.map(withFinerTimes);
  };
  const autoWorkers = opts.workers === undefined || opts.workers === 'auto';
  const workerCount = autoWorkers ? Math.min(4, os.availableParallelism() - 1) : (opts.workers as number);
  let checker: RowChecker = inlineRowChecker();
  // Batch buffers are reused: a new SharedArrayBuffer per batch made the GC run far more often.
  const spare: Buffer[] = [];
  const copied: FetchRange<VerifyEvent> = async (after, upto, limit) => {
    const buf = await db.copyOut!(copyBatchSql(after, upto, upto === null ? limit : null), { sizeHint: limit * 1100, into: spare.pop() });
    const rows = indexRows(buf);
    // Worker threads take a while to start: worth it only for a trail of more than one batch.
    if (checker.workers === 0 && workerCount > 0 && (!autoWorkers || rows.length === batchSize)) {
      checker = workerRowChecker(workerCount, { waitForStart: !autoWorkers });
    }
    const verdict = checker.check(buf, rows);
    const events = chainFields(buf, rows); // meanwhile, on this thread
    const { doubt, mismatched } = await verdict;
    // Nothing refers to it now (the events hold copies). Only a buffer CopyOut made is ours to reuse.
    if (buf.buffer instanceof SharedArrayBuffer) spare.push(Buffer.from(buf.buffer));
    if (doubt) {
      stats.batchesReread++;
      return full(after, upto, limit);
    }
    for (const [i, computedHash] of mismatched) events[i].self = { hashOk: false, diffs: [], computedHash };
    stats.checkedInCopy += events.length;
    return events;
  };
  let sqlCheck = mode === 'sql';
  const agreed: FetchRange<VerifyEvent> = async (after, upto, limit) => {
    let rows: AgreedRow[];
    try {
      rows = (await db.query<AgreedRow>(AGREED_BATCH_SQL, [after, ...range(upto, limit)])).rows;
    } catch (err) {
      if (inTransaction) await db.query('ROLLBACK TO SAVEPOINT jobledger_audit_verify');
      // A data error (22...) or a nesting limit (54...) is a tampered text in this batch; anything
      // else means the query itself cannot run here: stop trying it.
      if (!/^(22|54)/.test(sqlStateOf(err) ?? '')) sqlCheck = false;
      stats.batchesReread++;
      return full(after, upto, limit);
    }
    if (rows.some((r) => r.columnsAgree !== true)) {
      stats.batchesReread++;
      return full(after, upto ?? String(rows[rows.length - 1].seq), limit);
    }
    stats.checkedInSql += rows.length;
    return rows as CheckedEvent[]; // every columnsAgree is true
  };
  return {
    describe: 'database',
    stats,
    trailId: () => trailIdOf(db),
    base: async () => null,
    async *events() {
      const savepoint = sqlCheck && inTransaction;
      if (savepoint) await db.query('SAVEPOINT jobledger_audit_verify');
      try {
        yield* keysetBatches(db, batchSize, lanes, (after, upto, limit) => (mode === 'copy' ? copied : sqlCheck ? agreed : full)(after, upto, limit));
      } finally {
        stats.checkedInWorkers = checker.checkedInWorkers;
        await checker.close();
        checker = inlineRowChecker();
        // Never masks the error that ended the loop (if the transaction is broken, that error says why).
        if (savepoint) await db.query('RELEASE SAVEPOINT jobledger_audit_verify').catch(() => undefined);
      }
    },
    async *checkpoints() {
      for (let after = 0; ; ) {
        const res = await db.query(
          `SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE upto_seq > $1 ORDER BY upto_seq LIMIT 1000`,
          [after],
        );
        for (const r of res.rows) yield checkpointRowToRecord(r);
        if (res.rows.length < 1000) return;
        after = Number(res.rows[res.rows.length - 1].upto_seq);
      }
    },
  };
}
