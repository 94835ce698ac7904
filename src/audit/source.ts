import { sqlStateOf, type Database, type SqlClient } from '../store/database';
import { AGREED_BATCH_SQL, type AgreedRow } from './agreementSql';
import { CHECKPOINT_COLUMNS, checkpointRowToRecord, type CheckpointRecord } from './checkpointRecord';
import type { ExportLine } from './exportFormat';
import { keysetBatches, type FetchRange } from './keysetBatches';
import { AUDIT_COLUMNS, auditRowToRecord } from './trail';
import type { AuditEventRecord } from './types';
import type { SelfCheck } from './verifySelf';

/** An event whose columns the source has already found to agree with its canonical text: only what the chains use. */
export interface CheckedEvent {
  seq: string;
  id: string;
  stream: string;
  streamSeq: number;
  canonical: string;
  hash: string;
  prevHash: string | null;
  columnsAgree: true;
}

/** An event the source has checked on its own already (an export line, in a worker thread): only the outcome. */
export interface PrecheckedEvent {
  seq: string;
  id: string;
  stream: string;
  streamSeq: number;
  hash: string;
  prevHash: string | null;
  self: SelfCheck | null;
}

/** What a source yields: a whole record (verify checks it), one whose columns were checked, or one checked entirely. */
export type VerifyEvent = (AuditEventRecord & { exported?: Partial<ExportLine> }) | CheckedEvent | PrecheckedEvent;

/** A finding about the source itself (e.g. an export file that differs from its manifest). */
export interface SourceProblem {
  message: string;
}

/** What verify reads: the database, or an export directory. Both stream; neither loads everything. */
export interface AuditSource {
  describe: string;
  /** The checkpoint this source continues from (a partial export); null: it starts at the first event. */
  base(): Promise<CheckpointRecord | null>;
  /** Events in ascending seq, in batches. */
  events(): AsyncIterable<VerifyEvent[]>;
  /** Checkpoints after base, in ascending upto_seq. */
  checkpoints(): AsyncIterable<CheckpointRecord>;
  /** A public key shipped with the source (export manifests); trusted only when nothing is pinned. */
  embeddedPublicKeyPem?(): Promise<string | null>;
  problems?(): Promise<SourceProblem[]>;
}

export const VERIFY_BATCH = 5000;

export interface DatabaseSource extends AuditSource {
  /** Where each event's columns were compared with its canonical text; batches read again in full. */
  readonly stats: { checkedInSql: number; checkedInNode: number; batchesReread: number };
}

export interface DatabaseSourceOptions {
  batchSize?: number;
  /**
   * Compare the columns with the canonical text in SQL (default), reading 8 columns per event; or,
   * with false, read all 21 columns and compare them in Node (the fallback path, kept to measure).
   */
  columnsInSql?: boolean;
  /** Batches in flight while one is checked (default: 2 on PostgreSQL, 1 on PGlite, 0 in a transaction). */
  lanes?: number;
}

const MAX_SEQ = '9223372036854775807';

/**
 * Keyset batches on the primary key: each batch costs the same at any depth, and memory stays flat.
 * The next batches are requested before the current one is checked (keysetBatches.ts), so the
 * database works while we hash.
 *
 * A batch whose events the SQL check cannot vouch for (a difference, an unusual form, or an error
 * casting a tampered text) is read again with all its columns and checked in Node, which names the
 * column: the findings are the same either way. Given a transaction client (no `transaction`
 * method) instead of a Database, the fast query runs under a savepoint, so that its error does not
 * abort the caller's transaction, and without read-ahead, so that nothing queued behind it fails.
 */
export function databaseSource(db: SqlClient, opts: DatabaseSourceOptions = {}): DatabaseSource {
  const batchSize = opts.batchSize ?? VERIFY_BATCH;
  const stats = { checkedInSql: 0, checkedInNode: 0, batchesReread: 0 };
  const inTransaction = !('transaction' in db);
  // node-postgres has a pool: a second batch checked by a second connection. PGlite has one connection.
  const lanes = inTransaction ? 0 : (opts.lanes ?? ((db as Database).kind === 'postgres' ? 2 : 1));
  const range = (upto: string | null, limit: number) => [upto ?? MAX_SEQ, upto === null ? limit : null];
  const full: FetchRange<VerifyEvent> = async (after, upto, limit) => {
    const res = await db.query(`SELECT ${AUDIT_COLUMNS} FROM audit_events WHERE ($1::bigint IS NULL OR seq > $1) AND seq <= $2 ORDER BY seq LIMIT $3`, [after, ...range(upto, limit)]);
    stats.checkedInNode += res.rows.length;
    return res.rows.map(auditRowToRecord);
  };
  let sqlCheck = opts.columnsInSql !== false;
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
    base: async () => null,
    async *events() {
      const savepoint = sqlCheck && inTransaction;
      if (savepoint) await db.query('SAVEPOINT jobledger_audit_verify');
      try {
        yield* keysetBatches(db, batchSize, lanes, (after, upto, limit) => (sqlCheck ? agreed : full)(after, upto, limit));
      } finally {
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
