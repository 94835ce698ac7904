import { generateSigningKey } from '../src/auth/devIssuer';
import { PREFLIGHT_MAX_AGE_SECONDS } from '../src/transport/cors';
import { startTestServer, type TestServer } from './helpers/server';

// CORS as a browser sees it, over real HTTP: preflight, the actual request, and what a cache
// must key on.

const APP = 'http://127.0.0.1:5173';
const OTHER = 'https://evil.example';

let dev: TestServer;
let prod: TestServer;
beforeAll(async () => {
  dev = await startTestServer({ CORS_ORIGINS: APP, RATE_LIMIT_PER_MINUTE: '2' });
  // Production drops the Sandbox origins; the dev issuer is off, but CORS needs no token.
  prod = await startTestServer({ NODE_ENV: 'production', CLERK_JWT_KEY: generateSigningKey().publicPem, CLERK_ISSUER: 'https://clerk.example.com', CORS_ORIGINS: APP }, { db: dev.db });
});
afterAll(async () => {
  await prod?.close();
  await dev?.close();
});

const preflight = (s: TestServer, origin: string) =>
  fetch(s.url, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
  });

const post = (s: TestServer, origin: string | null, token?: string) =>
  fetch(s.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(origin ? { origin } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query: '{ viewer { userId } }' }),
  });

describe('CORS', () => {
  test('a preflight from a listed origin is allowed, cached, and names the headers the client sends', async () => {
    const res = await preflight(dev, APP);
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(APP);
    expect(res.headers.get('access-control-allow-methods')).toBe('GET,POST,OPTIONS');
    expect(res.headers.get('access-control-allow-headers')?.split(',')).toEqual(expect.arrayContaining(['authorization', 'content-type']));
    expect(res.headers.get('access-control-max-age')).toBe(String(PREFLIGHT_MAX_AGE_SECONDS));
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    expect(res.headers.get('vary')).toMatch(/\bOrigin\b/);
  });

  test('a preflight from an unlisted origin gets no permission, and still Vary: Origin', async () => {
    const res = await preflight(dev, OTHER);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect(res.headers.get('vary')).toMatch(/\bOrigin\b/);
  });

  test('the actual response exposes x-request-id and Retry-After to browser code', async () => {
    const res = await post(dev, APP, await dev.token('user_cors'));
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(APP);
    expect(res.headers.get('access-control-expose-headers')?.split(',')).toEqual(['x-request-id', 'Retry-After']);
    expect(res.headers.get('x-request-id')).toMatch(/\S/);
    expect(res.headers.get('vary')).toMatch(/\bOrigin\b/);
  });

  test('a 429 carries the CORS headers too, so the browser can read Retry-After', async () => {
    const token = await dev.token('user_cors_limited');
    let res = await post(dev, APP, token);
    for (let i = 0; i < 3 && res.status !== 429; i++) res = await post(dev, APP, token);
    expect(res.status).toBe(429);
    expect(res.headers.get('access-control-allow-origin')).toBe(APP);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(res.headers.get('access-control-expose-headers')).toContain('Retry-After');
  });

  test('requests without an Origin and from unlisted origins carry Vary: Origin and no permission', async () => {
    for (const origin of [null, OTHER]) {
      const res = await post(prod, origin);
      expect(res.headers.get('vary')).toMatch(/\bOrigin\b/);
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
    }
  });

  test('Apollo Sandbox is allowed in development only', async () => {
    const sandbox = 'https://sandbox.embed.apollographql.com';
    expect((await preflight(dev, sandbox)).headers.get('access-control-allow-origin')).toBe(sandbox);
    expect((await preflight(prod, sandbox)).headers.get('access-control-allow-origin')).toBeNull();
    expect((await preflight(prod, APP)).headers.get('access-control-allow-origin')).toBe(APP);
  });
});
