/** Who did it and from where: copied into every audit event. */
export interface AuditActor {
  actorId: string;
  actorEmail: string | null;
  sessionId: string | null;
  tokenIssuedAt: Date | null;
  impersonatorId: string | null;
  requestId: string | null;
  ip: string | null;
  userAgent: string | null;
  /**
   * Set when the actor is a user whose email could not be learned (e.g. Clerk's Users API timed
   * out): the event's `after` then carries `actorEmailUnknown` with this reason, so a blank
   * email is explained on the record.
   */
  emailUnknown?: string;
}

/** An actor that is part of the system (`system:...`): no user, no session, no token. */
export function systemActor(actorId: `system:${string}`, where: Partial<Pick<AuditActor, 'requestId' | 'ip' | 'userAgent'>> = {}): AuditActor {
  return {
    actorId,
    actorEmail: null,
    sessionId: null,
    tokenIssuedAt: null,
    impersonatorId: null,
    requestId: where.requestId ?? null,
    ip: where.ip ?? null,
    userAgent: where.userAgent ?? null,
  };
}

export const SYSTEM_WORKER: AuditActor = systemActor('system:worker');

export interface AuditEventRecord {
  seq: string;
  id: string;
  stream: string;
  streamSeq: number;
  action: string;
  occurredAt: Date;
  actorId: string;
  actorEmail: string | null;
  sessionId: string | null;
  tokenIssuedAt: Date | null;
  impersonatorId: string | null;
  jobId: string | null;
  reason: string | null;
  before: unknown;
  after: unknown;
  requestId: string | null;
  ip: string | null;
  userAgent: string | null;
  canonical: string;
  hash: string;
  prevHash: string | null;
}

/** The actions we record. Stable strings: exports and auditors' queries rely on them. */
export const AuditAction = {
  jobCreated: 'job.created',
  jobStarted: 'job.started',
  jobCompleted: 'job.completed',
  jobFailed: 'job.failed',
  jobCancelled: 'job.cancelled',
  accessDenied: 'access.denied',
  userDeleted: 'user.deleted',
  sessionRevoked: 'session.revoked',
  orgMembershipChanged: 'organization.membership.changed',
} as const;
export type AuditAction = (typeof AuditAction)[keyof typeof AuditAction];

/**
 * How a field is stored and written: `text` and `uuid` as JSON strings (uuids in lowercase text
 * form), `integer` as a JSON number (a PostgreSQL integer), `time` as an ISO-8601 UTC string with
 * milliseconds (a timestamptz), `json` as the JSON value itself (a jsonb), keys canonically sorted.
 */
export type FieldKind = 'text' | 'uuid' | 'integer' | 'time' | 'json';

/** The fields of an event that its canonical text covers (everything but seq, canonical and hash). */
export type EventKey = Exclude<keyof AuditEventRecord, 'seq' | 'canonical' | 'hash'>;

export interface EventField {
  /** Its key in the canonical JSON and in AuditEventRecord. */
  key: EventKey;
  /** Its column in audit_events. */
  column: string;
  /** Its key in an export line. */
  exportName: string;
  kind: FieldKind;
  nullable: boolean;
}

/**
 * THE event format: every encoding of an event (the canonical JSON that is hashed, the columns
 * and the INSERT, the rows read back, the SQL and COPY comparisons, the export line and its fast
 * check) is derived from this table, and test/audit-event-format.test.ts holds each to it. The
 * order is the export line's; the canonical JSON orders keys by RFC 8785 (JCS) instead.
 */
