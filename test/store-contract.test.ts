import { sha256Hex } from '../src/audit/canonical';
import type { AuditActor } from '../src/audit/event';
import { SYSTEM_WORKER } from '../src/audit/event';
import { AppError } from '../src/errors';
import { JobsService } from '../src/jobs/service';
import { openStore, type StoreUnderTest } from './helpers/databases';
import { describeStore, STORE_KINDS } from './helpers/stores';

const actor = (userId: string): AuditActor => ({
  actorId: userId,
  actorEmail: `${userId}@example.com`,
  sessionId: `sess_${userId}`,
  tokenIssuedAt: new Date(),
  impersonatorId: null,
  requestId: null,
  ip: '127.0.0.1',
  userAgent: 'jest',
});
const DOC = 'URS-001 The system shall keep records.';
const codeOf = (p: Promise<unknown>) => p.then(() => 'ok', (e) => (e instanceof AppError ? e.code : `unexpected: ${e}`));

for (const kind of STORE_KINDS) {
  describeStore(kind, () => {
    let store: StoreUnderTest;
    let jobs: JobsService;
    beforeAll(async () => {
      store = await openStore(kind);
      jobs = new JobsService(store.db);
    });
    afterAll(async () => {
      await store?.close();
    });

    const eventsOf = async (jobId: string) =>
      (await store.db.query<{ action: string; stream_seq: number; hash: string; prev_hash: string | null; canonical: string }>(
        'SELECT action, stream_seq, hash, prev_hash, canonical FROM audit_events WHERE job_id = $1 ORDER BY seq',
        [jobId],
      )).rows;

    test('50 concurrent creates from 10 users: 50 jobs, 50 events, every chain intact', async () => {
      const users = Array.from({ length: 10 }, (_, i) => `user_c${i}`);
      const created = await Promise.all(Array.from({ length: 50 }, (_, i) => jobs.create(actor(users[i % 10]), { title: `job ${i}`, ursDocument: DOC })));
      expect(new Set(created.map((j) => j.id)).size).toBe(50);
      const rows = await store.db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM audit_events WHERE action = 'job.created' AND job_id = ANY($1::uuid[])",
        [created.map((j) => j.id)],
      );
      expect(rows.rows[0].n).toBe(50);
      for (const j of created) {
        const [e] = await eventsOf(j.id);
        expect(e).toMatchObject({ action: 'job.created', stream_seq: 1, prev_hash: null });
        expect(sha256Hex(e.canonical)).toBe(e.hash);
      }
      for (const u of users) {
        const page = await jobs.list({ ownerId: u, first: 100 });
        expect(page.edges).toHaveLength(5);
        expect(page.edges.every((e) => e.node.ownerId === u)).toBe(true);
      }
    });

    test('concurrent creates committed together: one whose audit append fails fails alone, the others are written with their events', async () => {
      // Creates that arrive while one is being written share a transaction (jobs/create.ts);
      // a failure in that transaction must not take the other jobs with it.
      await store.db.exec(`
        CREATE FUNCTION test_refuse_one() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.after->>'title' = 'refused' THEN RAISE EXCEPTION 'injected failure'; END IF;
          RETURN NEW;
        END $$;
        CREATE TRIGGER test_refuse_one BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION test_refuse_one();`);
      try {
        const owner = actor('user_group');
        const titles = Array.from({ length: 20 }, (_, i) => (i === 7 ? 'refused' : `grouped ${i}`));
        const outcomes = await Promise.allSettled(titles.map((title) => jobs.create(owner, { title, ursDocument: DOC })));
        expect(outcomes.map((o) => o.status)).toEqual(titles.map((t) => (t === 'refused' ? 'rejected' : 'fulfilled')));
        const created = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
        for (const j of created) {
          const [e, ...more] = await eventsOf(j.id);
          expect(more).toEqual([]);
          expect(e).toMatchObject({ action: 'job.created', stream_seq: 1, prev_hash: null });
          expect(sha256Hex(e.canonical)).toBe(e.hash);
          expect(JSON.parse(e.canonical)).toMatchObject({ jobId: j.id, occurredAt: j.createdAt.toISOString(), after: { title: j.title } });
        }
        const rows = await store.db.query<{ title: string }>('SELECT title FROM jobs WHERE owner_id = $1', ['user_group']);
        expect(rows.rows.map((r) => r.title).sort()).toEqual(titles.filter((t) => t !== 'refused').sort());
      } finally {
        await store.db.exec('DROP TRIGGER IF EXISTS test_refuse_one ON audit_events; DROP FUNCTION IF EXISTS test_refuse_one();');
      }
    });

    test('two concurrent cancels: exactly one succeeds, the other gets CONFLICT, one cancel event', async () => {
      const job = await jobs.create(actor('user_x'), { title: 'race', ursDocument: DOC });
      const results = await Promise.all([
        codeOf(jobs.cancel(actor('user_x'), job.id, 'first', { asAdmin: false })),
        codeOf(jobs.cancel(actor('user_x'), job.id, 'second', { asAdmin: false })),
      ]);
      expect(results.sort()).toEqual(['CONFLICT', 'ok']);
      const events = await eventsOf(job.id);
      expect(events.map((e) => e.action)).toEqual(['job.created', 'job.cancelled']);
      expect(events[1].prev_hash).toBe(events[0].hash);
    });

    test('worker and cancel racing on the same jobs never produce an illegal transition', async () => {
      const owner = actor('user_race');
      const created = await Promise.all(Array.from({ length: 12 }, (_, i) => jobs.create(owner, { title: `r${i}`, ursDocument: DOC })));
      await Promise.all([
        ...created.map((j) => codeOf(jobs.cancel(owner, j.id, 'changed my mind', { asAdmin: false }))),
        ...Array.from({ length: 12 }, async () => {
          const claimed = await jobs.claimNext(SYSTEM_WORKER, 'w1');
          if (claimed) await jobs.finish(SYSTEM_WORKER, claimed.id, { result: { requirementCount: 1, testCases: [] } });
        }),
      ]);
      const legal = [
        ['job.created', 'job.cancelled'],
        ['job.created', 'job.started', 'job.cancelled'],
        ['job.created', 'job.started', 'job.completed'],
      ].map((a) => a.join(','));
      for (const j of created) {
        const events = await eventsOf(j.id);
        expect(legal).toContain(events.map((e) => e.action).join(','));
        events.forEach((e, i) => {
          expect(e.stream_seq).toBe(i + 1);
          expect(e.prev_hash).toBe(i === 0 ? null : events[i - 1].hash);
        });
        const final = await jobs.get(j.id);
        expect(['CANCELLED', 'COMPLETED']).toContain(final!.status);
      }
    });

    test('idempotency: a retry returns the same job and writes no second event; another payload is CONFLICT', async () => {
      const a = actor('user_idem');
      const input = { title: 'idem', ursDocument: DOC, idempotencyKey: 'key-1' };
      const results = await Promise.all(Array.from({ length: 8 }, () => jobs.create(a, input)));
      expect(new Set(results.map((j) => j.id)).size).toBe(1);
      expect((await eventsOf(results[0].id)).length).toBe(1);
      expect(await codeOf(jobs.create(a, { ...input, title: 'other' }))).toBe('CONFLICT');
      // Keys are scoped to the caller: the same key from someone else is a separate job.
      const other = await jobs.create(actor('user_other'), input);
      expect(other.id).not.toBe(results[0].id);
      // After expiry the key starts over.
      await store.db.query("UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = 'key-1'");
      const fresh = await jobs.create(a, { ...input, title: 'after expiry' });
      expect(fresh.id).not.toBe(results[0].id);
    });

    test('a failing audit append rolls the change back', async () => {
      await store.db.exec(`
        CREATE FUNCTION fail_audit() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW.after->>'title' = 'FAIL-AUDIT' OR NEW.action = 'job.cancelled' THEN RAISE EXCEPTION 'audit store down'; END IF; RETURN NEW; END $$;
        CREATE TRIGGER fail_audit BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION fail_audit();`);
      try {
        const a = actor('user_atomic');
        await expect(jobs.create(a, { title: 'FAIL-AUDIT', ursDocument: DOC })).rejects.toThrow('audit store down');
        const none = await store.db.query("SELECT 1 FROM jobs WHERE title = 'FAIL-AUDIT'");
        expect(none.rowCount).toBe(0);
        const job = await jobs.create(a, { title: 'keeps', ursDocument: DOC });
        await expect(jobs.cancel(a, job.id, 'why', { asAdmin: false })).rejects.toThrow('audit store down');
        expect((await jobs.get(job.id))!.status).toBe('PENDING');
      } finally {
        await store.db.exec('DROP TRIGGER fail_audit ON audit_events; DROP FUNCTION fail_audit();');
      }
    });

    test('the database refuses UPDATE, DELETE and TRUNCATE on audit events, even as replica', async () => {
      await jobs.create(actor('user_ro'), { title: 'ro', ursDocument: DOC });
      for (const sql of ["UPDATE audit_events SET reason = 'x'", 'DELETE FROM audit_events', 'TRUNCATE audit_events']) {
        await expect(store.db.query(sql)).rejects.toThrow(/append-only/);
        await expect(
          store.db.transaction(async (tx) => {
            await tx.query('SET LOCAL session_replication_role = replica');
            await tx.query(sql);
          }),
        ).rejects.toThrow(/append-only/);
      }
    });

    test('keyset pages are stable while rows are added in front', async () => {
      const a = actor('user_pages');
      for (let i = 0; i < 7; i++) await jobs.create(a, { title: `p${i}`, ursDocument: DOC });
      const first = await jobs.list({ ownerId: 'user_pages', first: 3 });
      await jobs.create(a, { title: 'newest', ursDocument: DOC });
      const second = await jobs.list({ ownerId: 'user_pages', first: 3, after: first.pageInfo.endCursor });
      const third = await jobs.list({ ownerId: 'user_pages', first: 3, after: second.pageInfo.endCursor });
      const titles = [...first.edges, ...second.edges, ...third.edges].map((e) => e.node.title);
      expect(titles).toEqual(['p6', 'p5', 'p4', 'p3', 'p2', 'p1', 'p0']);
      expect(third.pageInfo.hasNextPage).toBe(false);
    });
  });
}
