process.env.CLERK_TELEMETRY_DISABLED = '1';

import { createClerkClient, verifyToken } from '@clerk/backend';
import { startClerkEmulator, TEMPLATE_TOKEN_CATEGORY, type ClerkEmulator } from '../devtools/clerk-emulator/emulator';

let emu: ClerkEmulator;

beforeAll(async () => {
  emu = await startClerkEmulator({
    authorizedParty: 'http://localhost:3000',
    templates: [{ name: 'short', claims: { role: '{{org.role}}', greeting: 'hi {{user.id}}' }, lifetime: 120 }],
  });
});
afterAll(() => emu.close());

async function call(method: string, path: string, body?: unknown, key: string | null = emu.secretKey) {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (key !== null) headers.Authorization = `Bearer ${key}`;
  const res = await fetch(emu.url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, contentType: res.headers.get('content-type'), body: (await res.json()) as any };
}

const part = (jwt: string, i: number) => JSON.parse(Buffer.from(jwt.split('.')[i], 'base64url').toString('utf8'));
const decode = (jwt: string): { header: Record<string, unknown>; payload: Record<string, unknown> } => ({
  header: part(jwt, 0),
  payload: part(jwt, 1),
});

function expectClerkError(body: any, code: string) {
  expect(body).toEqual({
    errors: [expect.objectContaining({ code, message: expect.any(String), long_message: expect.any(String) })],
    clerk_trace_id: expect.stringMatching(/^[0-9a-f]{32}$/),
  });
}

describe('secret key check', () => {
  it.each([
    ['GET', '/v1/jwks'],
    ['GET', '/v1/jwt_templates'],
    ['POST', '/v1/sessions'],
    ['POST', '/v1/sessions/sess_x/tokens'],
    ['POST', '/v1/sessions/sess_x/revoke'],
    ['POST', '/m2m_tokens'],
    ['POST', '/m2m_tokens/verify'],
  ])('%s %s refuses a missing or wrong key with 401', async (method, path) => {
    const body = method === 'GET' ? undefined : {};
    const none = await call(method, path, body, null);
    expect(none.status).toBe(401);
    expectClerkError(none.body, 'authentication_invalid');
    const wrong = await call(method, path, body, 'sk_test_wrong');
    expect(wrong.status).toBe(401);
  });
});

