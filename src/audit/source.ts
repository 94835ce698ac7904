import type { SqlClient } from '../store/database';
import { CHECKPOINT_COLUMNS, checkpointRowToRecord, type CheckpointRecord } from './checkpointRecord';
import { AUDIT_COLUMNS, auditRowToRecord } from './trail';
import type { AuditEventRecord } from './types';

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
  events(): AsyncIterable<AuditEventRecord[]>;
  /** Checkpoints after base, in ascending upto_seq. */
  checkpoints(): AsyncIterable<CheckpointRecord>;
  /** A public key shipped with the source (export manifests); trusted only when nothing is pinned. */
  embeddedPublicKeyPem?(): Promise<string | null>;
  problems?(): Promise<SourceProblem[]>;
}

export const VERIFY_BATCH = 5000;

/** Keyset batches on the primary key: each batch costs the same at any depth, and memory stays flat. */
export function databaseSource(db: SqlClient, batchSize = VERIFY_BATCH): AuditSource {
  return {
    describe: 'database',
    base: async () => null,
    async *events() {
      const page = (after: string) => db.query(`SELECT ${AUDIT_COLUMNS} FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2`, [after, batchSize]);
      for (let pending = page('0'); ; ) {
        const res = await pending;
        const full = res.rows.length === batchSize;
        // The next page is requested before this one is checked, so the database works while we hash.
        if (full) {
          pending = page(String(res.rows[res.rows.length - 1].seq));
          pending.catch(() => undefined); // a consumer that stops early must not leave an unhandled rejection
        }
        if (res.rows.length) yield res.rows.map(auditRowToRecord);
        if (!full) return;
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
