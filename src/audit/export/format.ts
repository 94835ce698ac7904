import type { AuditEventRecord } from '../event';

/**
 * One export line per event. Field names follow the issue (user_id, timestamp, ...); every field
 * of the hashed canonical text is present, so an offline verify can check each column against
 * the canonical text exactly as it does in the database.
 */
export interface ExportLine {
  seq: number;
  id: string;
  stream: string;
  stream_seq: number;
  timestamp: string;
  action: string;
  user_id: string;
  user_email: string | null;
  token_iat: string | null;
  session_id: string | null;
  impersonator_id: string | null;
  job_id: string | null;
  reason: string | null;
  before: unknown;
  after: unknown;
  request_id: string | null;
  ip: string | null;
  user_agent: string | null;
  alcoa_attributable: boolean;
  alcoa_contemporaneous: boolean;
  canonical: string;
  hash: string;
  prev_hash: string | null;
}

/** Column name (as exported) for each canonical field: findings name what an auditor sees. */
export const EXPORT_NAME_OF_FIELD: Record<string, string> = {
  v: 'canonical version',
  id: 'id',
  stream: 'stream',
  streamSeq: 'stream_seq',
  prevHash: 'prev_hash',
  action: 'action',
  occurredAt: 'occurred_at (timestamp)',
  actorId: 'actor_id (user_id)',
  actorEmail: 'actor_email (user_email)',
  sessionId: 'session_id',
  tokenIssuedAt: 'token_iat',
  impersonatorId: 'impersonator_id',
  jobId: 'job_id',
  reason: 'reason',
  before: 'before',
  after: 'after',
  requestId: 'request_id',
  ip: 'ip',
  userAgent: 'user_agent',
};

/**
 * ALCOA "attributable": the actor is identified, either a named system actor (`system:*`) or a
 * person whose verified token put a session or issue time on the record.
 */
export function isAttributable(e: Pick<AuditEventRecord, 'actorId' | 'sessionId' | 'tokenIssuedAt'>): boolean {
  if (!e.actorId || !e.actorId.trim()) return false;
  return e.actorId.startsWith('system:') || e.sessionId !== null || e.tokenIssuedAt !== null;
}

export function toExportLine(e: AuditEventRecord): ExportLine {
  return {
    seq: Number(e.seq),
    id: e.id,
    stream: e.stream,
    stream_seq: e.streamSeq,
    timestamp: e.occurredAt.toISOString(),
    action: e.action,
    user_id: e.actorId,
    user_email: e.actorEmail,
    token_iat: e.tokenIssuedAt ? e.tokenIssuedAt.toISOString() : null,
    session_id: e.sessionId,
    impersonator_id: e.impersonatorId,
    job_id: e.jobId,
    reason: e.reason,
    // In canonical key order (the database's jsonb has its own): the same values, and offline
    // verify can compare the text as it is (lineWalk.ts).
    before: sortedKeys(e.before ?? null),
    after: sortedKeys(e.after ?? null),
    request_id: e.requestId,
    ip: e.ip,
    user_agent: e.userAgent,
    alcoa_attributable: isAttributable(e),
    // occurred_at is the database clock read in the transaction that made the change.
    alcoa_contemporaneous: true,
    canonical: e.canonical,
    hash: e.hash,
    prev_hash: e.prevHash,
  };
}

/** A JSON value whose objects list their keys sorted by code unit, as canonicalJson writes them. */
function sortedKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortedKeys);
  if (v === null || typeof v !== 'object' || Object.getPrototypeOf(v) !== Object.prototype) return v;
  const obj = v as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(obj).sort()) out[k] = sortedKeys(obj[k]);
  return out;
}

const date = (v: unknown): Date | null => (v === null || v === undefined ? null : new Date(String(v)));
const text = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

/** The inverse of toExportLine; a malformed line still maps, and verify reports what disagrees. */
export function fromExportLine(l: Partial<ExportLine>): AuditEventRecord & { exported: Partial<ExportLine> } {
  return {
    seq: String(l.seq),
    id: String(l.id),
    stream: String(l.stream),
    streamSeq: Number(l.stream_seq),
    action: String(l.action),
    occurredAt: date(l.timestamp) ?? new Date(NaN),
    actorId: String(l.user_id ?? ''),
    actorEmail: text(l.user_email),
    sessionId: text(l.session_id),
    tokenIssuedAt: date(l.token_iat),
    impersonatorId: text(l.impersonator_id),
    jobId: text(l.job_id),
    reason: text(l.reason),
    before: l.before ?? null,
    after: l.after ?? null,
    requestId: text(l.request_id),
    ip: text(l.ip),
    userAgent: text(l.user_agent),
    canonical: String(l.canonical),
    hash: String(l.hash),
    prevHash: text(l.prev_hash),
    exported: l,
  };
}

export interface ExportManifestFile {
  name: string;
  day: string;
  sha256: string;
  lines: number;
  first_seq: number;
  last_seq: number;
}

export interface ExportManifest {
  format: 'jobledger.audit.export';
  version: 1;
  /** The trail's identity (identity.ts); absent in exports from before identities, null before the first checkpoint. */
  trail_id?: string | null;
  exported_at: string;
  requested: { from: string | null; to: string | null };
  /** The seq interval exported: (after_seq, upto_seq], widened to checkpoint boundaries. */
  covered: { after_seq: number; upto_seq: number; events: number };
  files: ExportManifestFile[];
  /** The checkpoint the export starts after (its digest starts the running digest), or null. */
  base_checkpoint: Record<string, unknown> | null;
  checkpoints: Record<string, unknown>[];
  public_key: { key_id: string; pem: string } | null;
}
