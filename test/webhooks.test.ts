import { randomBytes, randomUUID } from 'node:crypto';
import { DatabaseSessionGate, REVOCATION_CHANNEL } from '../src/sessions/gate';
import type { Principal } from '../src/auth/principal';
import { startTestServer, type TestServer } from './helpers/server';
import { deliverWebhook, svixSignature, type Delivery } from './helpers/webhooks';

const SECRET = `whsec_${randomBytes(24).toString('base64')}`;
let s: TestServer;
let hook: string;

beforeAll(async () => {
  s = await startTestServer({ CLERK_WEBHOOK_SIGNING_SECRET: SECRET });
  hook = s.url.replace(/\/graphql$/, '/webhooks/clerk');
});
afterAll(() => s?.close());

const sign = (id: string, timestamp: number, body: string, secret = SECRET) => svixSignature(secret, id, timestamp, body);
const deliver = (event: { type: string; data: Record<string, unknown> } | null, d: Delivery = {}) => deliverWebhook(hook, SECRET, event, d);

const VIEWER = 'query { viewer { userId sessionId } }';
async function reasonOf(token: string) {
  const res = await s.gql(VIEWER, {}, token);
  return { status: res.status, reason: res.body.errors?.[0]?.extensions?.reason as string | undefined, data: res.body.data };
}
const count = async (sql: string, params: unknown[]) => Number((await s.db.query<{ n: string }>(sql, params)).rows[0].n);
const stored = (svixId: string) => count('SELECT count(*) AS n FROM webhook_events WHERE svix_id = $1', [svixId]);

describe.each(['session.revoked', 'session.ended', 'session.removed'])('%s', (type) => {
  it('turns the session\'s still-valid token away right after the webhook', async () => {
    const user = `user_${randomBytes(4).toString('hex')}`;
    const sid = `sess_${randomBytes(8).toString('hex')}`;
    const token = await s.token(user, { sessionId: sid });
    const other = await s.token(user, { sessionId: `${sid}_other` });
    expect((await reasonOf(token)).status).toBe(200); // now cached as active in the gate

    const res = await deliver({ type, data: { object: 'session', id: sid, user_id: user, status: 'revoked' } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'applied' });

    expect(await reasonOf(token)).toMatchObject({ status: 401, reason: 'session-revoked' });
    expect((await reasonOf(other)).status).toBe(200); // only that session ends
    expect(await count('SELECT count(*) AS n FROM revoked_sessions WHERE session_id = $1 AND event_id = $2', [sid, res.id])).toBe(1);
    const audit = await s.db.query('SELECT action, actor_id, after FROM audit_events WHERE stream = $1', [`user:${user}`]);
    expect(audit.rows).toEqual([{ action: 'session.revoked', actor_id: 'system:clerk-webhook', after: { event: type, sessionId: sid, svixId: res.id } }]);
  });
});

