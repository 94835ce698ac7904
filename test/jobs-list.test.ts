/**
 * A user's job list is never older than their last answered write: on the embedded store the
 * first page is served from memory (jobs/firstPages.ts), so these tests hold it to the database
 * through every kind of change, on both stores, and across instances on PostgreSQL.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FirstPageCache } from '../src/jobs/firstPages';
import type { JobRecord } from '../src/jobs/types';
import { openPostgres } from '../src/store/postgres';
import { openStore, type StoreUnderTest } from './helpers/databases';
import { CANCEL_JOB, createJob, LIST_JOBS } from './helpers/jobQueries';
import { startTestServer, type TestServer } from './helpers/server';
import { describeStore, STORE_KINDS } from './helpers/stores';

const WORKER = { actorId: 'system:worker', actorEmail: null, sessionId: null, tokenIssuedAt: null, impersonatorId: null, requestId: null, ip: null, userAgent: null };
const LIST_WITH_RESULT = `query { jobs(first: 5) { edges { node { id status result { testCases { requirementId } } } } } }`;

async function listIds(s: TestServer, token: string, first = 20): Promise<{ id: string; status: string; ownerId: string }[]> {
  const res = await s.gql(LIST_JOBS, { first }, token);
  expect(res.body.errors).toBeUndefined();
  return res.body.data.jobs.edges.map((e: { node: { id: string; status: string; ownerId: string } }) => e.node);
}

for (const kind of STORE_KINDS) {
  describeStore(kind, () => {
    let store: StoreUnderTest;
    let s: TestServer;
    let alice: string;
    let bob: string;

    beforeAll(async () => {
      store = await openStore(kind);
      s = await startTestServer({}, { db: store.db });
      alice = await s.token('user_alice_list');
      bob = await s.token('user_bob_list');
    });
    afterAll(async () => {
      await s?.close();
      await store?.close();
    });

    test('a created job heads its owner\'s list as soon as createJob answers, and no one else\'s', async () => {
      await listIds(s, bob);
      for (let i = 0; i < 5; i++) {
        await listIds(s, alice); // a warm first page, when there is one to keep
        const id = await createJob(s, alice, `list ${i}`);
        const mine = await listIds(s, alice);
        expect(mine[0].id).toBe(id);
        expect(mine.every((j) => j.ownerId === 'user_alice_list')).toBe(true);
        expect((await listIds(s, bob)).map((j) => j.id)).not.toContain(id);
      }
    });

    test('a list read racing a create never hides the job from the next read', async () => {
      for (let i = 0; i < 15; i++) {
        const [, id] = await Promise.all([listIds(s, alice), createJob(s, alice, `race ${i}`)]);
        expect((await listIds(s, alice))[0].id).toBe(id);
      }
    });

    test('cancel and every worker step show in the next list, with the result loaded when selected', async () => {
      const cancelled = await createJob(s, alice, 'to cancel');
      expect((await listIds(s, alice)).find((j) => j.id === cancelled)?.status).toBe('PENDING');
      const res = await s.gql(CANCEL_JOB, { id: cancelled, reason: 'not needed' }, alice);
      expect(res.body.errors).toBeUndefined();
      expect((await listIds(s, alice)).find((j) => j.id === cancelled)?.status).toBe('CANCELLED');

      const worked = await createJob(s, alice, 'to work');
      // The worker takes the oldest pending job first: finish the earlier tests' jobs on the way.
      let claimed = await s.jobs.claimNext(WORKER, 'test-worker');
      while (claimed && claimed.id !== worked) {
        await s.jobs.finish(WORKER, claimed.id, { error: 'not this one' });
        claimed = await s.jobs.claimNext(WORKER, 'test-worker');
      }
      expect(claimed?.id).toBe(worked);
      expect((await listIds(s, alice)).find((j) => j.id === worked)?.status).toBe('RUNNING');
      await s.jobs.finish(WORKER, worked, { result: { testCases: [{ id: 'TC-1', requirementId: 'URS-001', title: 't', steps: [], expected: 'e' }] } });
      expect((await listIds(s, alice)).find((j) => j.id === worked)?.status).toBe('COMPLETED');
      const withResult = await s.gql(LIST_WITH_RESULT, {}, alice);
      expect(withResult.body.errors).toBeUndefined();
      const node = withResult.body.data.jobs.edges.find((e: { node: { id: string } }) => e.node.id === worked).node;
      expect(node.result.testCases).toEqual([{ requirementId: 'URS-001' }]);
    });

    test('pages after the first and filtered lists read the same jobs as the first page', async () => {
      const first = await s.gql(LIST_JOBS, { first: 3 }, alice);
      const all = await listIds(s, alice, 100);
      const next = await s.gql(LIST_JOBS, { first: 3, after: first.body.data.jobs.pageInfo.endCursor }, alice);
      const ids = [...first.body.data.jobs.edges, ...next.body.data.jobs.edges].map((e: { node: { id: string } }) => e.node.id);
      expect(ids).toEqual(all.slice(0, 6).map((j) => j.id));
      const pending = await s.gql(LIST_JOBS, { first: 100, status: 'PENDING' }, alice);
      expect(pending.body.data.jobs.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual(all.filter((j) => j.status === 'PENDING').map((j) => j.id));
    });
  });
}

describeStore('postgres', () => {
  // Two instances on one database: a write through one is in the other's very next list.
  let store: StoreUnderTest;
  let other: StoreUnderTest['db'];
  let a: TestServer;
  let b: TestServer;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobledger-list-'));

  beforeAll(async () => {
    store = await openStore('postgres');
    other = await openPostgres(store.url!, { max: 4 });
    a = await startTestServer({ DATA_DIR: dataDir }, { db: store.db });
    b = await startTestServer({ DATA_DIR: dataDir }, { db: other });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await other?.close();
    await store?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('a job created through one instance is in the next list read through the other', async () => {
    const alice = await a.token('user_alice_two');
    for (let i = 0; i < 5; i++) {
      await listIds(b, alice);
      const id = await createJob(a, alice, `across ${i}`);
      expect((await listIds(b, alice))[0].id).toBe(id);
    }
  });
});

describe('FirstPageCache', () => {
  const job = (id: string): JobRecord =>
    ({ seq: id, id, ownerId: 'o', title: id, status: 'PENDING', error: null, attempts: 0, createdAt: new Date(0), updatedAt: new Date(0) }) as JobRecord;

  test('rows fetched before a change committed are answered but not kept', async () => {
    const cache = new FirstPageCache();
    let release!: (rows: JobRecord[]) => void;
    const slow = cache.read('o', 2, () => new Promise((r) => (release = r)));
    cache.changed('o');
    release([job('old')]);
    expect((await slow).map((j) => j.id)).toEqual(['old']);
    const fresh = await cache.read('o', 2, async () => [job('new'), job('old')]);
    expect(fresh.map((j) => j.id)).toEqual(['new', 'old']);
  });

  test('a larger page than the one kept is fetched, a smaller one is served from it', async () => {
    const cache = new FirstPageCache(10, 3);
    let fetches = 0;
    const fetch = async (n: number) => {
      fetches++;
      return Array.from({ length: n }, (_, i) => job(String(i)));
    };
    await cache.read('o', 2, fetch);
    await cache.read('o', 3, fetch);
    expect(fetches).toBe(1);
    expect((await cache.read('o', 5, fetch)).length).toBe(5);
    expect(fetches).toBe(2);
  });
});
