import { randomUUID } from 'node:crypto';
import { metrics } from '../metrics';
import type { SqlClient } from '../store/database';
import { canonicalJson, sha256Hex } from './canonical';
import { canonicalFields, EVENT_FIELDS, type AuditActor, type AuditEventRecord } from './event';

// Database time at millisecond precision: the same instant goes into the changed row, the audit
// event and its hashed canonical form, and JavaScript Dates hold milliseconds.
export const NOW_MS = "date_trunc('milliseconds', now())";

/** The database clock at millisecond precision, as events record it. */
export async function dbNow(tx: SqlClient): Promise<Date> {
  const res = await tx.query<{ now: Date }>(`SELECT ${NOW_MS} AS now`);
  return res.rows[0].now;
}

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

/** Appends one event inside the caller's transaction. If this throws, the caller's change rolls back. */
export async function appendEvent(tx: SqlClient, input: AuditInput): Promise<AuditEventRecord> {
  const start = performance.now();
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
  const params = EVENT_FIELDS.map((f) => (f.kind === 'json' ? jsonParam(event[f.key]) : event[f.key]));
  const res = await tx.query<{ seq: string }>(INSERT_SQL, [...params, canonical, hash]);
  metrics.auditAppended((performance.now() - start) / 1000);
  return { ...event, seq: String(res.rows[0].seq), canonical, hash };
}

const INSERT_COLUMNS = [...EVENT_FIELDS.map((f) => f.column), 'canonical', 'hash'];
const INSERT_SQL = `INSERT INTO audit_events (${INSERT_COLUMNS.join(', ')}) VALUES (${INSERT_COLUMNS.map((_, i) => `$${i + 1}`).join(', ')}) RETURNING seq`;

/** The actor columns have no room for "why is the email blank", so the event's data says it. */
function withEmailNote(after: unknown, why: string): unknown {
  if (after !== null && after !== undefined && (typeof after !== 'object' || Array.isArray(after))) return { value: after, actorEmailUnknown: why };
  return { ...(after as Record<string, unknown> | null), actorEmailUnknown: why };
}

const jsonParam = (v: unknown): string | null => (v === null || v === undefined ? null : JSON.stringify(v));