describe('user.deleted', () => {
  const user = 'user_deleted_1';
  let jobId: string;
  let delivery: Awaited<ReturnType<typeof deliver>>;

  beforeAll(async () => {
    const created = await s.gql('mutation { createJob(input: { title: "T", ursDocument: "URS-001 The system shall log." }) { id } }', {}, await s.token(user));
    jobId = created.body.data.createJob.id;
    delivery = await deliver({ type: 'user.deleted', data: { object: 'user', id: user, deleted: true } });
  });

  it('blocks every token of the user', async () => {
    expect(delivery.status).toBe(200);
    expect(await reasonOf(await s.token(user, { sessionId: 'sess_any_new' }))).toMatchObject({ status: 401, reason: 'user-blocked' });
    expect((await reasonOf(await s.token('user_unrelated'))).status).toBe(200);
  });

  it('is audited by the webhook actor, and the user\'s jobs and audit events stay', async () => {
    const auditor = await s.token('user_qa', { role: 'auditor' });
    const res = await s.gql(
      'query($a: ID) { auditEvents(actorId: $a) { edges { node { action actorId after } } } }',
      { a: 'system:clerk-webhook' },
      auditor,
    );
    const deleted = res.body.data.auditEvents.edges.map((e: any) => e.node).filter((n: any) => n.action === 'user.deleted');
    expect(deleted).toEqual([{ action: 'user.deleted', actorId: 'system:clerk-webhook', after: { event: 'user.deleted', userId: user, blocked: true, svixId: delivery.id } }]);
    const job = await s.gql('query($id: ID!) { job(id: $id) { ownerId auditTrail { action actorId } } }', { id: jobId }, auditor);
    expect(job.body.data.job).toEqual({ ownerId: user, auditTrail: [{ action: 'job.created', actorId: user }] });
  });

  it('a replayed delivery (same svix-id) is acknowledged and has no second effect', async () => {
    const again = await deliver({ type: 'user.deleted', data: { object: 'user', id: user, deleted: true } }, { id: delivery.id });
    expect(again).toMatchObject({ status: 200, body: { status: 'duplicate' } });
    expect(await count("SELECT count(*) AS n FROM audit_events WHERE action = 'user.deleted' AND stream = $1", [`user:${user}`])).toBe(1);
    expect(await stored(delivery.id)).toBe(1);
  });
});

describe('refused deliveries store nothing', () => {
  const revoke = (sid: string) => ({ type: 'session.revoked', data: { object: 'session', id: sid, user_id: 'user_x' } });
  const nothingFor = async (svixId: string, sid: string) => {
    expect(await stored(svixId)).toBe(0);
    expect(await count('SELECT count(*) AS n FROM revoked_sessions WHERE session_id = $1', [sid])).toBe(0);
  };

  it.each<[string, (id: string, ts: number, body: string) => Delivery]>([
    ['signed with another secret', (id, ts, body) => ({ signature: sign(id, ts, body, `whsec_${randomBytes(24).toString('base64')}`) })],
    ['a body changed after signing', (id, ts, body) => ({ signature: sign(id, ts, body), body: body.replace('sess_', 'sess_X') })],
    ['a signature for another svix-id', (_id, ts, body) => ({ signature: sign('msg_other', ts, body) })],
    ['no signature header', () => ({ signature: null })],
    ['a garbage signature', () => ({ signature: 'v1,AAAA' })],
    ['a timestamp 10 minutes old', (id, _ts, body) => {
      const old = Math.floor(Date.now() / 1000) - 600;
      return { timestamp: old, signature: sign(id, old, body) };
    }],
    ['a timestamp 10 minutes ahead', (id, _ts, body) => {
      const ahead = Math.floor(Date.now() / 1000) + 600;
      return { timestamp: ahead, signature: sign(id, ahead, body) };
    }],
  ])('400 for %s', async (_name, tamper) => {
    const sid = `sess_${randomBytes(8).toString('hex')}`;
    const id = `msg_${randomUUID()}`;
    const ts = Math.floor(Date.now() / 1000);
    const body = JSON.stringify({ ...revoke(sid), object: 'event' });
    const res = await deliver(null, { id, timestamp: ts, body, ...tamper(id, ts, body) });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('webhook-invalid');
    await nothingFor(id, sid);
  });

  it('400 and a rollback for a verified event without a session id', async () => {
    const res = await deliver({ type: 'session.revoked', data: { object: 'session' } });
    expect(res.status).toBe(400);
    expect(await stored(res.id)).toBe(0);
  });

  it('413 for a body over 1 MB', async () => {
    const res = await fetch(hook, { method: 'POST', headers: { 'content-type': 'application/json' }, body: 'x'.repeat(1024 * 1024 + 10) });
    expect(res.status).toBe(413);
  });
});

