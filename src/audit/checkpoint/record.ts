import { canonicalJson } from '../canonical';

/** One sealed prefix of the audit trail. Sequence numbers fit a JS number (2^53) for millennia. */
export interface CheckpointRecord {
  id: number;
  uptoSeq: number;
  /** Events with seq <= uptoSeq. */
  eventCount: number;
  digest: string;
  prevDigest: string | null;
  /** Unused seqs in (previous uptoSeq, uptoSeq]; null when too many to list. */
  missingSeqs: number[] | null;
  createdAt: Date;
  keyId: string;
  signature: string;
}

export const CHECKPOINT_COLUMNS = 'id, upto_seq, event_count, digest, prev_digest, missing_seqs, created_at, key_id, signature';

/**
 * The bytes that are signed. The id is left out on purpose: it is assigned by the insert, after
 * signing, and the chain order is already fixed by prevDigest.
 */
export function checkpointSigningText(c: Omit<CheckpointRecord, 'id' | 'signature'>): string {
  return canonicalJson({
    type: 'jobledger.audit.checkpoint',
    v: 1,
    uptoSeq: c.uptoSeq,
    eventCount: c.eventCount,
    digest: c.digest,
    prevDigest: c.prevDigest,
    missingSeqs: c.missingSeqs,
    createdAt: c.createdAt,
    keyId: c.keyId,
  });
}

export function checkpointRowToRecord(r: Record<string, unknown>): CheckpointRecord {
  const missing = r.missing_seqs as unknown[] | null;
  return {
    id: Number(r.id),
    uptoSeq: Number(r.upto_seq),
    eventCount: Number(r.event_count),
    digest: r.digest as string,
    prevDigest: (r.prev_digest as string | null) ?? null,
    missingSeqs: missing === null || missing === undefined ? null : missing.map(Number),
    createdAt: r.created_at as Date,
    keyId: r.key_id as string,
    signature: r.signature as string,
  };
}

/** The JSON form used by the journal file and export manifests (snake_case, like the export lines). */
export function checkpointToJson(c: CheckpointRecord): Record<string, unknown> {
  return {
    id: c.id,
    upto_seq: c.uptoSeq,
    event_count: c.eventCount,
    digest: c.digest,
    prev_digest: c.prevDigest,
    missing_seqs: c.missingSeqs,
    created_at: c.createdAt.toISOString(),
    key_id: c.keyId,
    signature: c.signature,
  };
}

export function checkpointFromJson(j: Record<string, unknown>): CheckpointRecord {
  const created = new Date(String(j.created_at));
  if (typeof j.digest !== 'string' || !Number.isFinite(Number(j.upto_seq)) || Number.isNaN(created.getTime())) {
    throw new Error(`not a checkpoint: ${JSON.stringify(j).slice(0, 120)}`);
  }
  return checkpointRowToRecord({ ...j, created_at: created });
}
