import { generateSigningKey, signSessionToken, type SigningKey } from '../src/auth/devIssuer';
import { startTestServer, type TestServer } from './helpers/server';

// NODE_ENV=production hides the schema (no introspection, no suggestions, no Sandbox); a
// development server sharing the same database carries the rate-limit tests, so the low limit
// cannot starve the production tests.

const ISSUER = 'https://clerk.example.com';

let key: SigningKey;
let prod: TestServer;
let limited: TestServer;
beforeAll(async () => {
  key = generateSigningKey();
  prod = await startTestServer({ NODE_ENV: 'production', CLERK_JWT_KEY: key.publicPem, CLERK_ISSUER: ISSUER });
  limited = await startTestServer({ RATE_LIMIT_PER_MINUTE: '5' }, { db: prod.db });
});
afterAll(async () => {
  await limited?.close();
  await prod?.close();
});

const clerkToken = (userId: string) => signSessionToken(key, ISSUER, { userId });

async function expectHealthy(server: TestServer): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${server.port}/healthz`);
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ status: 'ok' });
}

describe('production mode', () => {
  test('runs with Clerk keys and verifies Clerk-signed tokens', async () => {
    expect(prod.config.production).toBe(true);
    expect(prod.auth.devKey).toBeNull();
    const res = await prod.gql('{ viewer { userId } }', {}, await clerkToken('user_prod'));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ data: { viewer: { userId: 'user_prod' } } });
  });

  test.each([
    ['__schema', '{ __schema { queryType { name } } }'],
    ['__type', '{ __type(name: "Job") { fields { name } } }'],
    ['a fragment', '{ viewer { userId } ...F } fragment F on Query { __type(name: "Job") { name } }'],
  ])('introspection through %s is refused', async (_label, query) => {
    const res = await prod.gql(query, {}, await clerkToken('user_prod'));
    expect(res.status).toBe(400);
    expect(res.body.data).toBeUndefined();
    expect(res.body.errors![0].extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(res.body.errors![0].message).toMatch(/introspection is not allowed/);
    await expectHealthy(prod);
  });

  test('a depth-20 __schema ofType chain is refused (introspection is off)', async () => {
    let inner = 'name';
    for (let i = 0; i < 17; i++) inner = `ofType { ${inner} }`;
    const res = await prod.gql(`{ __schema { types { fields { type { ${inner} } } } } }`, {}, await clerkToken('user_prod'));
    expect(res.status).toBe(400);
    expect(res.body.data).toBeUndefined();
    expect(res.body.errors!.map((e) => e.extensions.code)).toContain('GRAPHQL_VALIDATION_FAILED');
    await expectHealthy(prod);
  });

  test('__typename still works (clients such as Apollo Client add it everywhere)', async () => {
    const res = await prod.gql('{ __typename viewer { __typename } }', {}, await clerkToken('user_prod'));
    expect(res.body).toEqual({ data: { __typename: 'Query', viewer: { __typename: 'Viewer' } } });
  });

  test.each([
    ['root field', '{ viewr { userId } }', /Cannot query field "viewr" on type "Query"/],
    ['nested field', '{ viewer { userid } }', /Cannot query field "userid" on type "Viewer"/],
    ['argument', '{ jobs(frist: 2) { edges { cursor } } }', /Unknown argument "frist"/],
    ['enum value', '{ jobs(status: PENDIN) { edges { cursor } } }', /"PENDIN"/],
  ])('a misspelled %s gets no "Did you mean"', async (_label, query, message) => {
    const res = await prod.gql(query, {}, await clerkToken('user_prod'));
    expect(res.status).toBe(400);
    const text = res.body.errors!.map((e) => e.message).join('\n');
    expect(text).toMatch(message);
    expect(text).not.toMatch(/Did you mean/i);
    expect(JSON.stringify(res.body)).not.toMatch(/"viewer"|"userId"|"first"|"PENDING"/);
  });

  test('the landing page is not the Sandbox', async () => {
    const res = await fetch(prod.url, { headers: { accept: 'text/html' } });
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toMatch(/<html/i);
    expect(html).not.toContain('EmbeddedSandbox');
    expect(html).not.toContain('embeddableSandbox');
    expect(html).not.toMatch(/embeddable-sandbox[^"']*\.js/);
  });

  test('an unknown error is masked in production too', async () => {
    await prod.db.exec('ALTER TABLE jobs RENAME TO jobs_prod_x');
    let body = '';
    try {
      const res = await prod.gql('{ jobs { edges { cursor } } }', {}, await clerkToken('user_prod'), { 'x-request-id': 'req-prod-1' });
      expect(res.body.errors![0].extensions).toEqual({ code: 'INTERNAL_SERVER_ERROR', requestId: 'req-prod-1' });
      body = JSON.stringify(res.body);
    } finally {
      await prod.db.exec('ALTER TABLE jobs_prod_x RENAME TO jobs');
    }
    expect(body).not.toMatch(/jobs_prod_x|relation|does not exist|stack/i);
    await expectHealthy(prod);
  });
});

describe('rate limiting (RATE_LIMIT_PER_MINUTE=5)', () => {
  test('the 6th request in a minute is 429 RATE_LIMITED with Retry-After; other callers are unaffected', async () => {
    const alice = await limited.token('user_rate_alice');
    for (let i = 1; i <= 5; i++) {
      const ok = await limited.gql('{ viewer { userId } }', {}, alice);
      expect(ok.status).toBe(200);
      expect(ok.body.data.viewer.userId).toBe('user_rate_alice');
    }
    const sixth = await limited.gql('{ viewer { userId } }', {}, alice);
    expect(sixth.status).toBe(429);
    expect(sixth.body.data).toBeUndefined();
    expect(sixth.body.errors![0].extensions).toMatchObject({ code: 'RATE_LIMITED', requestId: expect.any(String) });
    const retryAfter = Number(sixth.headers.get('retry-after'));
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);

    // The limit is per caller: one user hitting it must not lock out another.
    const bob = await limited.gql('{ viewer { userId } }', {}, await limited.token('user_rate_bob'));
    expect(bob.status).toBe(200);
    await expectHealthy(limited);
  });

  test('a rate-limited mutation does not run', async () => {
    const carol = await limited.token('user_rate_carol');
    for (let i = 0; i < 5; i++) await limited.gql('{ viewer { userId } }', {}, carol);
    const res = await limited.gql('mutation { createJob(input: { title: "over", ursDocument: "URS-001 shall" }) { id } }', {}, carol);
    expect(res.status).toBe(429);
    const rows = await limited.db.query(`SELECT 1 FROM jobs WHERE owner_id = 'user_rate_carol'`);
    expect(rows.rowCount).toBe(0);
  });

  // Last in the file: it leaves 127.0.0.1 over its refused-token budget on this server.
  test('refused tokens count against the client address: past the limit, 429 before any verification', async () => {
    const forged = (await limited.token('user_rate_mallory')).replace(/\.[^.]+$/, '.AAAA');
    for (let i = 0; i < 5; i++) {
      const refused = await limited.gql('{ viewer { userId } }', {}, forged);
      expect(refused.status).toBe(401);
      expect(refused.body.errors![0].extensions.reason).toBe('token-invalid-signature');
    }
    const sixth = await limited.gql('{ viewer { userId } }', {}, forged);
    expect(sixth.status).toBe(429);
    expect(sixth.body.errors![0].extensions.code).toBe('RATE_LIMITED');
    expect(Number(sixth.headers.get('retry-after'))).toBeGreaterThan(0);
    await expectHealthy(limited);
  });
});