describe('organization memberships', () => {
  const ROLES = 'query { viewer { userId orgId orgRole roles } }';
  const asOf = async (token: string) => {
    const res = await s.gql(ROLES, {}, token);
    return { status: res.status, reason: res.body.errors?.[0]?.extensions?.reason as string | undefined, viewer: res.body.data?.viewer };
  };
  /** A token issued after now (iat 2 s ahead: within the clock-skew leeway), as Clerk would mint next. */
  const later = (user: string, opts: Record<string, unknown>) => s.token(user, { ...opts, claims: { iat: Math.floor(Date.now() / 1000) + 2 } });
  const member = (org: string, user: string, extra: Record<string, unknown> = {}) => ({
    object: 'organization_membership', id: `orgmem_${randomBytes(4).toString('hex')}`, organization: { id: org, object: 'organization' },
    public_user_data: { user_id: user, identifier: `${user}@example.com` }, ...extra,
  });
  const org = () => `org_${randomBytes(4).toString('hex')}`;
  const user = () => `user_${randomBytes(4).toString('hex')}`;

  it('a removed admin\'s token naming the organization is refused at once; a token without it, or a newer one, is not', async () => {
    const [o, u, colleague] = [org(), user(), user()];
    const admin = await s.token(u, { orgId: o, orgRole: 'admin' });
    const plain = await s.token(u);
    const theirs = await s.token(colleague, { orgId: o, orgRole: 'member' });
    expect(await asOf(admin)).toMatchObject({ status: 200, viewer: { orgId: o, orgRole: 'admin', roles: ['USER', 'ADMIN'] } });

    const res = await deliver({ type: 'organizationMembership.deleted', data: member(o, u) });
    expect(res).toMatchObject({ status: 200, body: { status: 'applied' } });

    expect(await asOf(admin)).toMatchObject({ status: 401, reason: 'org-membership-changed' });
    expect(await asOf(plain)).toMatchObject({ status: 200, viewer: { orgId: null, roles: ['USER'] } });
    expect((await asOf(theirs)).status).toBe(200); // another member of the same organization
    expect((await asOf(await later(u, { orgId: o, orgRole: 'member' }))).status).toBe(200); // re-added later
    const audit = await s.db.query('SELECT action, actor_id, after FROM audit_events WHERE stream = $1', [`user:${u}`]);
    expect(audit.rows).toEqual([{ action: 'organization.membership.changed', actor_id: 'system:clerk-webhook', after: { event: 'organizationMembership.deleted', orgId: o, userId: u, role: null, svixId: res.id } }]);
  });

  it('a role change makes the old role\'s tokens stale, and the audit event records the new role', async () => {
    const [o, u] = [org(), user()];
    const admin = await s.token(u, { orgId: o, orgRole: 'admin' });
    const res = await deliver({ type: 'organizationMembership.updated', data: member(o, u, { role: 'org:member' }) });
    expect(res.status).toBe(200);
    expect(await asOf(admin)).toMatchObject({ status: 401, reason: 'org-membership-changed' });
    expect(await asOf(await later(u, { orgId: o, orgRole: 'member' }))).toMatchObject({ status: 200, viewer: { orgRole: 'member', roles: ['USER'] } });
    const audit = await s.db.query<{ after: Record<string, unknown> }>('SELECT after FROM audit_events WHERE stream = $1', [`user:${u}`]);
    expect(audit.rows.map((r) => r.after.role)).toEqual(['org:member']);
  });

  it('a deleted organization makes every member\'s older token naming it stale, and is audited in its own stream', async () => {
    const [o, a, b] = [org(), user(), user()];
    const tokens = [await s.token(a, { orgId: o, orgRole: 'admin' }), await s.token(b, { orgId: o, orgRole: 'member' })];
    const res = await deliver({ type: 'organization.deleted', data: { object: 'organization', id: o, deleted: true } });
    expect(res.status).toBe(200);
    for (const t of tokens) expect(await asOf(t)).toMatchObject({ status: 401, reason: 'org-membership-changed' });
    expect(await count('SELECT count(*) AS n FROM org_membership_changes WHERE org_id = $1 AND user_id = $2', [o, ''])).toBe(1);
    const audit = await s.db.query('SELECT action, after FROM audit_events WHERE stream = $1', [`org:${o}`]);
    expect(audit.rows).toEqual([{ action: 'organization.membership.changed', after: { event: 'organization.deleted', orgId: o, svixId: res.id } }]);
  });

  it('another instance following the notices refuses the stale token at once', async () => {
    const elsewhere = new DatabaseSessionGate(s.db, { activeTtlMs: 3_600_000 });
    const stop = await elsewhere.follow(s.db);
    try {
      const [o, u] = [org(), user()];
      const issuedAt = new Date(Math.floor(Date.now() / 1000) * 1000);
      const p: Principal = {
        kind: 'user', userId: u, sessionId: `sess_${u}`, email: null, orgId: o, orgRole: 'admin', orgPermissions: [],
        roles: ['USER', 'ADMIN'], impersonatorId: null, issuedAt, expiresAt: null,
      };
      await expect(elsewhere.assertActive(p)).resolves.toBeUndefined(); // now believed current for an hour
      expect((await deliver({ type: 'organizationMembership.deleted', data: member(o, u) })).status).toBe(200);
      let reason: string | null = null;
      for (let i = 0; i < 200 && !reason; i++) {
        reason = await elsewhere.assertActive(p).then(() => null, (e: { reason?: string }) => e.reason ?? 'error');
        if (!reason) await new Promise((done) => setTimeout(done, 10));
      }
      expect(reason).toBe('org-membership-changed');
    } finally {
      await stop();
    }
  });

  it.each([
    ['no organization', { type: 'organizationMembership.deleted', data: { object: 'organization_membership', public_user_data: { user_id: 'user_x' } } }, 'data.organization.id'],
    ['no member', { type: 'organizationMembership.updated', data: { object: 'organization_membership', organization: { id: 'org_x' } } }, 'data.public_user_data.user_id'],
    ['no organization id', { type: 'organization.deleted', data: { object: 'organization' } }, 'data.id'],
  ])('%s: 400 naming the missing field, nothing stored', async (_name, event, field) => {
    const res = await deliver(event);
    expect(res.status).toBe(400);
    expect(String(res.body.message)).toContain(field);
    expect(await stored(res.id)).toBe(0);
  });
});

