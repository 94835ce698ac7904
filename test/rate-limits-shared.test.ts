import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Database } from '../src/store/database';
import { openPostgres } from '../src/store/postgres';
import { createFreshPostgres, type FreshPostgres } from './helpers/databases';
import { startTestServer, type TestServer } from './helpers/server';
import { closeAfterInit } from './helpers/wsClient';
import { describeStore } from './helpers/stores';

// Two instances on one PostgreSQL database, each with its own connection pool and its own
// limiter state: whatever one knows of the other's traffic came through the database.
// 6 requests a minute per caller, 4 refused credentials a minute per client address.

const VIEWER = '{ viewer { userId } }';

describeStore('postgres', () => {
  let fresh: FreshPostgres;
  const dbs: Database[] = [];
  let a: TestServer;
  let b: TestServer;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobledger-limits-'));

  beforeAll(async () => {
    fresh = await createFreshPostgres();
    for (let i = 0; i < 2; i++) dbs.push(await openPostgres(fresh.url, { max: 4 }));
    // One DATA_DIR, so one development issuer: a token from either instance is good on both.
    const env = { RATE_LIMIT_PER_MINUTE: '6', RATE_LIMIT_AUTH_FAILURES_PER_MINUTE: '4', TRUST_PROXY: '1', DATA_DIR: dataDir };
    a = await startTestServer(env, { db: dbs[0] });
    b = await startTestServer(env, { db: dbs[1] });
  }, 60_000);

  afterAll(async () => {
    await a?.close();
    await b?.close();
    for (const db of dbs) await db.close();
    await fresh?.drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const from = (address: string) => ({ 'x-forwarded-for': address });
  const forged = async () => (await a.token(`user_${randomBytes(4).toString('hex')}`)).replace(/\.[^.]+$/, '.AAAA');

  test('refused tokens spread over both instances draw on one budget; the one over it is 429 with Retry-After on either', async () => {
    const client = from('192.0.2.1');
    const token = await forged();
    const statuses: number[] = [];
    for (const s of [a, b, a, b]) statuses.push((await s.gql(VIEWER, {}, token, client)).status);
    expect(statuses).toEqual([401, 401, 401, 401]); // two on each: alone, neither is at its budget of 4
    for (const s of [a, b]) {
      const over = await s.gql(VIEWER, {}, token, client);
      expect(over.status).toBe(429);
      expect(over.body.errors![0].extensions.code).toBe('RATE_LIMITED');
      const retryAfter = Number(over.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(60);
    }
    // A valid token from another client is not held up by this one.
    expect((await b.gql(VIEWER, {}, await b.token('user_bystander'), from('192.0.2.2'))).status).toBe(200);
  });

  test('WebSocket connection_init failures count on the same shared budget', async () => {
    const client = from('192.0.2.3');
    const token = await forged();
    for (const s of [a, b, a]) expect((await s.gql(VIEWER, {}, token, client)).status).toBe(401);
    expect(await closeAfterInit(b.port, client, token)).toEqual({ code: 4401, reason: 'Unauthorized: token-invalid-signature' });
    const closed = await closeAfterInit(a.port, client, token);
    expect(closed.code).toBe(4429);
    expect(closed.reason).toMatch(/^Too Many Requests: retry-after=\d+$/);
  });

  test('the request limit holds across instances: 6 a minute for a user, wherever the requests land', async () => {
    const token = await a.token('user_shared_limit');
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await (i % 2 ? b : a).gql(VIEWER, {}, token)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 429, 429, 429, 429]);
    const row = await dbs[0].query<{ points: number }>(`SELECT points FROM rate_limits WHERE key = 'req:user:user_shared_limit'`);
    expect(row.rows[0].points).toBeGreaterThanOrEqual(6);
  });

  test('with the shared table out of reach, each instance still applies the limit on its own', async () => {
    await dbs[0].exec('ALTER TABLE rate_limits RENAME TO rate_limits_away');
    try {
      const token = await a.token('user_store_down');
      const statuses: number[] = [];
      for (let i = 0; i < 8; i++) statuses.push((await a.gql(VIEWER, {}, token)).status);
      expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 429, 429]);
    } finally {
      await dbs[0].exec('ALTER TABLE rate_limits_away RENAME TO rate_limits');
    }
  });
});

describeStore('postgres', () => {
  let fresh: FreshPostgres;
  let db: Database;
  let s: TestServer;

  beforeAll(async () => {
    fresh = await createFreshPostgres();
    db = await openPostgres(fresh.url, { max: 4 });
    s = await startTestServer({ RATE_LIMIT_PER_MINUTE: '1000' }, { db });
  }, 60_000);

  afterAll(async () => {
    await s?.close();
    await db?.close();
    await fresh?.drop();
  });

  test('far from the limit, requests are counted here and reach the shared table later, in a batch', async () => {
    const token = await s.token('user_far_from_limit');
    const points = async () => (await db.query<{ points: number }>(`SELECT points FROM rate_limits WHERE key = 'req:user:user_far_from_limit'`)).rows[0]?.points ?? 0;
    // With the table away no count can reach it: the requests are let through on this instance's count.
    await db.exec('ALTER TABLE rate_limits RENAME TO rate_limits_away');
    try {
      for (let i = 0; i < 5; i++) expect((await s.gql(VIEWER, {}, token)).status).toBe(200);
    } finally {
      await db.exec('ALTER TABLE rate_limits_away RENAME TO rate_limits');
    }
    const deadline = Date.now() + 15_000;
    while ((await points()) < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(await points()).toBe(5);
  });
});

