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

export const SYSTEM_WORKER: AuditActor = {
  actorId: 'system:worker',
  actorEmail: null,
  sessionId: null,
  tokenIssuedAt: null,
  impersonatorId: null,
  requestId: null,
  ip: null,
  userAgent: null,
};

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
