import { startTestServer, type GqlResponse, type TestServer } from './helpers/server';
import { AUDIT_EVENTS, CANCEL_JOB, countRows, CREATE_JOB, createJob, GET_JOB, jobRow, LIST_JOBS, onlyError, URS } from './helpers/jobQueries';
import { describeStore, STORE_KINDS } from './helpers/stores';

for (const kind of STORE_KINDS) {
  describeStore(kind, () => {
    let s: TestServer;
    let alice: string;
    let bob: string;
    let auditor: string;
    let admin: string;
    beforeAll(async () => {
      s = await startTestServer({}, { store: kind });
      alice = await s.token('user_alice', { email: 'alice@example.com' });
      bob = await s.token('user_bob', { email: 'bob@example.com' });
      auditor = await s.token('user_qa', { role: 'auditor' });
      admin = await s.token('user_root', { role: 'admin' });
    });
    afterAll(async () => {
      await s?.close();
    });

    /** The access.denied events an auditor sees for one actor and job. */
    async function denials(actorId: string, jobId: string) {
      const res = await s.gql(AUDIT_EVENTS, { actorId, action: 'access.denied', first: 100 }, auditor);
      expect(res.body.errors).toBeUndefined();
      return res.body.data.auditEvents.edges.map((e: any) => e.node).filter((n: any) => n.jobId === jobId);
    }

    async function allJobs(token: string): Promise<{ id: string; ownerId: string }[]> {
      const out: { id: string; ownerId: string }[] = [];
      let after: string | null = null;
      for (;;) {
        const res: GqlResponse<any> = await s.gql(LIST_JOBS, { first: 100, after }, token);
        expect(res.body.errors).toBeUndefined();
        out.push(...res.body.data.jobs.edges.map((e: any) => e.node));
        if (!res.body.data.jobs.pageInfo.hasNextPage) return out;
        after = res.body.data.jobs.pageInfo.endCursor;
      }
    }

    describe('owner isolation', () => {
      test("another user reading A's job -> 403 FORBIDDEN, no data, and the attempt is audited", async () => {
        const id = await createJob(s, alice, 'Alice private');
        const res = await s.gql(GET_JOB, { id }, bob);
        expect(res.status).toBe(403);
        expect(res.body.data).toEqual({ job: null });
        expect(onlyError(res).extensions.code).toBe('FORBIDDEN');
        expect(JSON.stringify(res.body)).not.toContain('Alice private');
        const events = await denials('user_bob', id);
        expect(events).toHaveLength(1);
        expect(events[0]).toMatchObject({ actorId: 'user_bob', jobId: id, action: 'access.denied', after: { operation: 'read' } });
      });

      test("B's job list never contains A's jobs", async () => {
        for (let i = 0; i < 3; i++) await createJob(s, alice, `Alice list ${i}`);
        const bobIds = [await createJob(s, bob, 'Bob 1'), await createJob(s, bob, 'Bob 2')];
        const listed = await allJobs(bob);
        expect(listed.map((j) => j.id).sort()).toEqual([...bobIds].sort());
        expect(listed.every((j) => j.ownerId === 'user_bob')).toBe(true);
        for (const status of ['PENDING', 'CANCELLED']) {
          const res = await s.gql(LIST_JOBS, { status }, bob);
          expect(res.body.data.jobs.edges.every((e: any) => e.node.ownerId === 'user_bob')).toBe(true);
        }
      });

      test("B cancelling A's job -> 403 FORBIDDEN, the job unchanged, the attempt audited", async () => {
        const id = await createJob(s, alice, 'Alice keeps this');
        const res = await s.gql(CANCEL_JOB, { id, reason: 'I do not like it' }, bob);
        expect(res.status).toBe(403);
        expect(onlyError(res).extensions.code).toBe('FORBIDDEN');
        expect((await jobRow(s, id))?.status).toBe('PENDING');
        expect(await countRows(s, `SELECT count(*) AS n FROM audit_events WHERE job_id = $1 AND action <> 'access.denied'`, [id])).toBe(1);
        const events = await denials('user_bob', id);
        expect(events.map((e: any) => e.after.operation)).toEqual(['cancel']);
      });

      test.each([
        ['an unknown job id', '00000000-0000-4000-8000-000000000000'],
        ['a non-UUID id', 'not-a-uuid'],
      ])('%s -> job: null, no error, nothing audited', async (_n, id) => {
        const deniedSql = `SELECT count(*) AS n FROM audit_events WHERE action = 'access.denied' AND actor_id = 'user_bob'`;
        const before = await countRows(s, deniedSql);
        const res = await s.gql(GET_JOB, { id }, bob);
        expect(res.status).toBe(200);
        expect(res.body).toEqual({ data: { job: null } });
        expect(await countRows(s, deniedSql)).toBe(before);
      });
    });

    describe('HTTP status rule', () => {
      test('partial data beside a FORBIDDEN error -> 200', async () => {
        const id = await createJob(s, alice, 'Partial');
        const res = await s.gql(`query($id: ID!) { viewer { userId } job(id: $id) { id } }`, { id }, bob);
        expect(res.status).toBe(200);
        expect(res.body.data).toEqual({ viewer: { userId: 'user_bob' }, job: null });
        expect(onlyError(res).extensions.code).toBe('FORBIDDEN');
      });

      test('only FORBIDDEN errors and no data -> 403; no data with another error code -> 200', async () => {
        const [a1, a2] = [await createJob(s, alice, 'A1'), await createJob(s, alice, 'A2')];
        const twoDenied = await s.gql(`query($a: ID!, $b: ID!) { a: job(id: $a) { id } b: job(id: $b) { id } }`, { a: a1, b: a2 }, bob);
        expect(twoDenied.status).toBe(403);
        expect(twoDenied.body.errors?.map((e) => e.extensions.code)).toEqual(['FORBIDDEN', 'FORBIDDEN']);
        // jobs is non-null, so its BAD_USER_INPUT nulls all of data.
        const mixed = await s.gql(`query($a: ID!, $n: Int) { job(id: $a) { id } jobs(first: $n) { edges { cursor } } }`, { a: a1, n: 1000 }, bob);
        expect(mixed.body.data).toBeNull();
        // graphql-js may drop the sibling's FORBIDDEN once data is nulled; either way not every error is FORBIDDEN.
        expect(mixed.body.errors?.map((e) => e.extensions.code)).toContain('BAD_USER_INPUT');
        expect(mixed.status).toBe(200);
      });
    });

    describe('roles', () => {
      test("an auditor reads any job and lists everyone's jobs, without a denial being recorded", async () => {
        const a = await createJob(s, alice, 'Seen by QA');
        const b = await createJob(s, bob, 'Also seen by QA');
        const res = await s.gql(GET_JOB, { id: a }, auditor);
        expect(res.body.errors).toBeUndefined();
        expect(res.body.data.job).toMatchObject({ id: a, ownerId: 'user_alice' });
        const ids = (await allJobs(auditor)).map((j) => j.id);
        expect(ids).toEqual(expect.arrayContaining([a, b]));
        expect(await countRows(s, `SELECT count(*) AS n FROM audit_events WHERE action = 'access.denied' AND actor_id = 'user_qa'`)).toBe(0);
      });

      test("an auditor cannot cancel someone else's job", async () => {
        const id = await createJob(s, alice, 'Not for QA to cancel');
        const res = await s.gql(CANCEL_JOB, { id, reason: 'QA says no' }, auditor);
        expect(res.status).toBe(403);
        expect(onlyError(res).extensions.code).toBe('FORBIDDEN');
        expect((await jobRow(s, id))?.status).toBe('PENDING');
        expect((await denials('user_qa', id)).map((e: any) => e.after.operation)).toEqual(['cancel']);
      });

      test("an admin cancels anyone's job, and the admin is the recorded actor", async () => {
        const id = await createJob(s, alice, 'Admin cancels this');
        const res = await s.gql(CANCEL_JOB, { id, reason: 'Duplicate submission' }, admin);
        expect(res.body.errors).toBeUndefined();
        expect(res.body.data.cancelJob.status).toBe('CANCELLED');
        const trail = await s.gql(AUDIT_EVENTS, { jobId: id, action: 'job.cancelled' }, admin);
        expect(trail.body.data.auditEvents.edges.map((e: any) => e.node)).toMatchObject([
          { actorId: 'user_root', reason: 'Duplicate submission', jobId: id },
        ]);
      });

      test('a plain user asking for auditEvents -> 403 FORBIDDEN, and the attempt is audited once per request with the refused field', async () => {
        const carol = await s.token('user_carol', { email: 'carol@example.com' });
        const res = await s.gql(AUDIT_EVENTS, {}, carol);
        expect(res.status).toBe(403);
        expect(res.body.data).toBeNull();
        expect(onlyError(res).extensions.code).toBe('FORBIDDEN');
        // Asking twice in one request (aliases) is one attempt.
        const twice = await s.gql('{ a: auditEvents { edges { node { id } } } b: auditEvents(first: 1) { edges { node { id } } } }', {}, carol);
        expect(twice.status).toBe(403);
        const trail = await s.gql(AUDIT_EVENTS, { actorId: 'user_carol', action: 'access.denied', first: 100 }, auditor);
        expect(trail.body.errors).toBeUndefined();
        const events = trail.body.data.auditEvents.edges.map((e: any) => e.node);
        expect(events).toHaveLength(2);
        for (const e of events) {
          expect(e).toMatchObject({ actorId: 'user_carol', jobId: null, after: { operation: 'read', field: 'Query.auditEvents' } });
        }
      });
    });

    describe('auditEvents filters and pagination (auditor)', () => {
      let jobId: string;
      let events: any[];
      beforeAll(async () => {
        jobId = await createJob(s, alice, 'Filter me');
        const c = await s.gql(CANCEL_JOB, { id: jobId, reason: 'Filter test' }, alice);
        expect(c.body.errors).toBeUndefined();
        events = (await s.gql(AUDIT_EVENTS, { jobId }, auditor)).body.data.auditEvents.edges.map((e: any) => e.node);
      });

      test('jobId returns exactly that job’s events, oldest first', () => {
        expect(events.map((e) => [e.action, e.jobId])).toEqual([['job.created', jobId], ['job.cancelled', jobId]]);
      });

      test('actorId and action narrow the list', async () => {
        const res = await s.gql(AUDIT_EVENTS, { actorId: 'user_alice', action: 'job.cancelled', first: 100 }, auditor);
        const nodes = res.body.data.auditEvents.edges.map((e: any) => e.node);
        expect(nodes.map((n: any) => n.jobId)).toContain(jobId);
        expect(nodes.every((n: any) => n.actorId === 'user_alice' && n.action === 'job.cancelled')).toBe(true);
        const none = await s.gql(AUDIT_EVENTS, { actorId: 'user_nobody' }, auditor);
        expect(none.body.data.auditEvents).toEqual({ edges: [], pageInfo: { hasNextPage: false, endCursor: null } });
      });

      test('from is inclusive and to exclusive', async () => {
        const [created, cancelled] = events;
        const window = await s.gql(AUDIT_EVENTS, { jobId, from: created.occurredAt, to: cancelled.occurredAt }, auditor);
        const actions = window.body.data.auditEvents.edges.map((e: any) => e.node.action);
        // Both events may share a millisecond; then `to` excludes both, otherwise only the cancellation.
        expect(actions).toEqual(created.occurredAt === cancelled.occurredAt ? [] : ['job.created']);
        const fromCancel = await s.gql(AUDIT_EVENTS, { jobId, from: cancelled.occurredAt }, auditor);
        expect(fromCancel.body.data.auditEvents.edges.map((e: any) => e.node.action)).toContain('job.cancelled');
        const future = await s.gql(AUDIT_EVENTS, { jobId, from: '2999-01-01T00:00:00Z' }, auditor);
        expect(future.body.data.auditEvents.edges).toEqual([]);
      });

      test('first/after page through without overlap', async () => {
        const p1 = (await s.gql(AUDIT_EVENTS, { jobId, first: 1 }, auditor)).body.data.auditEvents;
        expect(p1.edges.map((e: any) => e.node.id)).toEqual([events[0].id]);
        expect(p1.pageInfo.hasNextPage).toBe(true);
        const p2 = (await s.gql(AUDIT_EVENTS, { jobId, first: 1, after: p1.pageInfo.endCursor }, auditor)).body.data.auditEvents;
        expect(p2.edges.map((e: any) => e.node.id)).toEqual([events[1].id]);
        expect(p2.pageInfo.hasNextPage).toBe(false);
        for (const vars of [{ first: 1000 }, { after: 'bogus' }]) {
          expect(onlyError(await s.gql(AUDIT_EVENTS, vars, auditor)).extensions.code).toBe('BAD_USER_INPUT');
        }
      });

      test('a jobId that is not a UUID matches nothing (it is not a server error)', async () => {
        const res = await s.gql(AUDIT_EVENTS, { jobId: 'not-a-uuid' }, auditor);
        expect(res.body.errors).toBeUndefined();
        expect(res.body.data.auditEvents.edges).toEqual([]);
      });
    });

    describe('anonymous callers', () => {
      const someId = '00000000-0000-4000-8000-000000000000';
      test.each([
        ['viewer', `{ viewer { userId } }`, {}],
        ['job', `query($id: ID!) { job(id: $id) { id } }`, { id: someId }],
        ['jobs', `{ jobs { edges { cursor } } }`, {}],
        ['auditEvents', `{ auditEvents { edges { cursor } } }`, {}],
        ['createJob', CREATE_JOB, { input: { title: 'anon', ursDocument: URS } }],
        ['cancelJob', CANCEL_JOB, { id: someId, reason: 'anon' }],
      ])('%s -> 401 UNAUTHENTICATED, nothing stored', async (_n, query, vars) => {
        const before = await countRows(s, 'SELECT count(*) AS n FROM jobs');
        const res = await s.gql(query, vars, null);
        expect(res.status).toBe(401);
        expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
        expect(res.body.errors?.every((e) => e.extensions.code === 'UNAUTHENTICATED')).toBe(true);
        expect(res.body.errors?.length).toBeGreaterThan(0);
        expect(await countRows(s, 'SELECT count(*) AS n FROM jobs')).toBe(before);
      });
    });
  });
}
