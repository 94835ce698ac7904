import { verifyWebhook } from '@clerk/backend/webhooks';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { appendEvent } from '../audit/trail';
import { AuditAction, type AuditActor } from '../audit/event';
import { REVOCATION_CHANNEL, type DatabaseSessionGate, type RevocationNotice } from '../auth/sessionGate';
import type { Config } from '../config';
import type { Logger } from '../log';
import type { Database, SqlClient } from '../store/database';

export const WEBHOOK_ACTOR_ID = 'system:clerk-webhook';
const REVOKING_EVENTS = new Set(['session.revoked', 'session.ended', 'session.removed']);
/** A member removed or given another role, or the organization deleted: older tokens naming it are stale. */
const MEMBERSHIP_EVENTS = new Set(['organizationMembership.deleted', 'organizationMembership.updated', 'organization.deleted']);
const MAX_BODY = '1mb';

export interface WebhookDeps {
  config: Config;
  db: Database;
  gate: DatabaseSessionGate;
  log: Logger;
}

type Outcome = 'applied' | 'duplicate' | 'ignored';

/** A verified delivery whose data we cannot act on: 400, and the transaction rolls back. */
class UnusablePayload extends Error {}

/**
 * POST /webhooks/clerk: Clerk (through Svix) tells us about sessions that ended, users that were
 * deleted and organization memberships that changed, so tokens they still hold stop working (or
 * stop carrying a stale organization role) before they expire. The body must stay
 * raw: the signature covers the exact bytes, so this router sits before any JSON parser.
 */
export function clerkWebhooks(deps: WebhookDeps): Router {
  const { config, log } = deps;
  const secret = config.auth.webhookSigningSecret;
  const router = express.Router();
  router.post('/', (req, res, next) => {
    if (secret) return next();
    res.status(503).json({
      error: 'webhooks-not-configured',
      message: 'CLERK_WEBHOOK_SIGNING_SECRET is not set: this server cannot verify Clerk webhooks and ignores them.',
    });
  });
  router.post('/', express.raw({ type: '*/*', limit: MAX_BODY }), (req: Request, res: Response) => {
    handle(deps, secret!, req).then(
      (outcome) => res.status(200).json({ status: outcome }),
      (err: unknown) => {
        if (err instanceof VerificationFailed || err instanceof UnusablePayload) {
          log.warn('clerk webhook refused', { requestId: req.requestId, svixId: req.header('svix-id'), error: err.message });
          res.status(400).json({ error: 'webhook-invalid', message: err.message });
          return;
        }
        // Not the sender's fault: a non-2xx makes Svix retry later, which is what we want.
        log.error('clerk webhook failed', { requestId: req.requestId, svixId: req.header('svix-id'), error: (err as Error)?.message });
        res.status(500).json({ error: 'webhook-failed', message: 'The event could not be stored; it will be retried.' });
      },
    );
  });
  router.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const tooLarge = (err as { type?: string }).type === 'entity.too.large';
    res.status(tooLarge ? 413 : 400).json({ error: 'webhook-invalid', message: tooLarge ? `The body is larger than ${MAX_BODY}.` : 'The body could not be read.' });
  });
  return router;
}

class VerificationFailed extends Error {}

async function handle(deps: WebhookDeps, secret: string, req: Request): Promise<Outcome> {
  const body: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  const headers = new Headers();
  for (const name of ['svix-id', 'svix-timestamp', 'svix-signature', 'content-type']) {
    const v = req.header(name);
    if (v !== undefined) headers.set(name, v);
  }
  let event: { type: string; data: Record<string, unknown> };
  try {
    // verifyWebhook checks the HMAC over id.timestamp.body and the ±5 minute timestamp window.
    const request = new Request('http://webhook.invalid/webhooks/clerk', { method: 'POST', headers, body: new Uint8Array(body) });
    event = (await verifyWebhook(request, { signingSecret: secret })) as unknown as typeof event;
  } catch (err) {
    throw new VerificationFailed(`Signature verification failed: ${(err as Error)?.message ?? 'unknown error'}`);
  }
  // Covered by the signature, so it is Svix's id for this delivery and not the caller's choice.
  const svixId = req.header('svix-id')!.trim();
  const type = typeof event.type === 'string' ? event.type : '';
  const data = event.data && typeof event.data === 'object' ? event.data : {};

  const result = await deps.db.transaction(async (tx): Promise<{ outcome: Outcome; revoke?: string; block?: string; org?: { org: string; user: string; at: number } }> => {
    const fresh = await tx.query(
      'INSERT INTO webhook_events (svix_id, type, received_at) VALUES ($1, $2, now()) ON CONFLICT (svix_id) DO NOTHING RETURNING svix_id',
      [svixId, type],
    );
    if (fresh.rowCount === 0) return { outcome: 'duplicate' };
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
        await audit(tx, req, { userId, action: AuditAction.sessionRevoked, after: { event: type, sessionId, svixId } });
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
      await audit(tx, req, { userId, action: AuditAction.userDeleted, after: { event: type, userId, blocked: true, svixId } });
      return { outcome: 'applied', block: userId };
    }
    if (MEMBERSHIP_EVENTS.has(type)) {
      const org = type === 'organization.deleted' ? { id: idOf(data.id, 'organization'), user: '' } : membershipOf(data);
      const at = (await tx.query<{ at: Date }>("SELECT date_trunc('milliseconds', now()) AS at")).rows[0].at;
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
      await audit(tx, req, { stream: org.user ? `user:${org.user}` : `org:${org.id}`, action: AuditAction.orgMembershipChanged, after });
      return { outcome: 'applied', org: notice };
    }
    return { outcome: 'ignored' };
  });
  // After commit only: a rolled-back delivery must not revoke anything, even locally. (The
  // notice reaches this instance too, a little later; marking twice is harmless.)
  if (result.revoke) deps.gate.markRevoked(result.revoke);
  if (result.block) deps.gate.markBlocked(result.block);
  if (result.org) deps.gate.markOrgChanged(result.org.org, result.org.user, result.org.at);
  deps.log.info('clerk webhook', { requestId: req.requestId, svixId, type, outcome: result.outcome });
  return result.outcome;
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
  req: Request,
  e: { userId?: string; stream?: string; action: string; after: Record<string, unknown> },
): Promise<void> {
  const now = await tx.query<{ now: Date }>("SELECT date_trunc('milliseconds', now()) AS now");
  const actor: AuditActor = {
    actorId: WEBHOOK_ACTOR_ID,
    actorEmail: null,
    sessionId: null,
    tokenIssuedAt: null,
    impersonatorId: null,
    requestId: req.requestId ?? null,
    ip: req.socket.remoteAddress ?? null,
    userAgent: req.header('user-agent')?.slice(0, 512) ?? null,
  };
  await appendEvent(tx, { stream: e.stream ?? `user:${e.userId}`, mode: 'shared', action: e.action, occurredAt: now.rows[0].now, actor, after: e.after });
}