it('acknowledges other event types without acting on them', async () => {
  const res = await deliver({ type: 'user.created', data: { object: 'user', id: 'user_new' } });
  expect(res).toMatchObject({ status: 200, body: { status: 'ignored' } });
  expect(await stored(res.id)).toBe(1);
  expect((await reasonOf(await s.token('user_new'))).status).toBe(200);
});

it('another instance that follows the revocation notices refuses the session at once, and the user once deleted', async () => {
  const elsewhere = new DatabaseSessionGate(s.db, { activeTtlMs: 3_600_000 }); // only a notice can change its mind
  const stop = await elsewhere.follow(s.db);
  try {
    const user = `user_${randomBytes(4).toString('hex')}`;
    const sid = `sess_${randomBytes(8).toString('hex')}`;
    const p: Principal = {
      kind: 'user', userId: user, sessionId: sid, email: null, orgId: null, orgRole: null, orgPermissions: [],
      roles: ['USER'], impersonatorId: null, issuedAt: null, expiresAt: null,
    };
    const other: Principal = { ...p, sessionId: `${sid}_other` };
    await expect(elsewhere.assertActive(p)).resolves.toBeUndefined();
    await expect(elsewhere.assertActive(other)).resolves.toBeUndefined();
    const refusal = async (q: Principal) => {
      for (let i = 0; i < 200; i++) {
        const r = await elsewhere.assertActive(q).then(() => null, (e: { reason?: string }) => e.reason ?? 'error');
        if (r) return r;
        await new Promise((done) => setTimeout(done, 10));
      }
      return null;
    };
    expect((await deliver({ type: 'session.revoked', data: { object: 'session', id: sid, user_id: user } })).status).toBe(200);
    expect(await refusal(p)).toBe('session-revoked');
    await expect(elsewhere.assertActive(other)).resolves.toBeUndefined(); // only that session
    expect((await deliver({ type: 'user.deleted', data: { object: 'user', id: user, deleted: true } })).status).toBe(200);
    expect(await refusal(other)).toBe('user-blocked');
  } finally {
    await stop();
  }
});

