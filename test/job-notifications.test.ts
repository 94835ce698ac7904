import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import type { AuditActor } from '../src/audit/event';
import { JobsService } from '../src/jobs/service';
import { JOB_UPDATED_CHANNEL } from '../src/jobs/types';
import { openStore, type StoreUnderTest } from './helpers/databases';
import { startTestServer, type TestServer } from './helpers/server';
import { describeStore, STORE_KINDS } from './helpers/stores';

/**
 * New jobs are announced after commit, batched (src/jobs/notifier.ts), instead of by a NOTIFY
 * inside the create transaction. The announcement must still reach every listener, once the job
 * is readable, and must still wake an idle worker.
 */
const actor = (userId: string): AuditActor => ({
  actorId: userId, actorEmail: null, sessionId: null, tokenIssuedAt: null, impersonatorId: null, requestId: null, ip: null, userAgent: null,
});
const DOC = 'URS-001 The system shall announce new jobs.';

/** Resolves once `ids` have all been notified; the jest timeout bounds the wait. */
function waitForIds(received: Set<string>, ids: string[]): Promise<void> {
  return new Promise((resolve) => {
    const check = () => (ids.every((id) => received.has(id)) ? resolve() : setTimeout(check, 10));
    check();
  });
}

for (const kind of STORE_KINDS) {
  describeStore(kind, () => {
    let store: StoreUnderTest;
    let s: TestServer;
    beforeAll(async () => {
      store = await openStore(kind);
      // The worker polls once a minute, so only the announcement can make it pick a job up in time.
      s = await startTestServer({ WORKER_ENABLED: 'true', WORKER_POLL_MS: '60000' }, { db: store.db });
    });
    afterAll(async () => {
      await s?.close();
      await store?.close();
    });

    test('every created job is announced once it is readable, also when 25 are created at once', async () => {
      const jobs = new JobsService(store.db);
      const received = new Set<string>();
      // Each notified job is read at once: the announcement must come only once it is readable.
      const reads: Promise<{ id: string; readable: boolean }>[] = [];
      const stop = await store.db.listen(JOB_UPDATED_CHANNEL, (id) => {
        received.add(id);
        reads.push(jobs.get(id).then((j) => ({ id, readable: j !== null })));
      });
      try {
        await s.worker!.drain(); // the worker sits idle, so its claims do not add to the noise
        const created = await Promise.all(Array.from({ length: 25 }, (_, i) => jobs.create(actor(`user_n${i % 5}`), { title: `n${i}`, ursDocument: DOC })));
        await waitForIds(received, created.map((j) => j.id));
        const seen = await Promise.all(reads);
        expect(seen.length).toBeGreaterThanOrEqual(created.length);
        expect(seen.filter((r) => !r.readable)).toEqual([]);
      } finally {
        await stop();
      }
    });

    test('a job created over HTTP wakes the idle worker, which completes it', async () => {
      await s.worker!.drain();
      const t = await s.token('user_wake');
      const res = await s.gql(`mutation($i: CreateJobInput!) { createJob(input: $i) { id } }`, { i: { title: 'wake', ursDocument: DOC } }, t);
      expect(res.body.errors).toBeUndefined();
      const id = res.body.data.createJob.id;
      let status = 'PENDING';
      while (status !== 'COMPLETED' && status !== 'FAILED') {
        await new Promise((r) => setTimeout(r, 25));
        status = (await s.gql(`query($id: ID!) { job(id: $id) { status } }`, { id }, t)).body.data.job.status;
      }
      expect(status).toBe('COMPLETED');
    });

    test('a notification for a job that did not change yields nothing to its subscribers', async () => {
      // A new job's announcement, sent after commit, can reach a subscriber who already has the
      // job's state; the next thing that subscriber sees must be the next change, not a repeat.
      // A database and a server of its own, with no worker: only this test moves the job, whatever
      // ran before it or runs beside it.
      const own = await openStore(kind);
      const quiet = await startTestServer({ WORKER_ENABLED: 'false' }, { db: own.db });
      try {
        await announcedOnce(quiet, own);
      } finally {
        await quiet.close();
        await own.close();
      }
    });

    async function announcedOnce(s: TestServer, store: StoreUnderTest): Promise<void> {
      const t = await s.token('user_quiet');
      const created = await s.gql(`mutation($i: CreateJobInput!) { createJob(input: $i) { id } }`, { i: { title: 'quiet', ursDocument: DOC } }, t);
      const id = created.body.data.createJob.id;
      const client = createClient({ url: s.url.replace(/^http/, 'ws'), webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${t}` }, retryAttempts: 0 });
      try {
        const updates = client.iterate<{ jobUpdated: { status: string } }>({ query: 'subscription($id: ID!) { jobUpdated(id: $id) { status } }', variables: { id } });
        expect((await updates.next()).value?.data?.jobUpdated.status).toBe('PENDING');
        await store.db.query('SELECT pg_notify($1, $2)', [JOB_UPDATED_CHANNEL, id]);
        await store.db.query('SELECT pg_notify($1, $2)', [JOB_UPDATED_CHANNEL, id]);
        const cancelled = await s.gql(`mutation($id: ID!) { cancelJob(id: $id, reason: "quiet") { status } }`, { id }, t);
        expect(cancelled.body.errors).toBeUndefined();
        expect((await updates.next()).value?.data?.jobUpdated.status).toBe('CANCELLED');
        await updates.return?.();
      } finally {
        await client.dispose();
      }
    }
  });
}
