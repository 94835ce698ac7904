import { randomBytes } from 'node:crypto';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { addressKey } from '../src/transport/clientAddress';
import { createJob } from './helpers/jobQueries';
import { startTestServer, type TestServer } from './helpers/server';
import { closeAfterInit } from './helpers/wsClient';
import { deliverWebhook } from './helpers/webhooks';

// Two servers on one embedded database: `direct` as deployed without a proxy (TRUST_PROXY unset),
// `proxied` behind one on loopback (TRUST_PROXY=loopback; the tests are the proxy, and each test
// plays a client of its own by its X-Forwarded-For). Both: 5 requests a minute per caller, 3
// refused credentials a minute per client address.

const SECRET = `whsec_${randomBytes(24).toString('base64')}`;
const LIMITS = { RATE_LIMIT_PER_MINUTE: '5', RATE_LIMIT_AUTH_FAILURES_PER_MINUTE: '3', CLERK_WEBHOOK_SIGNING_SECRET: SECRET };
const ANONYMOUS = '{ __typename }';
const SUBSCRIBE = 'subscription($id: ID!) { jobUpdated(id: $id) { id status } }';

let direct: TestServer;
let proxied: TestServer;
beforeAll(async () => {
  direct = await startTestServer(LIMITS);
  proxied = await startTestServer({ ...LIMITS, TRUST_PROXY: 'loopback' }, { db: direct.db });
});
afterAll(async () => {
  await proxied?.close();
  await direct?.close();
});

const from = (address: string) => ({ 'x-forwarded-for': address });
const forged = async (s: TestServer) => (await s.token(`user_${randomBytes(4).toString('hex')}`)).replace(/\.[^.]+$/, '.AAAA');
const ipOf = async (s: TestServer, jobId: string) => (await s.db.query<{ ip: string }>(`SELECT ip FROM audit_events WHERE job_id = $1 AND action = 'job.created'`, [jobId])).rows[0].ip;
const hook = (s: TestServer) => s.url.replace(/\/graphql$/, '/webhooks/clerk');


/** Sends `n` anonymous requests from `headers` and returns their statuses. */
async function statuses(s: TestServer, n: number, headers: (i: number) => Record<string, string>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await s.gql(ANONYMOUS, {}, null, headers(i))).status);
  return out;
}

describe('TRUST_PROXY unset: X-Forwarded-For is not believed', () => {
  test('the audit event records the socket address, not a forged X-Forwarded-For', async () => {
    const jobId = await createJobFrom(direct, 'user_direct_audit', from('203.0.113.7'));
    expect(await ipOf(direct, jobId)).toMatch(/^(::ffff:)?127\.0\.0\.1$/);
  });

  test('the rate-limit key stays the socket address: a new X-Forwarded-For each time buys no new bucket', async () => {
    const got = await statuses(direct, 6, (i) => from(`198.51.100.${i + 1}`));
    expect(got.slice(0, 5)).not.toContain(429);
    expect(got[5]).toBe(429);
  });

  // Last on `direct`: it leaves 127.0.0.1 over its refused-credential budget there.
  test('refused tokens count against the socket address whatever X-Forwarded-For says', async () => {
    const token = await forged(direct);
    for (let i = 0; i < 3; i++) expect((await direct.gql(ANONYMOUS, {}, token, from(`198.51.100.${i + 20}`))).status).toBe(401);
    const fourth = await direct.gql(ANONYMOUS, {}, token, from('198.51.100.99'));
    expect(fourth.status).toBe(429);
    expect(fourth.body.errors![0].extensions.code).toBe('RATE_LIMITED');
  });
});