it('a malformed notice on the channel revokes nothing and is reported', async () => {
  const gate = new DatabaseSessionGate(s.db, { activeTtlMs: 3_600_000 });
  const bad: string[] = [];
  const stop = await gate.follow(s.db, (payload) => bad.push(payload));
  try {
    const p: Principal = {
      kind: 'user', userId: 'user_calm', sessionId: 'sess_calm', email: null, orgId: null, orgRole: null, orgPermissions: [],
      roles: ['USER'], impersonatorId: null, issuedAt: null, expiresAt: null,
    };
    for (const payload of ['not json', '{"session":""}', '{"user":42}', '{}']) await s.db.query('SELECT pg_notify($1, $2)', [REVOCATION_CHANNEL, payload]);
    for (let i = 0; i < 200 && bad.length < 4; i++) await new Promise((done) => setTimeout(done, 10));
    expect(bad).toEqual(['not json', '{"session":""}', '{"user":42}', '{}']);
    await expect(gate.assertActive(p)).resolves.toBeUndefined();
  } finally {
    await stop();
  }
});

it('without the notices (an instance whose LISTEN was down), a revocation is seen once the active-cache entry expires', async () => {
  let now = 1_000_000;
  const elsewhere = new DatabaseSessionGate(s.db, { activeTtlMs: 5000, now: () => now });
  const sid = `sess_${randomBytes(8).toString('hex')}`;
  const p: Principal = {
    kind: 'user', userId: 'user_multi', sessionId: sid, email: null, orgId: null, orgRole: null, orgPermissions: [],
    roles: ['USER'], impersonatorId: null, issuedAt: null, expiresAt: null,
  };
  await expect(elsewhere.assertActive(p)).resolves.toBeUndefined();
  expect((await deliver({ type: 'session.ended', data: { object: 'session', id: sid, user_id: 'user_multi' } })).status).toBe(200);
  now += 4999;
  await expect(elsewhere.assertActive(p)).resolves.toBeUndefined(); // still within its TTL
  now += 1;
  await expect(elsewhere.assertActive(p)).rejects.toMatchObject({ reason: 'session-revoked' });
});

describe('routing around the receiver', () => {
  const notFound = async (url: string, init?: RequestInit) => {
    const res = await fetch(url, init);
    const body = await res.json();
    return { status: res.status, code: body.errors?.[0]?.extensions?.code, message: body.errors?.[0]?.message as string, poweredBy: res.headers.get('x-powered-by') };
  };

  it('a signed delivery to the path with a trailing slash or a query string is still received', async () => {
    for (const url of [`${hook}/`, `${hook}?attempt=2`]) {
      const user = `user_${randomBytes(4).toString('hex')}`;
      const res = await deliverWebhook(url, SECRET, { type: 'user.deleted', data: { object: 'user', id: user, deleted: true } });
      expect(res).toMatchObject({ status: 200, body: { status: 'applied' } });
    }
  });

  it('GET on the receiver, a path below it and an unknown path answer 404 NOT_FOUND naming the path, nothing stored', async () => {
    const before = await count('SELECT count(*) AS n FROM webhook_events', []);
    expect(await notFound(hook)).toEqual({ status: 404, code: 'NOT_FOUND', message: 'No route GET /webhooks/clerk. The API is POST /graphql.', poweredBy: null });
    expect(await notFound(`${hook}/extra`, { method: 'POST', body: '{}' })).toMatchObject({ status: 404, code: 'NOT_FOUND', message: 'No route POST /webhooks/clerk/extra. The API is POST /graphql.' });
    expect(await notFound(s.url.replace(/\/graphql$/, '/nothing-here?x=1'))).toMatchObject({ status: 404, code: 'NOT_FOUND', message: 'No route GET /nothing-here. The API is POST /graphql.' });
    expect(await count('SELECT count(*) AS n FROM webhook_events', [])).toBe(before);
  });
});
