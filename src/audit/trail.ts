import { randomUUID } from 'node:crypto';
import { metrics } from '../metrics';
import { prepared, type SqlClient } from '../store/database';
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
  /**
   * Mode `held` only: the stream's head (null: the stream is empty) as the caller read it while
   * holding the lock that serialises the stream, in the statement that took it or after; the
   * appender then does not read it again. The unique (stream, stream_seq) key still refuses a
   * fork if it was stale.
   */
  head?: { streamSeq: number; hash: string } | null;
}

/** Appends one event inside the caller's transaction. If this throws, the caller's change rolls back. */
export async function appendEvent(tx: SqlClient, input: AuditInput): Promise<AuditEventRecord> {
  const start = performance.now();
  let streamSeq = 1;
  let prevHash: string | null = null;
  if (input.mode === 'held' && input.head !== undefined) {
    if (input.head) {
      streamSeq = input.head.streamSeq + 1;
      prevHash = input.head.hash;
    }
  } else if (input.mode !== 'new') {
    if (input.mode === 'shared') await tx.query(LOCK_STREAM, [input.stream]);
    const head = await tx.query<{ stream_seq: number; hash: string }>(STREAM_HEAD, [input.stream]);
    if (head.rows[0]) {
      streamSeq = head.rows[0].stream_seq + 1;
      prevHash = head.rows[0].hash;
    }
  }
  const event = sealEvent(input, streamSeq, prevHash);
  const res = await tx.query<{ seq: string }>(INSERT_ONE, insertParams(event));
  metrics.auditAppended((performance.now() - start) / 1000);
  return { ...event, seq: String(res.rows[0].seq) };
}

/**
 * Appends the first event of each of several new streams (mode `new`: nothing to read, nothing
 * to lock) in one statement, inside the caller's transaction, in the order given. For changes
 * committed together (a batch of created jobs): each event is still in its change's transaction.
 */
export async function appendFirstEvents(tx: SqlClient, inputs: readonly AuditInput[]): Promise<void> {
  if (inputs.some((i) => i.mode !== 'new')) throw new Error('appendFirstEvents: every stream must be new');
  if (inputs.length === 0) return;
  const start = performance.now();
  await tx.query(prepared(insertSql(inputs.length)), inputs.flatMap((input) => insertParams(sealEvent(input, 1, null))));
  // One statement for the batch: its latency is each event's append latency.
  for (let i = 0; i < inputs.length; i++) metrics.auditAppended((performance.now() - start) / 1000);
}

type SealedEvent = Omit<AuditEventRecord, 'seq'>;

/** The event at this position of its stream, with its canonical text and hash. */
function sealEvent(input: AuditInput, streamSeq: number, prevHash: string | null): SealedEvent {
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
  return { ...event, canonical, hash: sha256Hex(canonical) };
}

const INSERT_COLUMNS = [...EVENT_FIELDS.map((f) => f.column), 'canonical', 'hash'];
const insertParams = (e: SealedEvent): unknown[] => [...EVENT_FIELDS.map((f) => (f.kind === 'json' ? jsonParam(e[f.key]) : e[f.key])), e.canonical, e.hash];

/** INSERT of `rows` events: VALUES ($1, ..., $n), ($n+1, ...), ... in INSERT_COLUMNS order. */
function insertSql(rows: number): string {
  const n = INSERT_COLUMNS.length;
  const values = Array.from({ length: rows }, (_, r) => `(${INSERT_COLUMNS.map((_c, i) => `$${r * n + i + 1}`).join(', ')})`);
  return `INSERT INTO audit_events (${INSERT_COLUMNS.join(', ')}) VALUES ${values.join(', ')}`;
}
const INSERT_ONE = prepared(`${insertSql(1)} RETURNING seq`);
const LOCK_STREAM = prepared('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))');
const STREAM_HEAD = prepared('SELECT stream_seq, hash FROM audit_events WHERE stream = $1 ORDER BY stream_seq DESC LIMIT 1');

/** The actor columns have no room for "why is the email blank", so the event's data says it. */
function withEmailNote(after: unknown, why: string): unknown {
  if (after !== null && after !== undefined && (typeof after !== 'object' || Array.isArray(after))) return { value: after, actorEmailUnknown: why };
  return { ...(after as Record<string, unknown> | null), actorEmailUnknown: why };
}

const jsonParam = (v: unknown): string | null => (v === null || v === undefined ? null : JSON.stringify(v));