describe('endpoints', () => {
  it('GET /v1/jwks has Clerk\'s shape and an exact JSON content type', async () => {
    const res = await call('GET', '/v1/jwks');
    expect(res.status).toBe(200);
    // @clerk/backend only parses JSON when the header is exactly this.
    expect(res.contentType).toBe('application/json');
    expect(res.body).toEqual({
      keys: [{ use: 'sig', kty: 'RSA', kid: emu.currentKey.kid, alg: 'RS256', n: expect.any(String), e: 'AQAB' }],
    });
  });

  it('POST /v1/sessions creates a session and insists on user_id', async () => {
    const res = await call('POST', '/v1/sessions', { user_id: 'user_42' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ object: 'session', user_id: 'user_42', status: 'active', actor: null });
    expect(res.body.id).toMatch(/^sess_\w{27}$/);
    expect(res.body.client_id).toMatch(/^client_/);
    for (const f of ['last_active_at', 'expire_at', 'abandon_at', 'created_at', 'updated_at']) expect(typeof res.body[f]).toBe('number');
    expect(res.body.expire_at).toBeGreaterThan(res.body.created_at);

    const missing = await call('POST', '/v1/sessions', {});
    expect(missing.status).toBe(422);
    expectClerkError(missing.body, 'form_param_missing');
    const badJson = await fetch(`${emu.url}/v1/sessions`, { method: 'POST', headers: { Authorization: `Bearer ${emu.secretKey}` }, body: '{' });
    expect(badJson.status).toBe(400);
  });

  it('POST /v1/sessions/{sid}/tokens mints a v2 session token that verifies with the current key', async () => {
    const { body: session } = await call('POST', '/v1/sessions', { user_id: 'user_7' });
    const res = await call('POST', `/v1/sessions/${session.id}/tokens`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ object: 'token', jwt: expect.any(String) });
    const { header, payload } = decode(res.body.jwt);
    expect(header).toMatchObject({ alg: 'RS256', kid: emu.currentKey.kid, cat: 'cl_B7d4PD111AAA' });
    expect(payload).toMatchObject({ sub: 'user_7', sid: session.id, iss: emu.issuer, azp: 'http://localhost:3000', v: 2, sts: 'active' });
    expect((payload.exp as number) - (payload.iat as number)).toBe(60);
    const verified = await verifyToken(res.body.jwt, { jwtKey: emu.currentKey.publicPem, issuer: emu.issuer });
    expect(verified.sub).toBe('user_7');

    const unknown = await call('POST', '/v1/sessions/sess_nope/tokens');
    expect(unknown.status).toBe(404);
    expectClerkError(unknown.body, 'resource_not_found');
  });

  it('POST /v1/sessions/{sid}/tokens/{template} mints a template token', async () => {
    const session = emu.createSession('user_t', { email: 't@example.com', orgId: 'org_1', orgRole: 'admin' });
    const res = await call('POST', `/v1/sessions/${session.id}/tokens/integration`, { expires_in_seconds: 300 });
    expect(res.status).toBe(200);
    const { header, payload } = decode(res.body.jwt);
    expect(header.cat).toBe(TEMPLATE_TOKEN_CATEGORY);
    expect(payload).toMatchObject({ sub: 'user_t', iss: emu.issuer, aud: 'jobledger-integration', email: 't@example.com', session: session.id });
    expect(payload).not.toHaveProperty('sid');
    expect(payload).not.toHaveProperty('v');
    expect((payload.exp as number) - (payload.iat as number)).toBe(300);

    const custom = decode((await call('POST', `/v1/sessions/${session.id}/tokens/short`)).body.jwt).payload;
    expect(custom).toMatchObject({ role: 'admin', greeting: 'hi user_t' });
    expect((custom.exp as number) - (custom.iat as number)).toBe(120);

    const unknown = await call('POST', `/v1/sessions/${session.id}/tokens/nope`);
    expect(unknown.status).toBe(404);
    expectClerkError(unknown.body, 'resource_not_found');
  });

  it('GET /v1/jwt_templates lists templates, paginated or as a bare array', async () => {
    const bare = await call('GET', '/v1/jwt_templates');
    expect(Array.isArray(bare.body)).toBe(true);
    expect(bare.body.map((t: any) => t.name)).toEqual(['integration', 'short']);
    expect(bare.body[0]).toMatchObject({ object: 'jwt_template', id: expect.stringMatching(/^jtmp_/), lifetime: 60, signing_algorithm: 'RS256' });

    const page = await call('GET', '/v1/jwt_templates?paginated=true&limit=1&offset=1');
    expect(page.body).toEqual({ data: [expect.objectContaining({ name: 'short' })], total_count: 2 });
  });

  it('POST /v1/sessions/{sid}/revoke revokes, after which no token is minted', async () => {
    const session = emu.createSession('user_r');
    const res = await call('POST', `/v1/sessions/${session.id}/revoke`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ object: 'session', id: session.id, status: 'revoked' });
    const after = await call('POST', `/v1/sessions/${session.id}/tokens`);
    expect(after.status).toBeGreaterThanOrEqual(400);
    expect(after.status).toBeLessThan(500);
    expectClerkError(after.body, 'session_not_active');
  });

  it('rotates keys: the old key stays in the JWKS until dropped, new tokens use the new kid', async () => {
    const emu2 = await startClerkEmulator();
    try {
      const old = emu2.currentKey;
      const next = emu2.rotateKey();
      expect(next.kid).not.toBe(old.kid);
      const jwks = (await fetch(`${emu2.url}/v1/jwks`, { headers: { Authorization: `Bearer ${emu2.secretKey}` } }).then((r) => r.json())) as any;
      expect(jwks.keys.map((k: any) => k.kid)).toEqual([old.kid, next.kid]);
      const token = await emu2.mintToken(emu2.createSession('user_k').id);
      expect(decode(token).header.kid).toBe(next.kid);
      expect(emu2.dropKey(old.kid)).toBe(true);
      expect(emu2.keys().map((k) => k.kid)).toEqual([next.kid]);
      expect(emu2.dropKey(next.kid)).toBe(false); // never leaves the JWKS empty
    } finally {
      await emu2.close();
    }
  });

  it('counts requests per path and fails JWKS requests on demand', async () => {
    const before = emu.requestCount('/v1/jwks');
    emu.setJwksFailure('500');
    const failed = await call('GET', '/v1/jwks');
    emu.setJwksFailure('none');
    expect(failed.status).toBe(500);
    expectClerkError(failed.body, 'internal_clerk_error');
    expect((await call('GET', '/v1/jwks')).status).toBe(200);
    expect(emu.requestCount('/v1/jwks')).toBe(before + 2);
    expect(emu.requestCount()).toBeGreaterThan(emu.requestCount('/v1/jwks'));
  });
});

