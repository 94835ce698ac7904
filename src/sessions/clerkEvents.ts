import { appendEvent, dbNow } from '../audit/trail';
import { AuditAction, systemActor } from '../audit/event';
import type { SqlClient } from '../store/database';
import { REVOCATION_CHANNEL, type DatabaseSessionGate, type RevocationNotice } from './gate';

export const WEBHOOK_ACTOR_ID = 'system:clerk-webhook' as const;
const REVOKING_EVENTS = new Set(['session.revoked', 'session.ended', 'session.removed']);
/** A member removed or given another role, or the organization deleted: older tokens naming it are stale. */
const MEMBERSHIP_EVENTS = new Set(['organizationMembership.deleted', 'organizationMembership.updated', 'organization.deleted']);

/** A verified Clerk event, as the webhook route received it. */
export interface ClerkEvent {
  type: string;
  data: Record<string, unknown>;
  /** Svix's id for this delivery (covered by the signature). */
  svixId: string;
}

/** Where the delivery came from, for the audit record. */
export interface DeliveryMeta {
  requestId: string | null;
  ip: string | null;
  userAgent: string | null;
}

/** A verified delivery whose data we cannot act on: the caller answers 400 and rolls back. */
export class UnusablePayload extends Error {}

/** What an applied event changes in this process once its transaction has committed. */
export interface Effects {
  outcome: 'applied' | 'ignored';
  revoke?: string;
  block?: string;
  org?: { org: string; user: string; at: number };
  /** A user whose profile changed (their cached email is stale). */
  userUpdated?: string;
}

/** Anything that keeps per-user data that a `user.updated` event makes stale. */
export interface UserDataCache {
  forget(userId: string): void;
}

/**
 * The owner of access that ends before a token expires: revoked sessions, deleted users and
 * organization membership changes. It writes the tables the gate reads, puts each change on the
 * audit record, and announces it to every instance; the gate reads them back on every request.
 */
export class SessionRevocations {
  constructor(
    readonly gate: DatabaseSessionGate,
    private readonly userData: UserDataCache[] = [],
  ) {}

  /** Applies one event inside the caller's transaction (which also holds the delivery's de-duplication row). */
  async apply(tx: SqlClient, event: ClerkEvent, meta: DeliveryMeta): Promise<Effects> {
    const { type, data, svixId } = event;
    if (REVOKING_EVENTS.has(type)) {
      const sessionId = idOf(data.id, 'session');
      await tx.query(
        'INSERT INTO revoked_sessions (session_id, revoked_at, event_id) VALUES ($1, now(), $2) ON CONFLICT (session_id) DO NOTHING',
        [sessionId, svixId],
      );
      await announce(tx, { session: sessionId });
      const userId = typeof data.user_id === 'string' && data.user_id ? data.user_id : null;
      // Sign-outs and revocations are access events: on the record, in the user's stream.
      if (userId) {
        await audit(tx, meta, { userId, action: AuditAction.sessionRevoked, after: { event: type, sessionId, svixId } });
      }
      return { outcome: 'applied', revoke: sessionId };
    }
    if (type === 'user.deleted') {
      const userId = idOf(data.id, 'user');
      await tx.query(
        'INSERT INTO blocked_users (user_id, blocked_at, event_id) VALUES ($1, now(), $2) ON CONFLICT (user_id) DO NOTHING',
        [userId, svixId],
      );
      await announce(tx, { user: userId });
      // Their jobs and audit events stay: audit data is never deleted, only access ends.
      await audit(tx, meta, { userId, action: AuditAction.userDeleted, after: { event: type, userId, blocked: true, svixId } });
      return { outcome: 'applied', block: userId };
    }
    if (MEMBERSHIP_EVENTS.has(type)) {
      const org = type === 'organization.deleted' ? { id: idOf(data.id, 'organization'), user: '' } : membershipOf(data);
      const at = await dbNow(tx);
      await tx.query(
        `INSERT INTO org_membership_changes (org_id, user_id, changed_at, event_id) VALUES ($1, $2, $3, $4)
         ON CONFLICT (org_id, user_id) DO UPDATE SET changed_at = EXCLUDED.changed_at, event_id = EXCLUDED.event_id
         WHERE org_membership_changes.changed_at < EXCLUDED.changed_at`,
        [org.id, org.user, at, svixId],
      );
      const notice = { org: org.id, user: org.user, at: new Date(at).getTime() };
      await announce(tx, notice);
      const role = typeof data.role === 'string' ? data.role : null;
      const after = { event: type, orgId: org.id, ...(org.user ? { userId: org.user, role: type === 'organizationMembership.updated' ? role : null } : {}), svixId };
      await audit(tx, meta, { stream: org.user ? `user:${org.user}` : `org:${org.id}`, action: AuditAction.orgMembershipChanged, after });
      return { outcome: 'applied', org: notice };
    }
    if (type === 'user.updated') {
      // Not an access change: nothing to store or audit, but this instance's copy of the
      // user's profile (their email) is stale from now on.
      return { outcome: 'applied', userUpdated: idOf(data.id, 'user') };
    }
    return { outcome: 'ignored' };
  }

  /**
   * After commit only: a rolled-back delivery must not revoke anything, even locally. (The
   * notice reaches this instance too, a little later; marking twice is harmless.)
   */
  committed(effects: Effects): void {
    if (effects.revoke) this.gate.markRevoked(effects.revoke);
    if (effects.block) this.gate.markBlocked(effects.block);
    if (effects.org) this.gate.markOrgChanged(effects.org.org, effects.org.user, effects.org.at);
    const forget = effects.userUpdated ?? effects.block;
    if (forget) for (const c of this.userData) c.forget(forget);
  }
}

/** Tells every instance (delivered when the transaction commits, never if it rolls back). */
async function announce(tx: SqlClient, notice: RevocationNotice): Promise<void> {
  await tx.query('SELECT pg_notify($1, $2)', [REVOCATION_CHANNEL, JSON.stringify(notice)]);
}

/** An organization membership's organization id and user id (Clerk: data.organization.id, data.public_user_data.user_id). */
function membershipOf(data: Record<string, unknown>): { id: string; user: string } {
  const org = data.organization && typeof data.organization === 'object' ? (data.organization as Record<string, unknown>) : {};
  const user = data.public_user_data && typeof data.public_user_data === 'object' ? (data.public_user_data as Record<string, unknown>) : {};
  return { id: idOf(org.id, 'organization', 'data.organization.id'), user: idOf(user.user_id, 'member\'s user', 'data.public_user_data.user_id') };
}

function idOf(v: unknown, what: string, field = 'data.id'): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > 256) throw new UnusablePayload(`The event's ${field} (the ${what} id) is missing.`);
  return v;
}

async function audit(
  tx: SqlClient,
  meta: DeliveryMeta,
  e: { userId?: string; stream?: string; action: string; after: Record<string, unknown> },
): Promise<void> {
  const now = await dbNow(tx);
  const actor = systemActor(WEBHOOK_ACTOR_ID, { requestId: meta.requestId, ip: meta.ip, userAgent: meta.userAgent?.slice(0, 512) });
  await appendEvent(tx, { stream: e.stream ?? `user:${e.userId}`, mode: 'shared', action: e.action, occurredAt: now, actor, after: e.after });
}
