import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createClient, type Client } from 'graphql-ws';
import pg from 'pg';
import WebSocket from 'ws';
import type { ListenState } from '../src/store/database';
import { LISTEN_APPLICATION_NAME } from '../src/store/listener';
import { openPostgres } from '../src/store/postgres';
import { readiness } from '../src/transport/health';
import { createFreshPostgres, type FreshPostgres } from './helpers/databases';
import { devToken, gql, killAllChildren, spawnServer, type ServerProcess } from './helpers/processes';
import { describeStore } from './helpers/stores';
import { deliverWebhook } from './helpers/webhooks';

const CREATE = `mutation($input: CreateJobInput!) { createJob(input: $input) { id status } }`;
const CANCEL = `mutation($id: ID!, $reason: String!) { cancelJob(id: $id, reason: $reason) { id status } }`;
const SUBSCRIBE = `subscription($id: ID!) { jobUpdated(id: $id) { id status } }`;
const VIEWER = 'query { viewer { userId sessionId } }';
const WEBHOOK_SECRET = `whsec_${randomBytes(24).toString('base64')}`;
const DOC = 'URS-001 The system shall survive a database restart.';

/** Terminates every LISTEN connection on the database (what a PostgreSQL restart or failover does to them). */
async function terminateListeners(url: string): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const res = await c.query(
      `SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()`,
      [LISTEN_APPLICATION_NAME],
    );
    return res.rows.filter((r) => r.done).length;
  } finally {
    await c.end();
  }
}

const until = async <T>(probe: () => Promise<T>, ok: (v: T) => boolean, tries = 200): Promise<T> => {
  let v = await probe();
  for (let i = 0; i < tries && !ok(v); i++) {
    await new Promise((r) => setTimeout(r, 25));
    v = await probe();
  }
  return v;
};

describeStore('postgres', () => {
  let fresh: FreshPostgres;
  beforeAll(async () => {
    fresh = await createFreshPostgres();
  });
  afterAll(async () => {
    killAllChildren();
    await fresh?.drop();
  });

  test('the LISTEN connection reconnects, LISTENs again, and /readyz reports it down meanwhile', async () => {
    const db = await openPostgres(fresh.url, { max: 1, listenRetry: { minDelayMs: 50, maxDelayMs: 200 } });
    try {
      const got: string[] = [];
      await db.listen('reconnect_probe', (p) => got.push(p));
      const seen: ListenState[] = [];
      const whileDown: Promise<Awaited<ReturnType<typeof readiness>>>[] = [];
      db.watchListen((s) => {
        seen.push(s);
        if (!s.connected) whileDown.push(readiness(db));
      });
      expect((await readiness(db)).status).toBe(200);
      expect(await terminateListeners(fresh.url)).toBe(1);
      await until(async () => seen.length, (n) => n >= 2);
      expect(seen.map((s) => s.connected)).toEqual([false, true]);
      expect(seen[1].reconnects).toBe(1);
      const down = await whileDown[0];
      expect(down.status).toBe(503);
      expect(down.body).toMatchObject({ status: 'unavailable', reason: 'LISTEN connection down, reconnecting' });
      expect(await readiness(db)).toMatchObject({ status: 200, body: { listen: { connected: true, reconnects: 1 } } });
      // LISTEN again: a notification sent now reaches the handler registered before the loss.
      await db.query(`SELECT pg_notify('reconnect_probe', 'after')`);
      await until(async () => got.length, (n) => n > 0);
      expect(got).toEqual(['after']);
    } finally {
      await db.close();
    }
  });

  describe('two server processes', () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobledger-listen-'));
    let a: ServerProcess;
    let b: ServerProcess;
    const clients: Client[] = [];
    beforeAll(async () => {
      // An hour of trusting "session active": only the notice (or the reconnect's cache drop) ends it sooner.
      const env = { DATABASE_URL: fresh.url, DATA_DIR: dataDir, CLERK_WEBHOOK_SIGNING_SECRET: WEBHOOK_SECRET, SESSION_CHECK_CACHE_MS: '3600000' };
      [a, b] = await Promise.all([spawnServer(env), spawnServer(env)]);
    }, 60_000);
    afterAll(async () => {
      for (const c of clients) await c.dispose();
      killAllChildren();
      fs.rmSync(dataDir, { recursive: true, force: true });
    });

    test('a cancellation committed while the LISTEN connections were down still reaches a subscriber', async () => {
      const alice = await devToken(dataDir, 'user_alice');
      const created = await gql(a.url, CREATE, { input: { title: 'across a restart', ursDocument: DOC } }, alice);
      const job = created.body.data.createJob;
      const client = createClient({ url: b.url.replace(/^http/, 'ws'), webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${alice}` }, retryAttempts: 0 });
      clients.push(client);
      const updates = client.iterate<{ jobUpdated: { id: string; status: string } }>({ query: SUBSCRIBE, variables: { id: job.id } });
      expect((await updates.next()).value?.data?.jobUpdated).toEqual({ id: job.id, status: 'PENDING' });
      expect(await terminateListeners(fresh.url)).toBe(2);
      // Committed at once: B's NOTIFY may well be sent while it has no LISTEN connection.
      expect((await gql(a.url, CANCEL, { id: job.id, reason: 'while B was reconnecting' }, alice)).body.data.cancelJob.status).toBe('CANCELLED');
      const next = await updates.next();
      expect(next.value?.data?.jobUpdated).toEqual({ id: job.id, status: 'CANCELLED' });
      await updates.return?.();
      const ready: any = await until(() => fetch(b.url.replace(/graphql$/, 'readyz')).then((r) => r.json()), (v: any) => v.status === 'ready');
      expect(ready).toMatchObject({ status: 'ready', listen: { connected: true } });
      expect(ready.listen.reconnects).toBeGreaterThanOrEqual(1);
      expect(b.output()).toMatch(/LISTEN connection lost/);
      expect(b.output()).toMatch(/LISTEN connection restored/);
    });

    test('a revocation received by A reaches B after B lost its LISTEN connection', async () => {
      const sid = `sess_${randomBytes(8).toString('hex')}`;
      const token = await devToken(dataDir, 'user_carol', { sessionId: sid });
      expect((await gql(b.url, VIEWER, {}, token)).status).toBe(200); // B caches "active" for an hour
      expect(await terminateListeners(fresh.url)).toBe(2);
      const delivered = await deliverWebhook(a.url.replace(/\/graphql$/, '/webhooks/clerk'), WEBHOOK_SECRET, {
        type: 'session.revoked',
        data: { object: 'session', id: sid, user_id: 'user_carol', status: 'revoked' },
      });
      expect(delivered).toMatchObject({ status: 200, body: { status: 'applied' } });
      const res = await until(() => gql(b.url, VIEWER, {}, token), (r) => r.status !== 200);
      expect(res.status).toBe(401);
      expect(res.body.errors?.[0]?.extensions?.reason).toBe('session-revoked');
    });
  });
});
