import { generateSigningKey } from '../src/auth/devIssuer';
import { loadConfig } from '../src/config';
import { devTokenRoute } from '../src/transport/devToken';
import { startTestServer, type TestServer } from './helpers/server';

// POST /dev/token: the example web client's development sign-in. It exists only while the
// development issuer is active on a loopback address.

let dev: TestServer;
let prod: TestServer;
beforeAll(async () => {
  dev = await startTestServer({ CORS_ORIGINS: 'http://127.0.0.1:5173' });
  prod = await startTestServer({ NODE_ENV: 'production', CLERK_JWT_KEY: generateSigningKey().publicPem, CLERK_ISSUER: 'https://clerk.example.com' }, { db: dev.db });
});
afterAll(async () => {
  await prod?.close();
  await dev?.close();
});

const mint = (s: TestServer, body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
  fetch(`http://127.0.0.1:${s.port}/dev/token`, { method: 'POST', headers, body: JSON.stringify(body) });

describe('POST /dev/token', () => {
  test('mints a development token that the server then verifies, with the asked role and lifetime', async () => {
    const res = await mint(dev, { userId: 'user_web', email: 'web@example.com', role: 'auditor', ttlSeconds: 20 });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const { token, expiresAt } = (await res.json()) as { token: string; expiresAt: string };
    const lifetime = Date.parse(expiresAt) - Date.now();
    expect(lifetime).toBeGreaterThan(10_000);
    expect(lifetime).toBeLessThanOrEqual(20_000);
    const viewer = await dev.gql('{ viewer { userId email roles } }', {}, token);
    expect(viewer.body).toEqual({ data: { viewer: { userId: 'user_web', email: 'web@example.com', roles: ['USER', 'AUDITOR'] } } });
  });

  test.each([
    ['no user id', {}],
    ['a user id with spaces', { userId: 'a b' }],
    ['an unknown role', { userId: 'u', role: 'root' }],
    ['a lifetime over an hour', { userId: 'u', ttlSeconds: 7200 }],
    ['a lifetime under 10 seconds', { userId: 'u', ttlSeconds: 1 }],
  ])('refuses %s with 400 and a message', async (_what, body) => {
    const res = await mint(dev, body);
    expect(res.status).toBe(400);
    const answer = (await res.json()) as { errors: { message: string; extensions: Record<string, unknown> }[] };
    expect(answer.errors).toHaveLength(1);
    expect(answer.errors[0].message).toMatch(/\w/);
    expect(answer.errors[0].extensions).toEqual({ code: 'BAD_REQUEST', requestId: res.headers.get('x-request-id') });
  });

  test('only JSON: a cross-site form post cannot mint a token', async () => {
    const res = await mint(dev, { userId: 'u' }, { 'content-type': 'text/plain' });
    expect(res.status).toBe(415);
    expect(((await res.json()) as { errors: { extensions: { code: string } }[] }).errors[0].extensions.code).toBe('BAD_REQUEST');
  });

  test('the allowed web origin may call it (CORS), others get no permission', async () => {
    const ok = await fetch(`http://127.0.0.1:${dev.port}/dev/token`, { method: 'OPTIONS', headers: { origin: 'http://127.0.0.1:5173', 'access-control-request-method': 'POST' } });
    expect(ok.headers.get('access-control-allow-origin')).toBe('http://127.0.0.1:5173');
    const other = await fetch(`http://127.0.0.1:${dev.port}/dev/token`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  test('does not exist in production (404)', async () => {
    expect(prod.auth.devKey).toBeNull();
    const res = await mint(prod, { userId: 'user_web' });
    expect(res.status).toBe(404);
  });

  test('does not exist when the server listens beyond loopback (404), nor with Clerk keys', async () => {
    const wide = await startTestServer({ HOST: '0.0.0.0' }, { db: dev.db });
    try {
      expect(wide.auth.devKey).not.toBeNull();
      const res = await mint(wide, { userId: 'user_web' });
      expect(res.status).toBe(404);
    } finally {
      await wide.close();
    }
    const withKeys = loadConfig({ NODE_ENV: 'development', CLERK_JWT_KEY: generateSigningKey().publicPem, CLERK_ISSUER: 'https://clerk.example.com' });
    expect(devTokenRoute(withKeys, { devKey: generateSigningKey() })).toBeNull();
    for (const host of ['127.0.0.1', '::1', 'localhost', '127.0.0.2']) {
      expect(devTokenRoute(loadConfig({ NODE_ENV: 'development', HOST: host }), { devKey: generateSigningKey() })).not.toBeNull();
    }
    for (const host of ['0.0.0.0', '::', '192.168.1.10', 'example.com']) {
      expect(devTokenRoute(loadConfig({ NODE_ENV: 'development', HOST: host }), { devKey: generateSigningKey() })).toBeNull();
    }
  });
});