export const EVENT_FIELDS: readonly EventField[] = [
  { key: 'id', column: 'id', exportName: 'id', kind: 'uuid', nullable: false },
  { key: 'stream', column: 'stream', exportName: 'stream', kind: 'text', nullable: false },
  { key: 'streamSeq', column: 'stream_seq', exportName: 'stream_seq', kind: 'integer', nullable: false },
  { key: 'prevHash', column: 'prev_hash', exportName: 'prev_hash', kind: 'text', nullable: true },
  { key: 'occurredAt', column: 'occurred_at', exportName: 'timestamp', kind: 'time', nullable: false },
  { key: 'action', column: 'action', exportName: 'action', kind: 'text', nullable: false },
  { key: 'actorId', column: 'actor_id', exportName: 'user_id', kind: 'text', nullable: false },
  { key: 'actorEmail', column: 'actor_email', exportName: 'user_email', kind: 'text', nullable: true },
  { key: 'tokenIssuedAt', column: 'token_iat', exportName: 'token_iat', kind: 'time', nullable: true },
  { key: 'sessionId', column: 'session_id', exportName: 'session_id', kind: 'text', nullable: true },
  { key: 'impersonatorId', column: 'impersonator_id', exportName: 'impersonator_id', kind: 'text', nullable: true },
  { key: 'jobId', column: 'job_id', exportName: 'job_id', kind: 'uuid', nullable: true },
  { key: 'reason', column: 'reason', exportName: 'reason', kind: 'text', nullable: true },
  { key: 'before', column: 'before', exportName: 'before', kind: 'json', nullable: true },
  { key: 'after', column: 'after', exportName: 'after', kind: 'json', nullable: true },
  { key: 'requestId', column: 'request_id', exportName: 'request_id', kind: 'text', nullable: true },
  { key: 'ip', column: 'ip', exportName: 'ip', kind: 'text', nullable: true },
  { key: 'userAgent', column: 'user_agent', exportName: 'user_agent', kind: 'text', nullable: true },
];

/**
 * The version of the canonical text, its key `v`. Version 1 is already RFC 8785 (JCS) output for
 * the values events hold, so stored events keep verifying as they are; a change to the bytes
 * needs version 2, with version 1 still verified (docs/audit-format.md).
 */
export const CANONICAL_VERSION = 1;

/** A canonical key and what it holds: a field of the table, or the version. */
export type CanonicalEntry = { key: string; field: EventField | null };

const codeUnitOrder = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The canonical JSON's keys in the order JCS writes them (UTF-16 code units), `v` included. */
export const CANONICAL_ORDER: readonly CanonicalEntry[] = [
  ...EVENT_FIELDS.map((field) => ({ key: field.key as string, field })),
  { key: 'v', field: null },
].sort((a, b) => codeUnitOrder(a.key, b.key));

/** The exact object that is serialised and hashed; also what verify re-derives from columns. */
export function canonicalFields(e: Omit<AuditEventRecord, 'seq' | 'canonical' | 'hash'>): Record<string, unknown> {
  const out: Record<string, unknown> = { v: CANONICAL_VERSION };
  for (const f of EVENT_FIELDS) out[f.key] = f.kind === 'json' ? (e[f.key] ?? null) : e[f.key];
  return out;
}

/** audit_events' columns in the order rows are read: seq, the table's columns, canonical, hash. */
export const EVENT_COLUMNS: readonly string[] = ['seq', ...EVENT_FIELDS.map((f) => f.column), 'canonical', 'hash'];
export const AUDIT_COLUMNS = EVENT_COLUMNS.join(', ');

export function auditRowToRecord(r: Record<string, unknown>): AuditEventRecord {
  const e: Record<string, unknown> = { seq: String(r.seq), canonical: r.canonical, hash: r.hash };
  for (const f of EVENT_FIELDS) {
    const v = r[f.column];
    e[f.key] = f.kind === 'integer' ? Number(v) : (v ?? null);
  }
  return e as unknown as AuditEventRecord;
}

/** How findings name a canonical field: its column, and its export name where that differs. */
export const LABEL_OF_FIELD: Readonly<Record<string, string>> = Object.fromEntries([
  ['v', 'canonical version'],
  ...EVENT_FIELDS.map((f) => [f.key, f.column === f.exportName ? f.column : `${f.column} (${f.exportName})`]),
]);
