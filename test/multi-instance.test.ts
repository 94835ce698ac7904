import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import type { Database } from '../src/store/database';
import { openPostgres } from '../src/store/postgres';
import { chainProblems } from './helpers/chains';
import { createFreshPostgres, type FreshPostgres } from './helpers/databases';
import { devToken, gql, killAllChildren, spawnServer, type ServerProcess } from './helpers/processes';
import { describeStore } from './helpers/stores';
import { deliverWebhook } from './helpers/webhooks';

const CREATE = `mutation($input: CreateJobInput!) { createJob(input: $input) { id ownerId title status } }`;
const CANCEL = `mutation($id: ID!, $reason: String!) { cancelJob(id: $id, reason: $reason) { id status } }`;
const READ = `query($id: ID!) { job(id: $id) { id ownerId title status ursDocument auditTrail { action actorId reason hash prevHash } } }`;
const AUDIT = `query($jobId: ID, $after: String) { auditEvents(jobId: $jobId, first: 100, after: $after) {
  edges { node { id action jobId hash prevHash } } pageInfo { hasNextPage endCursor } } }`;
const SUBSCRIBE = `subscription($id: ID!) { jobUpdated(id: $id) { id status } }`;
const DOC = 'URS-001 The system shall run on several instances.';
const WEBHOOK_SECRET = `whsec_${randomBytes(24).toString('base64')}`;
const VIEWER = 'query { viewer { userId sessionId } }';

