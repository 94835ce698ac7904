import { VIEWER } from './helpers/authTokens';
import { startTestServer, type TestServer } from './helpers/server';

// How verified claims become Viewer fields and roles. Every token here is really signed; the
// claims under test are the only thing that differs between cases.

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s?.close();
});

async function viewerOf(token: string) {
  const res = await s.gql(VIEWER, {}, token);
  expect(res.status).toBe(200);
  expect(res.body.errors).toBeUndefined();
  return res.body.data.viewer;
}

describe('roles', () => {
  test('no role claim: USER only', async () => {
    expect((await viewerOf(await s.token('user_plain'))).roles).toEqual(['USER']);
  });

  test('metadata.role "admin" grants ADMIN', async () => {
    expect((await viewerOf(await s.token('user_admin', { role: 'admin' }))).roles).toEqual(['USER', 'ADMIN']);
  });

  test('metadata.role "auditor" grants AUDITOR', async () => {
    expect((await viewerOf(await s.token('user_auditor', { role: 'auditor' }))).roles).toEqual(['USER', 'AUDITOR']);
  });

  test('metadata.role as an array grants each role named', async () => {
    const t = await s.token('user_both', { claims: { metadata: { role: ['auditor', 'admin'] } } });
    expect((await viewerOf(t)).roles).toEqual(['USER', 'AUDITOR', 'ADMIN']);
  });

  test('an unknown metadata.role grants nothing extra', async () => {
    const t = await s.token('user_root', { claims: { metadata: { role: 'root' } } });
    expect((await viewerOf(t)).roles).toEqual(['USER']);
  });

  test('a role claim outside metadata is ignored', async () => {
    const t = await s.token('user_toplevel', { claims: { role: 'admin', roles: ['admin'] } });
    expect((await viewerOf(t)).roles).toEqual(['USER']);
  });

  test('v2 organization role o.rol "admin" grants ADMIN and sets orgId/orgRole', async () => {
    const v = await viewerOf(await s.token('user_org_admin', { orgId: 'org_1', orgRole: 'admin' }));
    expect(v).toMatchObject({ roles: ['USER', 'ADMIN'], orgId: 'org_1', orgRole: 'admin' });
  });

  test('v2 organization role o.rol "member" grants nothing extra', async () => {
    const v = await viewerOf(await s.token('user_org_member', { orgId: 'org_1', orgRole: 'member' }));
    expect(v).toMatchObject({ roles: ['USER'], orgId: 'org_1', orgRole: 'member' });
  });

  test('v1 org_role "org:admin" grants ADMIN', async () => {
    const t = await s.token('user_v1_admin', { claims: { v: undefined, fva: undefined, org_id: 'org_v1', org_role: 'org:admin', org_slug: 'acme' } });
    const v = await viewerOf(t);
    expect(v).toMatchObject({ roles: ['USER', 'ADMIN'], orgId: 'org_v1', orgRole: 'admin' });
  });

  test('v1 org_role "org:member" grants nothing extra', async () => {
    const t = await s.token('user_v1_member', { claims: { v: undefined, org_id: 'org_v1', org_role: 'org:member' } });
    expect((await viewerOf(t)).roles).toEqual(['USER']);
  });

  test('roles decide access: an auditor reads the audit trail, a plain user is FORBIDDEN', async () => {
    const q = 'query { auditEvents(first: 1) { edges { node { id } } } }';
    const auditor = await s.gql(q, {}, await s.token('user_auditor_2', { role: 'auditor' }));
    expect(auditor.status).toBe(200);
    expect(auditor.body.errors).toBeUndefined();
    const plain = await s.gql(q, {}, await s.token('user_plain_2'));
    expect(plain.status).toBe(403);
    expect(plain.body.errors![0].extensions.code).toBe('FORBIDDEN');
  });
});

describe('identity fields', () => {
  test('userId and sessionId come from sub and sid', async () => {
    const v = await viewerOf(await s.token('user_ids', { sessionId: 'sess_abc123' }));
    expect(v).toMatchObject({ userId: 'user_ids', sessionId: 'sess_abc123' });
  });

  test('email comes from the custom email claim', async () => {
    expect((await viewerOf(await s.token('user_mail', { email: 'mail@example.com' }))).email).toBe('mail@example.com');
  });

  test('email falls back to primary_email', async () => {
    const t = await s.token('user_primary', { claims: { primary_email: 'primary@example.com' } });
    expect((await viewerOf(t)).email).toBe('primary@example.com');
  });

  test('email is null when no claim carries it', async () => {
    expect((await viewerOf(await s.token('user_nomail'))).email).toBeNull();
  });

  test('an empty or non-string email claim gives null', async () => {
    expect((await viewerOf(await s.token('user_emptymail', { claims: { email: '' } }))).email).toBeNull();
    expect((await viewerOf(await s.token('user_objmail', { claims: { email: { x: 1 } } }))).email).toBeNull();
  });

  test('impersonation: act.sub becomes actorId, the session user stays userId', async () => {
    const t = await s.token('user_impersonated', { claims: { act: { sub: 'user_support_agent', iss: 'https://dashboard.clerk.com', sid: 'sess_x' } } });
    const v = await viewerOf(t);
    expect(v).toMatchObject({ userId: 'user_impersonated', actorId: 'user_support_agent' });
  });

  test('no act claim: actorId is null', async () => {
    expect((await viewerOf(await s.token('user_self'))).actorId).toBeNull();
  });
});
