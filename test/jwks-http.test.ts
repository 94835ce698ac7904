import { startClerkEmulator, type ClerkEmulator } from '../devtools/clerk-emulator/emulator';
import { startTestServer, type TestServer } from './helpers/server';

// JWKS mode end to end: a server configured with CLERK_SECRET_KEY and CLERK_API_URL pointing at
// the local Clerk emulator, exercised over HTTP as a frontend would.

const VIEWER = '{ viewer { userId sessionId } }';

async function clerkToken(emu: ClerkEmulator, userId: string): Promise<string> {
  return emu.mintToken(emu.createSession(userId).id);
}

describe('keys from the JWKS endpoint', () => {
  let emu: ClerkEmulator;
  let s: TestServer;
  beforeAll(async () => {
    emu = await startClerkEmulator();
    s = await startTestServer({ CLERK_SECRET_KEY: emu.secretKey, CLERK_API_URL: emu.url, CLERK_ISSUER: emu.issuer, CLERK_JWKS_MIN_REFRESH_MS: '0' });
  });
  afterAll(async () => {
    await s?.close();
    await emu?.close();
  });

  test('a Clerk session token verifies; after a key rotation a token with the new kid verifies without a restart', async () => {
    const before = await s.gql(VIEWER, {}, await clerkToken(emu, 'user_rot'));
    expect(before.body.data.viewer.userId).toBe('user_rot');
    const fetchesBefore = emu.requestCount('/v1/jwks');
    emu.rotateKey();
    const after = await s.gql(VIEWER, {}, await clerkToken(emu, 'user_rot'));
    expect(after.status).toBe(200);
    expect(after.body.data.viewer.userId).toBe('user_rot');
    expect(emu.requestCount('/v1/jwks')).toBe(fetchesBefore + 1);
  });

  test('a token from before a switch of auth modes is refused with a hint to mint a fresh one', async () => {
    // A development-issuer token (what `npm run token` printed before CLERK_SECRET_KEY was set).
    const dev = await startTestServer();
    try {
      const old = await dev.token('user_switch');
      const res = await s.gql(VIEWER, {}, old);
      expect(res.status).toBe(401);
      expect(res.body.errors![0].extensions.reason).toBe('jwk-kid-mismatch');
      expect(res.body.errors![0].message).toMatch(/mint a fresh token \(npm run token/);
      // And the other way: a Clerk token at a server on the development issuer.
      const back = await dev.gql(VIEWER, {}, await clerkToken(emu, 'user_switch'));
      expect(back.status).toBe(401);
      expect(back.body.errors![0].message).toMatch(/mint a fresh one \(npm run token/);
    } finally {
      await dev.close();
    }
  });

  test('during a JWKS outage, cached keys keep working', async () => {
    const token = await clerkToken(emu, 'user_outage');
    emu.setJwksFailure('500');
    try {
      const res = await s.gql(VIEWER, {}, token);
      expect(res.status).toBe(200);
      expect(res.body.data.viewer.userId).toBe('user_outage');
    } finally {
      emu.setJwksFailure('none');
    }
  });
});

describe('a key rotation with the default refresh budget (CLERK_JWKS_MIN_REFRESH_MS 30 s)', () => {
  let emu: ClerkEmulator;
  let s: TestServer;
  beforeAll(async () => {
    emu = await startClerkEmulator();
    s = await startTestServer({ CLERK_SECRET_KEY: emu.secretKey, CLERK_API_URL: emu.url, CLERK_ISSUER: emu.issuer });
  });
  afterAll(async () => {
    await s?.close();
    await emu?.close();
  });

  test('a key rotated one second after a fetch: the new key\'s token verifies on its first request', async () => {
    const first = await s.gql(VIEWER, {}, await clerkToken(emu, 'user_before'));
    expect(first.body.data.viewer.userId).toBe('user_before');
    const fetched = emu.requestCount('/v1/jwks');
    await new Promise((r) => setTimeout(r, 1000));
    emu.rotateKey();
    const res = await s.gql(VIEWER, {}, await clerkToken(emu, 'user_after'));
    expect(res.status).toBe(200);
    expect(res.body.data.viewer.userId).toBe('user_after');
    expect(emu.requestCount('/v1/jwks')).toBe(fetched + 1);
  });
});

describe('a JWKS outage with no key cached', () => {
  let emu: ClerkEmulator;
  let s: TestServer;
  beforeAll(async () => {
    emu = await startClerkEmulator();
    s = await startTestServer({ CLERK_SECRET_KEY: emu.secretKey, CLERK_API_URL: emu.url, CLERK_ISSUER: emu.issuer });
  });
  afterAll(async () => {
    await s?.close();
    await emu?.close();
  });

  test('is a 503 SERVICE_UNAVAILABLE with Retry-After, not a 401 or a 500; it recovers when the endpoint does', async () => {
    const token = await clerkToken(emu, 'user_cold');
    emu.setJwksFailure('500');
    const res = await s.gql(VIEWER, {}, token);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBeTruthy();
    expect(res.body.errors![0].extensions).toMatchObject({ code: 'SERVICE_UNAVAILABLE', reason: 'jwks-unavailable' });
    expect(JSON.stringify(res.body)).not.toContain(token);
    emu.setJwksFailure('none');
    let recovered = false;
    for (let attempt = 0; attempt < 50 && !recovered; attempt++) {
      const again = await s.gql(VIEWER, {}, token);
      recovered = again.status === 200 && again.body.data?.viewer.userId === 'user_cold';
      if (!recovered) await new Promise((r) => setTimeout(r, 100));
    }
    expect(recovered).toBe(true);
  });

  test('1,000 requests with invented kids cost at most a handful of JWKS fetches', async () => {
    const real = await clerkToken(emu, 'user_kid');
    const [h, p, sig] = real.split('.');
    const header = JSON.parse(Buffer.from(h, 'base64url').toString());
    const before = emu.requestCount('/v1/jwks');
    const statuses = new Set<number>();
    for (let batch = 0; batch < 10; batch++) {
      const results = await Promise.all(
        Array.from({ length: 100 }, (_, i) => {
          const forged = Buffer.from(JSON.stringify({ ...header, kid: `ins_forged_${batch}_${i}` })).toString('base64url');
          return s.gql(VIEWER, {}, `${forged}.${p}.${sig}`);
        }),
      );
      results.forEach((r) => statuses.add(r.status));
    }
    expect([...statuses].every((st) => st === 401 || st === 429)).toBe(true);
    expect(emu.requestCount('/v1/jwks') - before).toBeLessThanOrEqual(3);
  });
});