describe('TRUST_PROXY=loopback: the client is the address the trusted proxy saw', () => {
  test("the audit event's ip is the client's from X-Forwarded-For", async () => {
    const jobId = await createJobFrom(proxied, 'user_proxied_audit', from('203.0.113.7'));
    expect(await ipOf(proxied, jobId)).toBe('203.0.113.7');
  });

  test('a client-supplied hop in front of the real one is ignored: the rightmost untrusted address wins', async () => {
    const jobId = await createJobFrom(proxied, 'user_proxied_chain', from('10.9.9.9, 203.0.113.8'));
    expect(await ipOf(proxied, jobId)).toBe('203.0.113.8');
  });

  test("the rate-limit key is the client's: one client over its limit leaves another alone", async () => {
    const got = await statuses(proxied, 6, () => from('192.0.2.10'));
    expect(got.slice(0, 5)).not.toContain(429);
    expect(got[5]).toBe(429);
    const again = await proxied.gql(ANONYMOUS, {}, null, from('192.0.2.10'));
    expect(again.status).toBe(429);
    const retryAfter = Number(again.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(again.body.errors![0].extensions).toMatchObject({ code: 'RATE_LIMITED', requestId: expect.any(String) });
    expect((await proxied.gql(ANONYMOUS, {}, null, from('192.0.2.11'))).status).not.toBe(429);
  });

  test('IPv6: many addresses inside one /64 share one bucket; the next /64 has its own', async () => {
    const sprayed = (i: number) => from(`2001:db8:77:1:${(i * 7919).toString(16)}:${i}:beef:${(i + 1).toString(16)}`);
    const got = await statuses(proxied, 8, sprayed);
    expect(got.slice(0, 5)).not.toContain(429);
    expect(got.slice(5)).toEqual([429, 429, 429]);
    expect((await proxied.gql(ANONYMOUS, {}, null, from('2001:db8:77:2::1'))).status).not.toBe(429);
  });

  test('one refused-credential budget covers HTTP tokens, WebSocket connection_init and webhook signatures', async () => {
    const client = from('192.0.2.50');
    const token = await forged(proxied);
    expect((await proxied.gql(ANONYMOUS, {}, token, client)).status).toBe(401);
    expect(await closeAfterInit(proxied.port, client, token)).toEqual({ code: 4401, reason: 'Unauthorized: token-invalid-signature' });
    const badSignature = await deliverWebhook(hook(proxied), SECRET, { type: 'session.revoked', data: {} }, { signature: 'v1,AAAA', headers: client });
    expect(badSignature.status).toBe(400);

    // The budget (3) is spent: every route now answers 429 before checking anything.
    const http = await proxied.gql(ANONYMOUS, {}, token, client);
    expect(http.status).toBe(429);
    expect(http.body.errors![0].extensions.code).toBe('RATE_LIMITED');
    expect(Number(http.headers.get('retry-after'))).toBeGreaterThan(0);
    const ws = await closeAfterInit(proxied.port, client, token);
    expect(ws.code).toBe(4429);
    expect(ws.reason).toMatch(/^Too Many Requests: retry-after=\d+$/);
    const webhook = await deliverWebhook(hook(proxied), SECRET, { type: 'session.revoked', data: {} }, { signature: 'v1,AAAA', headers: client });
    expect(webhook.status).toBe(429);
    expect((webhook.body as any).errors[0].extensions.code).toBe('RATE_LIMITED');

    // Another client behind the same proxy still gets its own answer.
    expect((await proxied.gql(ANONYMOUS, {}, token, from('192.0.2.51'))).status).toBe(401);
  });

  test("WebSocket: the operation's audit event records the client from the upgrade request's X-Forwarded-For", async () => {
    const jobId = await createJob(proxied, await proxied.token('user_ws_owner'), 'not yours');
    const intruder = await proxied.token('user_ws_intruder');
    class BehindProxy extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols, { headers: from('203.0.113.99') });
      }
    }
    const client = createClient({ url: `ws://127.0.0.1:${proxied.port}/graphql`, webSocketImpl: BehindProxy, connectionParams: { authorization: `Bearer ${intruder}` }, retryAttempts: 0 });
    try {
      const received: unknown[] = [];
      await new Promise<void>((resolve) =>
        client.subscribe({ query: SUBSCRIBE, variables: { id: jobId } }, { next: (r) => void received.push(r), error: (e) => (received.push(e), resolve()), complete: resolve }),
      );
      expect(JSON.stringify(received)).toContain('FORBIDDEN');
    } finally {
      await client.dispose();
    }
    const denied = await proxied.db.query<{ ip: string }>(`SELECT ip FROM audit_events WHERE job_id = $1 AND action = 'access.denied'`, [jobId]);
    expect(denied.rows.map((r) => r.ip)).toEqual(['203.0.113.99']);
  });
});

describe('rate-limit keys of addresses', () => {
  test('IPv4 by address, IPv4-mapped IPv6 as IPv4, IPv6 by its /64', () => {
    expect(addressKey('192.0.2.1')).toBe('ip:192.0.2.1');
    expect(addressKey('::ffff:192.0.2.1')).toBe('ip:192.0.2.1');
    expect(addressKey('2001:db8:1:2:3:4:5:6')).toBe('ip:2001:db8:1:2::/64');
    expect(addressKey('2001:0db8:0001:0002::9')).toBe('ip:2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:3::1')).not.toBe(addressKey('2001:db8:1:2::1'));
    expect(addressKey(null)).toBe('ip:unknown');
  });
});

async function createJobFrom(s: TestServer, userId: string, headers: Record<string, string>): Promise<string> {
  const res = await s.gql('mutation($input: CreateJobInput!) { createJob(input: $input) { id } }', { input: { title: 'from where', ursDocument: 'URS-001 shall' } }, await s.token(userId), headers);
  expect(res.body.errors).toBeUndefined();
  return res.body.data.createJob.id;
}
