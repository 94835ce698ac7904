import { randomUUID } from 'node:crypto';
import type { SqlClient } from '../store/database';
import { canonicalJson, sha256Hex } from './canonical';
import type { AuditActor, AuditEventRecord } from './types';

/**
 * How the appender learns the chain head of its stream:
 * - `new`: the stream starts with this event (a job being created): no read at all;
 * - `held`: the caller already holds a lock that serialises the stream (the job row lock);
 * - `shared`: anyone may append (access denials); take an advisory lock on the stream first.
 * One chain per stream, instead of one global chain, is what keeps concurrent writers from
 * queueing behind a single head row; global completeness comes from checkpoints.
 */
export type StreamMode = 'new' | 'held' | 'shared';

export interface AuditInput {
  stream: string;
  mode: StreamMode;
  action: string;
  /** Database time of the change, read inside the same transaction. */
  occurredAt: Date;
  actor: AuditActor;
  jobId?: string | null;
  reason?: string | null;
  before?: unknown;
  after?: unknown;
}

export const CANONICAL_VERSION = 1;

/** The exact object that is serialised and hashed; also what `verify` re-derives from columns. */
export function canonicalFields(e: Omit<AuditEventRecord, 'seq' | 'canonical' | 'hash'>): Record<string, unknown> {
  return {
    v: CANONICAL_VERSION,
    id: e.id,
    stream: e.stream,
    streamSeq: e.streamSeq,
    prevHash: e.prevHash,
    action: e.action,
    occurredAt: e.occurredAt,
    actorId: e.actorId,
    actorEmail: e.actorEmail,
    sessionId: e.sessionId,
    tokenIssuedAt: e.tokenIssuedAt,
    impersonatorId: e.impersonatorId,
    jobId: e.jobId,
    reason: e.reason,
    before: e.before ?? null,
    after: e.after ?? null,
    requestId: e.requestId,
    ip: e.ip,
    userAgent: e.userAgent,
  };
}

/** Appends one event inside the caller's transaction. If this throws, the caller's change rolls back. */
export async function appendEvent(tx: SqlClient, input: AuditInput): Promise<AuditEventRecord> {
  let streamSeq = 1;
  let prevHash: string | null = null;
  if (input.mode !== 'new') {
    if (input.mode === 'shared') await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [input.stream]);
    const head = await tx.query<{ stream_seq: number; hash: string }>(
      'SELECT stream_seq, hash FROM audit_events WHERE stream = $1 ORDER BY stream_seq DESC LIMIT 1',
      [input.stream],
    );
    if (head.rows[0]) {
      streamSeq = head.rows[0].stream_seq + 1;
      prevHash = head.rows[0].hash;
    }
  }
  const a = input.actor;
  const event: Omit<AuditEventRecord, 'seq' | 'canonical' | 'hash'> = {
    id: randomUUID(),
    stream: input.stream,
    streamSeq,
    prevHash,
    action: input.action,
    occurredAt: input.occurredAt,
    actorId: a.actorId,
    actorEmail: a.actorEmail,
    sessionId: a.sessionId,
    tokenIssuedAt: a.tokenIssuedAt,
    impersonatorId: a.impersonatorId,
    jobId: input.jobId ?? null,
    reason: input.reason ?? null,
    before: input.before ?? null,
    after: a.emailUnknown ? withEmailNote(input.after, a.emailUnknown) : (input.after ?? null),
    requestId: a.requestId,
    ip: a.ip,
    userAgent: a.userAgent,
  };
  const canonical = canonicalJson(canonicalFields(event));
  const hash = sha256Hex(canonical);
  const res = await tx.query<{ seq: string }>(
    `INSERT INTO audit_events (id, stream, stream_seq, action, occurred_at, actor_id, actor_email, session_id,
       token_iat, impersonator_id, job_id, reason, before, after, request_id, ip, user_agent, canonical, hash, prev_hash)
     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20) RETURNING seq`,
    [
      event.id, event.stream, event.streamSeq, event.action, event.occurredAt, event.actorId, event.actorEmail,
      event.sessionId, event.tokenIssuedAt, event.impersonatorId, event.jobId, event.reason,
      jsonParam(event.before), jsonParam(event.after), event.requestId, event.ip, event.userAgent, canonical, hash, prevHash,
    ],
  );
  return { ...event, seq: String(res.rows[0].seq), canonical, hash };
}

/** The actor columns have no room for "why is the email blank", so the event's data says it. */
function withEmailNote(after: unknown, why: string): unknown {
  if (after !== null && after !== undefined && (typeof after !== 'object' || Array.isArray(after))) return { value: after, actorEmailUnknown: why };
  return { ...(after as Record<string, unknown> | null), actorEmailUnknown: why };
}

const jsonParam = (v: unknown): string | null => (v === null || v === undefined ? null : JSON.stringify(v));

export const AUDIT_COLUMNS =
  'seq, id, stream, stream_seq, action, occurred_at, actor_id, actor_email, session_id, token_iat, impersonator_id, ' +
  'job_id, reason, before, after, request_id, ip, user_agent, canonical, hash, prev_hash';

export function auditRowToRecord(r: Record<string, unknown>): AuditEventRecord {
  return {
    seq: String(r.seq),
    id: r.id as string,
    stream: r.stream as string,
    streamSeq: Number(r.stream_seq),
    action: r.action as string,
    occurredAt: r.occurred_at as Date,
    actorId: r.actor_id as string,
    actorEmail: (r.actor_email as string | null) ?? null,
    sessionId: (r.session_id as string | null) ?? null,
    tokenIssuedAt: (r.token_iat as Date | null) ?? null,
    impersonatorId: (r.impersonator_id as string | null) ?? null,
    jobId: (r.job_id as string | null) ?? null,
    reason: (r.reason as string | null) ?? null,
    before: r.before ?? null,
    after: r.after ?? null,
    requestId: (r.request_id as string | null) ?? null,
    ip: (r.ip as string | null) ?? null,
    userAgent: (r.user_agent as string | null) ?? null,
    canonical: r.canonical as string,
    hash: r.hash as string,
    prevHash: (r.prev_hash as string | null) ?? null,
  };
}
