import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Database } from '../../src/store/database';
import { openPostgres } from '../../src/store/postgres';
import { chainProblems } from '../helpers/chains';
import { createFreshPostgres, type FreshPostgres } from '../helpers/databases';
import { devToken, gql, killAllChildren, spawnServer, type ServerProcess } from '../helpers/processes';
import { describeStore } from '../helpers/stores';

/**
 * Crash durability: a client writes through a server on PostgreSQL, the server is SIGKILLed
 * mid-load, restarted, and everything the client saw acknowledged must be there with its audit
 * event, and nothing may be half-written. Creates carry idempotency keys, so a create whose
 * answer was lost in the crash is retried after the restart and must not produce a second job.
 */
const KILLS = 3;
const WRITERS = 4;
const CREATE = `mutation($input: CreateJobInput!) { createJob(input: $input) { id createdAt } }`;
const CANCEL = `mutation($id: ID!, $reason: String!) { cancelJob(id: $id, reason: $reason) { id status } }`;
const DOC = 'URS-001 The system shall survive a crash without losing acknowledged records.';

interface CreateAttempt {
  key: string;
  user: number;
}

describeStore('postgres', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobledger-fault-'));
  let fresh: FreshPostgres;
  let db: Database;
  let tokens: string[];

  const ackedCreates = new Map<string, string>(); // idempotency key -> job id
  const ackedCancels = new Map<string, string>(); // job id -> reason
  const lostCancels = new Map<string, string>(); // cancels whose answer the crash swallowed
  let pendingCreates: CreateAttempt[] = [];
  const unexpected: string[] = [];
  const figures = { kills: 0, unackedInFlight: 0, refusedAfterKill: 0, retriedCreates: 0, retriedFoundCommitted: 0 };
  let nextKey = 0;

  beforeAll(async () => {
    fresh = await createFreshPostgres();
    db = await openPostgres(fresh.url, { max: 2 });
    tokens = await Promise.all([0, 1, 2].map((i) => devToken(dataDir, `user_fault_${i}`)));
  });
  afterAll(async () => {
    killAllChildren();
    await db?.close();
    await fresh?.drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const start = () => spawnServer({ DATABASE_URL: fresh.url, DATA_DIR: dataDir });

  /** A failed fetch either never reached the server (refused) or was cut off mid-request. */
  const lost = (err: unknown): void => {
    const code = (err as { cause?: { code?: string } }).cause?.code;
    if (code === 'ECONNREFUSED') figures.refusedAfterKill++;
    else figures.unackedInFlight++;
  };

  /** Returns the job id, or null when the server went away before answering. */
  async function create(url: string, attempt: CreateAttempt): Promise<{ id: string; createdAt: string } | null> {
    const input = { title: `fault ${attempt.key}`, ursDocument: DOC, idempotencyKey: attempt.key };
    let res;
    try {
      res = await gql(url, CREATE, { input }, tokens[attempt.user]);
    } catch (err) {
      lost(err);
      pendingCreates.push(attempt);
      return null;
    }
    if (res.body.errors || !res.body.data) {
      unexpected.push(`create ${attempt.key}: ${res.status} ${JSON.stringify(res.body.errors)}`);
      return null;
    }
    ackedCreates.set(attempt.key, res.body.data.createJob.id);
    return res.body.data.createJob;
  }

  async function writer(url: string, stop: { now: boolean }): Promise<void> {
    while (!stop.now) {
      const n = nextKey++;
      const attempt = { key: `fault-${n}`, user: n % tokens.length };
      const job = await create(url, attempt);
      if (!job) return;
      if (n % 2 === 1) continue; // half the jobs stay PENDING
      const reason = `cancel #${n}`;
      try {
        const res = await gql(url, CANCEL, { id: job.id, reason }, tokens[attempt.user]);
        if (res.body.errors) unexpected.push(`cancel ${job.id}: ${JSON.stringify(res.body.errors)}`);
        else ackedCancels.set(job.id, reason);
      } catch (err) {
        lost(err);
        lostCancels.set(job.id, reason);
        return;
      }
    }
  }

  /** After a restart, lost creates are retried with the same key: the server must answer with one job. */
  async function retryLostCreates(server: ServerProcess, restartedAt: number): Promise<void> {
    const retry = pendingCreates;
    pendingCreates = [];
    for (const attempt of retry) {
      figures.retriedCreates++;
      const job = await create(server.url, attempt);
      if (job && Date.parse(job.createdAt) < restartedAt) figures.retriedFoundCommitted++;
    }
  }

  test('SIGKILL mid-load loses no acknowledged write and leaves nothing half-written', async () => {
    for (let cycle = 0; cycle <= KILLS; cycle++) {
      const restartedAt = Date.now();
      const server = await start();
      try {
        await retryLostCreates(server, restartedAt);
        const stop = { now: false };
        const writers = Array.from({ length: WRITERS }, () => writer(server.url, stop));
        if (cycle < KILLS) {
          await new Promise((r) => setTimeout(r, 1500 + Math.random() * 1000));
          await server.kill('SIGKILL');
          figures.kills++;
        } else {
          await new Promise((r) => setTimeout(r, 500));
        }
        stop.now = true;
        await Promise.all(writers);
        if (cycle === KILLS) await retryLostCreates(server, restartedAt);
      } finally {
        await server.kill('SIGTERM');
      }
    }
    console.log(
      `durability: ${ackedCreates.size} acked creates, ${ackedCancels.size} acked cancels, ${figures.kills} SIGKILLs, ` +
        `${figures.unackedInFlight} unacked in flight, ${figures.refusedAfterKill} refused after a kill, ` +
        `${figures.retriedCreates} lost creates retried (${figures.retriedFoundCommitted} had committed before the crash), ` +
        `${lostCancels.size} cancels with a lost answer`,
    );
    expect(unexpected).toEqual([]);
    expect(figures.kills).toBe(KILLS);
    expect(pendingCreates).toEqual([]);
    expect(ackedCreates.size).toBeGreaterThan(0);
    expect(ackedCancels.size).toBeGreaterThan(0);

    const jobs = new Map((await db.query<{ id: string; status: string }>('SELECT id, status FROM jobs')).rows.map((r) => [r.id, r.status]));
    const events = (await db.query<{ job_id: string; action: string; reason: string | null; after: { status?: string; idempotencyKey?: string } }>(
      'SELECT job_id, action, reason, after FROM audit_events WHERE job_id IS NOT NULL ORDER BY seq',
    )).rows;
    const created = new Map(events.filter((e) => e.action === 'job.created').map((e) => [e.job_id, e]));
    const cancelled = new Map(events.filter((e) => e.action === 'job.cancelled').map((e) => [e.job_id, e]));

    // Every acknowledged create is there with its event; and since every lost create was retried
    // with its key, the jobs in the database are exactly the acknowledged ones (one per key).
    for (const [key, id] of ackedCreates) {
      expect({ key, job: jobs.has(id), keyInEvent: created.get(id)?.after.idempotencyKey }).toEqual({ key, job: true, keyInEvent: key });
    }
    expect([...jobs.keys()].sort()).toEqual([...ackedCreates.values()].sort());
    // Every acknowledged cancel is there with its reason.
    for (const [id, reason] of ackedCancels) {
      expect({ id, status: jobs.get(id), reason: cancelled.get(id)?.reason }).toEqual({ id, status: 'CANCELLED', reason });
    }
    // A cancel whose answer was lost either happened whole or not at all.
    for (const [id, reason] of lostCancels) {
      const c = cancelled.get(id);
      expect({ id, status: jobs.get(id), reason: c?.reason ?? null }).toEqual(c ? { id, status: 'CANCELLED', reason } : { id, status: 'PENDING', reason: null });
    }
    // Nothing half-written: no job without its creation event, no event without its job, and
    // each job's status is the one its last event recorded.
    expect([...jobs.keys()].filter((id) => !created.has(id))).toEqual([]);
    expect(events.filter((e) => !jobs.has(e.job_id))).toEqual([]);
    const lastStatus = new Map(events.map((e) => [e.job_id, e.after.status]));
    expect([...jobs].filter(([id, status]) => lastStatus.get(id) !== status)).toEqual([]);
    expect(await chainProblems(db)).toEqual([]);
  }, 120_000);
});