describeStore('postgres', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobledger-multi-'));
  let fresh: FreshPostgres;
  let db: Database;
  let a: ServerProcess;
  let b: ServerProcess;
  const clients: Client[] = [];
  let alice: string;
  let auditor: string;

  beforeAll(async () => {
    fresh = await createFreshPostgres();
    db = await openPostgres(fresh.url, { max: 2 });
    // An hour of trusting a cached "session active": only the revocation notice can end it sooner.
    const env = { DATABASE_URL: fresh.url, DATA_DIR: dataDir, CLERK_WEBHOOK_SIGNING_SECRET: WEBHOOK_SECRET, SESSION_CHECK_CACHE_MS: '3600000' };
    // Two processes, one database, one DATA_DIR (so one development issuer key for both).
    [a, b] = await Promise.all([spawnServer(env), spawnServer(env)]);
    alice = await devToken(dataDir, 'user_alice', { email: 'alice@example.com' });
    auditor = await devToken(dataDir, 'user_qa', { role: 'auditor' });
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) await c.dispose();
    killAllChildren();
    await db?.close();
    await fresh?.drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const ok = async (url: string, query: string, vars: Record<string, unknown>, token: string) => {
    const res = await gql(url, query, vars, token);
    expect(res.body.errors).toBeUndefined();
    expect(res.status).toBe(200);
    return res.body.data;
  };

  test('the two servers are separate processes on separate ports', () => {
    expect(a.pid).not.toBe(b.pid);
    expect(a.url).not.toBe(b.url);
  });

  test('a session revoked by a webhook to one instance is refused by the other at once, not when its cache expires', async () => {
    const sid = `sess_${randomBytes(8).toString('hex')}`;
    const token = await devToken(dataDir, 'user_carol', { sessionId: sid });
    expect((await gql(b.url, VIEWER, {}, token)).status).toBe(200); // b now believes the session active for an hour
    const delivered = await deliverWebhook(a.url.replace(/\/graphql$/, '/webhooks/clerk'), WEBHOOK_SECRET, {
      type: 'session.revoked',
      data: { object: 'session', id: sid, user_id: 'user_carol', status: 'revoked' },
    });
    expect(delivered).toMatchObject({ status: 200, body: { status: 'applied' } });
    let res = await gql(b.url, VIEWER, {}, token);
    for (let i = 0; i < 100 && res.status === 200; i++) {
      await new Promise((done) => setTimeout(done, 20)); // the notice is on its way from a's commit
      res = await gql(b.url, VIEWER, {}, token);
    }
    expect(res.status).toBe(401);
    expect(res.body.errors?.[0]?.extensions?.reason).toBe('session-revoked');
  });

  test('a job created through A is read, cancelled and audited through B', async () => {
    const { createJob: job } = await ok(a.url, CREATE, { input: { title: 'from A', ursDocument: DOC } }, alice);
    const { job: read } = await ok(b.url, READ, { id: job.id }, alice);
    expect(read).toMatchObject({ id: job.id, ownerId: 'user_alice', title: 'from A', status: 'PENDING', ursDocument: DOC });
    const { cancelJob } = await ok(b.url, CANCEL, { id: job.id, reason: 'cancelled on B' }, alice);
    expect(cancelJob.status).toBe('CANCELLED');
    // A sees B's cancellation: neither instance holds state of its own.
    const { job: onA } = await ok(a.url, READ, { id: job.id }, alice);
    expect(onA.status).toBe('CANCELLED');
    const trail = onA.auditTrail;
    expect(trail.map((e: { action: string }) => e.action)).toEqual(['job.created', 'job.cancelled']);
    expect(trail[1]).toMatchObject({ actorId: 'user_alice', reason: 'cancelled on B', prevHash: trail[0].hash });
    expect(trail[0].prevHash).toBeNull();
    const { job: onB } = await ok(b.url, READ, { id: job.id }, alice);
    expect(onB.auditTrail).toEqual(trail);
  });

  test('a subscriber on B sees a cancellation made through A (LISTEN/NOTIFY fan-out)', async () => {
    const { createJob: job } = await ok(a.url, CREATE, { input: { title: 'watched', ursDocument: DOC } }, alice);
    const client = createClient({ url: b.url.replace(/^http/, 'ws'), webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${alice}` }, retryAttempts: 0 });
    clients.push(client);
    const updates = client.iterate<{ jobUpdated: { id: string; status: string } }>({ query: SUBSCRIBE, variables: { id: job.id } });
    // The first value is the current state; once it arrives, B's listener for this job is registered.
    const first = await updates.next();
    expect(first.value?.data?.jobUpdated).toEqual({ id: job.id, status: 'PENDING' });
    await ok(a.url, CANCEL, { id: job.id, reason: 'cancelled on A' }, alice);
    const next = await updates.next();
    expect(next.value?.errors).toBeUndefined();
    expect(next.value?.data?.jobUpdated).toEqual({ id: job.id, status: 'CANCELLED' });
    await updates.return?.();
  });

  test('interleaved writes through both instances leave one intact trail that both serve alike', async () => {
    const servers = [a, b];
    const created = await Promise.all(
      Array.from({ length: 12 }, (_, i) => ok(servers[i % 2].url, CREATE, { input: { title: `mixed ${i}`, ursDocument: DOC, idempotencyKey: `mixed-${i}` } }, alice)),
    );
    const ids: string[] = created.map((d) => d.createJob.id);
    // Retries of the same keys through the other instance return the same jobs.
    const retried = await Promise.all(
      ids.map((_, i) => ok(servers[(i + 1) % 2].url, CREATE, { input: { title: `mixed ${i}`, ursDocument: DOC, idempotencyKey: `mixed-${i}` } }, alice)),
    );
    expect(retried.map((d) => d.createJob.id)).toEqual(ids);
    // Both instances race to cancel every job: exactly one cancel per job wins.
    const results = await Promise.all(
      ids.flatMap((id) => servers.map((s) => gql(s.url, CANCEL, { id, reason: `by ${s.url}` }, alice))),
    );
    const codes = results.map((r) => r.body.errors?.[0]?.extensions?.code ?? 'ok');
    expect(codes.filter((c) => c === 'ok')).toHaveLength(ids.length);
    expect(codes.filter((c) => c !== 'ok').every((c) => c === 'CONFLICT')).toBe(true);

    expect(await chainProblems(db)).toEqual([]);
    const events = await db.query<{ job_id: string; action: string; stream_seq: number }>(
      'SELECT job_id, action, stream_seq FROM audit_events WHERE job_id = ANY($1::uuid[]) ORDER BY seq',
      [ids],
    );
    for (const id of ids) {
      expect(events.rows.filter((e) => e.job_id === id).map((e) => `${e.stream_seq}:${e.action}`)).toEqual(['1:job.created', '2:job.cancelled']);
    }
    const pageAll = async (url: string) => {
      const all: unknown[] = [];
      let after: string | null = null;
      for (;;) {
        const data: any = await ok(url, AUDIT, { after }, auditor);
        all.push(...data.auditEvents.edges.map((e: { node: unknown }) => e.node));
        if (!data.auditEvents.pageInfo.hasNextPage) return all;
        after = data.auditEvents.pageInfo.endCursor;
      }
    };
    const [viaA, viaB] = await Promise.all([pageAll(a.url), pageAll(b.url)]);
    expect(viaA.length).toBeGreaterThanOrEqual(ids.length * 2);
    expect(viaB).toEqual(viaA);
  });
});