describe('through @clerk/backend', () => {
  it('createClerkClient reads sessions, tokens, templates and the JWKS', async () => {
    const client = createClerkClient({ secretKey: emu.secretKey, apiUrl: emu.url });
    const session = await client.sessions.createSession({ userId: 'user_sdk' });
    expect(session.userId).toBe('user_sdk');
    expect(session.status).toBe('active');
    const token = await client.sessions.getToken(session.id);
    expect(decode(token.jwt).payload.sid).toBe(session.id);
    const templated = await client.sessions.getToken(session.id, 'integration', 60);
    expect(decode(templated.jwt).header.cat).toBe(TEMPLATE_TOKEN_CATEGORY);
    const list = await client.jwtTemplates.list({ limit: 10 });
    expect(list.totalCount).toBe(2);
    expect(list.data[0].name).toBe('integration');
    const jwks = await client.jwks.getJwks();
    expect(jwks.keys?.[0]?.kid).toBe(emu.currentKey.kid);
    const revoked = await client.sessions.revokeSession(session.id);
    expect(revoked.status).toBe('revoked');
    await expect(client.sessions.getToken(session.id)).rejects.toMatchObject({ status: 400 });
  });

  it('creates and verifies M2M tokens with m2m.verify and authenticateRequest', async () => {
    const machine = emu.createMachine({ scopes: ['mch_other'] });
    const client = createClerkClient({ secretKey: emu.secretKey, publishableKey: emu.publishableKey, apiUrl: emu.url });
    const created = await client.m2m.createToken({ machineSecretKey: machine.secretKey, secondsUntilExpiration: 600, claims: { job: 'nightly' } });
    expect(created.token).toMatch(/^mt_/);
    expect(created.subject).toBe(machine.id);
    // A machine secret key only opens the M2M endpoints.
    expect((await call('GET', '/v1/jwks', undefined, machine.secretKey)).status).toBe(401);

    const verified = await client.m2m.verify({ token: created.token! });
    expect(verified).toMatchObject({ id: created.id, subject: machine.id, scopes: ['mch_other'], claims: { job: 'nightly' }, revoked: false, expired: false });
    expect(verified.token).toBeUndefined();

    const authed = async (token: string) => {
      const req = new Request('http://api.local/graphql', { headers: { Authorization: `Bearer ${token}` } });
      return client.authenticateRequest(req, { acceptsToken: 'm2m_token' });
    };
    const ok = await authed(created.token!);
    expect(ok.isAuthenticated).toBe(true);
    expect(ok.toAuth()).toMatchObject({ tokenType: 'm2m_token', subject: machine.id });

    await client.m2m.revokeToken({ m2mTokenId: created.id, revocationReason: 'test' });
    await expect(client.m2m.verify({ token: created.token! })).rejects.toMatchObject({ status: 404 });
    const refused = await authed(created.token!);
    expect(refused.isAuthenticated).toBe(false);
    expect((await authed('mt_unknown')).isAuthenticated).toBe(false);
  });

  it('POST /m2m_tokens with the instance key needs machine_id', async () => {
    const missing = await call('POST', '/m2m_tokens', {});
    expect(missing.status).toBe(422);
    const made = await call('POST', '/m2m_tokens', { machine_id: 'mch_direct' });
    expect(made.body).toMatchObject({ object: 'machine_to_machine_token', subject: 'mch_direct', expiration: null });
    const verify = await call('POST', '/m2m_tokens/verify', { token: made.body.token });
    expect(verify.body.subject).toBe('mch_direct');
  });
});
