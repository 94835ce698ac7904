import { startTestServer, type GqlResponse, type TestServer } from './helpers/server';
import { CANCEL_JOB, countRows, CREATE_JOB, createJob, jobRow, LIST_JOBS, onlyError, URS } from './helpers/jobQueries';
import { describeStore, STORE_KINDS } from './helpers/stores';

for (const kind of STORE_KINDS) {
  describeStore(kind, () => {
    let s: TestServer;
    beforeAll(async () => {
      s = await startTestServer({}, { store: kind });
    });
    afterAll(async () => {
      await s?.close();
    });

    test('a signed-in user creates a job and reads it back', async () => {
      const t = await s.token('user_alice', { email: 'alice@example.com' });
      const created = await s.gql(CREATE_JOB, { input: { title: 'Batch record review', ursDocument: URS } }, t);
      expect(created.status).toBe(200);
      expect(created.body.errors).toBeUndefined();
      const job = created.body.data.createJob;
      expect(job).toMatchObject({ ownerId: 'user_alice', title: 'Batch record review', status: 'PENDING', ursDocument: URS });
      const read = await s.gql(`query($id: ID!) { job(id: $id) { id title auditTrail { action actorId actorEmail } } }`, { id: job.id }, t);
      expect(read.body.data.job.id).toBe(job.id);
      expect(read.body.data.job.auditTrail).toEqual([{ action: 'job.created', actorId: 'user_alice', actorEmail: 'alice@example.com' }]);
    });

    describe('createJob validation', () => {
      const MiB = 1024 * 1024;
      // [case, input overrides, field, what the message must tell the caller]
      const cases: [string, Record<string, unknown>, string, RegExp][] = [
        ['empty title', { title: '' }, 'title', /title must be 1 to 200 characters/],
        ['blank title', { title: '   \t ' }, 'title', /title must be 1 to 200 characters/],
        ['title over 200 characters', { title: 'x'.repeat(201) }, 'title', /title must be 1 to 200 characters/],
        ['empty document', { ursDocument: '' }, 'ursDocument', /paste the URS text/],
        ['blank document', { ursDocument: '\n \n' }, 'ursDocument', /paste the URS text/],
        ['document over 1 MiB', { ursDocument: 'x'.repeat(MiB + 1) }, 'ursDocument', /1 MiB.*Split the document/],
        // 1 MiB is counted in bytes, not characters: 600 000 two-byte characters are too many.
        ['document over 1 MiB of UTF-8', { ursDocument: 'é'.repeat(600_000) }, 'ursDocument', /Split the document/],
        ['NUL in the document', { ursDocument: 'URS-001 The system shall\u0000 log.' }, 'ursDocument', /without NUL characters/],
        ['NUL in the title', { title: 'Re\u0000view' }, 'title', /without NUL characters/],
        ['empty idempotencyKey', { idempotencyKey: '' }, 'idempotencyKey', /printable characters \(a UUID works well\)/],
        ['idempotencyKey over 200 characters', { idempotencyKey: 'k'.repeat(201) }, 'idempotencyKey', /1 to 200 printable/],
        ['control character in idempotencyKey', { idempotencyKey: 'key\nwith-newline' }, 'idempotencyKey', /printable/],
      ];

      test.each(cases)('%s -> BAD_USER_INPUT on the field, nothing stored', async (name, overrides, field, advice) => {
        const user = `user_invalid_${name.replace(/\W+/g, '_')}`;
        const t = await s.token(user);
        const res = await s.gql(CREATE_JOB, { input: { title: 'Valid title', ursDocument: URS, ...overrides } }, t);
        expect(res.status).toBe(200);
        expect(res.body.data).toBeNull();
        const err = onlyError(res);
        expect(err.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
        expect(err.message).toMatch(advice);
        expect(await countRows(s, 'SELECT count(*) AS n FROM jobs WHERE owner_id = $1', [user])).toBe(0);
        expect(await countRows(s, 'SELECT count(*) AS n FROM audit_events WHERE actor_id = $1', [user])).toBe(0);
        expect(await countRows(s, 'SELECT count(*) AS n FROM idempotency_keys WHERE owner_id = $1', [user])).toBe(0);
      });

      test('the limits themselves are accepted: a 200-character title and a document of exactly 1 MiB', async () => {
        const t = await s.token('user_at_limits');
        const doc = `URS-001 The system shall accept large documents.\n${'x'.repeat(MiB - 49)}`;
        expect(Buffer.byteLength(doc)).toBe(MiB);
        const res = await s.gql(CREATE_JOB, { input: { title: 't'.repeat(200), ursDocument: doc, idempotencyKey: 'k'.repeat(200) } }, t);
        expect(res.body.errors).toBeUndefined();
        expect(res.body.data.createJob.status).toBe('PENDING');
      });
    });

    describe('jobs: keyset pagination and filters', () => {
      const owner = 'user_pager';
      let token: string;
      const titles = Array.from({ length: 25 }, (_, i) => `Paged job ${String(i).padStart(2, '0')}`);
      beforeAll(async () => {
        token = await s.token(owner);
        // Sequential, so creation order (and therefore "newest first") is known.
        for (const title of titles) await createJob(s, token, title);
      });

      test('pages of 10 walk all 25 jobs newest first, without duplicates or gaps', async () => {
        const seen: string[] = [];
        const pages: { n: number; hasNextPage: boolean }[] = [];
        let after: string | null = null;
        for (let i = 0; i < 5; i++) {
          const res: GqlResponse<any> = await s.gql(LIST_JOBS, { first: 10, after }, token);
          expect(res.body.errors).toBeUndefined();
          const { edges, pageInfo } = res.body.data.jobs;
          for (const e of edges) expect(e.node.ownerId).toBe(owner);
          seen.push(...edges.map((e: any) => e.node.title));
          pages.push({ n: edges.length, hasNextPage: pageInfo.hasNextPage });
          expect(pageInfo.endCursor).toBe(edges[edges.length - 1].cursor);
          if (!pageInfo.hasNextPage) break;
          after = pageInfo.endCursor;
        }
        expect(pages).toEqual([{ n: 10, hasNextPage: true }, { n: 10, hasNextPage: true }, { n: 5, hasNextPage: false }]);
        expect(seen).toEqual([...titles].reverse());
      });

      test('a page that ends exactly at the last job says there is no next page', async () => {
        const res = await s.gql(LIST_JOBS, { first: 25 }, token);
        expect(res.body.data.jobs.edges).toHaveLength(25);
        expect(res.body.data.jobs.pageInfo.hasNextPage).toBe(false);
        const first24 = await s.gql(LIST_JOBS, { first: 24 }, token);
        expect(first24.body.data.jobs.pageInfo.hasNextPage).toBe(true);
      });

      test.each([
        ['first: 1000000', { first: 1_000_000 }, 'first'],
        ['first: 101', { first: 101 }, 'first'],
        ['first: -1', { first: -1 }, 'first'],
        ['a bogus cursor', { after: 'not-a-cursor' }, 'after'],
        // A well-formed cursor of another list (audit events) must not be accepted for jobs.
        ['a cursor of another list', { after: Buffer.from('audit:1').toString('base64url') }, 'after'],
      ])('%s -> BAD_USER_INPUT', async (_name, vars, field) => {
        const res = await s.gql(LIST_JOBS, vars, token);
        expect(res.body.data).toBeNull();
        const err = onlyError(res);
        expect(err.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
        expect(err.message).toMatch(field === 'first' ? /between 0 and 100.*after/ : /endCursor/);
      });

      test('a literal first: 1000000 is BAD_USER_INPUT naming the argument, and no page is returned', async () => {
        const res = await s.gql(`{ jobs(first: 1000000) { edges { cursor } } }`, {}, token);
        expect(res.body.data).toBeNull();
        expect(onlyError(res).extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'first' });
      });

      test('status filter returns only jobs in that status', async () => {
        const t = await s.token('user_status_filter');
        const [a, b, c] = [await createJob(s, t, 'keep 1'), await createJob(s, t, 'cancel me'), await createJob(s, t, 'keep 2')];
        const cancelled = await s.gql(CANCEL_JOB, { id: b, reason: 'Submitted by mistake' }, t);
        expect(cancelled.body.errors).toBeUndefined();
        const ids = async (status: string) =>
          (await s.gql(LIST_JOBS, { status }, t)).body.data.jobs.edges.map((e: any) => e.node.id);
        expect(await ids('CANCELLED')).toEqual([b]);
        expect(await ids('PENDING')).toEqual([c, a]);
        expect(await ids('COMPLETED')).toEqual([]);
      });
    });

    describe('cancelJob', () => {
      const TRAIL = `query($id: ID!) { job(id: $id) { status auditTrail { action actorId reason before after } } }`;

      test('the owner cancels a PENDING job with a reason; it is recorded', async () => {
        const t = await s.token('user_canceller');
        const id = await createJob(s, t, 'to cancel');
        const res = await s.gql(CANCEL_JOB, { id, reason: '  Wrong document version  ' }, t);
        expect(res.body.errors).toBeUndefined();
        expect(res.body.data.cancelJob).toMatchObject({ id, status: 'CANCELLED' });
        const trail = (await s.gql(TRAIL, { id }, t)).body.data.job.auditTrail;
        expect(trail.map((e: any) => e.action)).toEqual(['job.created', 'job.cancelled']);
        expect(trail[1]).toMatchObject({
          actorId: 'user_canceller',
          reason: 'Wrong document version',
          before: { status: 'PENDING' },
          after: { status: 'CANCELLED' },
        });
        expect((await jobRow(s, id))?.status).toBe('CANCELLED');
      });

      test.each([['empty', ''], ['blank', '   ']])('%s reason -> BAD_USER_INPUT and the job stays PENDING', async (_n, reason) => {
        const t = await s.token('user_no_reason');
        const id = await createJob(s, t, 'no reason given');
        const err = onlyError(await s.gql(CANCEL_JOB, { id, reason }, t));
        expect(err.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'reason' });
        expect(err.message).toMatch(/say why/);
        expect((await jobRow(s, id))?.status).toBe('PENDING');
      });

      test('cancelling an already cancelled job -> CONFLICT, and no second event', async () => {
        const t = await s.token('user_double_cancel');
        const id = await createJob(s, t, 'cancel twice');
        expect((await s.gql(CANCEL_JOB, { id, reason: 'first' }, t)).body.errors).toBeUndefined();
        const err = onlyError(await s.gql(CANCEL_JOB, { id, reason: 'second' }, t));
        expect(err.extensions.code).toBe('CONFLICT');
        expect(err.message).toMatch(/CANCELLED.*only PENDING or RUNNING/);
        expect(await countRows(s, 'SELECT count(*) AS n FROM audit_events WHERE job_id = $1', [id])).toBe(2);
      });

      test.each([['an unknown id', '00000000-0000-4000-8000-000000000000'], ['a non-UUID id', 'job-123']])(
        'cancelling %s -> NOT_FOUND',
        async (_n, id) => {
          const t = await s.token('user_cancel_unknown');
          const err = onlyError(await s.gql(CANCEL_JOB, { id, reason: 'cleanup' }, t));
          expect(err.extensions.code).toBe('NOT_FOUND');
        },
      );
    });

    describe('idempotencyKey', () => {
      test('a retry returns the same job and appends no second event', async () => {
        const t = await s.token('user_idem');
        const input = { title: 'Idempotent', ursDocument: URS, idempotencyKey: 'f1b1c1d1-retry' };
        const first = await s.gql(CREATE_JOB, { input }, t);
        const again = await s.gql(CREATE_JOB, { input }, t);
        expect(again.body.errors).toBeUndefined();
        expect(again.body.data.createJob.id).toBe(first.body.data.createJob.id);
        expect(await countRows(s, 'SELECT count(*) AS n FROM jobs WHERE owner_id = $1', ['user_idem'])).toBe(1);
        expect(await countRows(s, 'SELECT count(*) AS n FROM audit_events WHERE job_id = $1', [first.body.data.createJob.id])).toBe(1);
      });

      test('concurrent requests with one key create one job', async () => {
        const t = await s.token('user_idem_race');
        const input = { title: 'Raced', ursDocument: URS, idempotencyKey: 'race-key' };
        const results = await Promise.all(Array.from({ length: 5 }, () => s.gql(CREATE_JOB, { input }, t)));
        const ids = new Set(results.map((r) => r.body.data?.createJob?.id));
        expect(ids.size).toBe(1);
        expect(await countRows(s, 'SELECT count(*) AS n FROM jobs WHERE owner_id = $1', ['user_idem_race'])).toBe(1);
      });

      test('the same key with a different payload -> CONFLICT, nothing new stored', async () => {
        const t = await s.token('user_idem_conflict');
        await createJob(s, t, 'Original', URS, 'shared-key');
        const err = onlyError(await s.gql(CREATE_JOB, { input: { title: 'Changed', ursDocument: URS, idempotencyKey: 'shared-key' } }, t));
        expect(err.extensions.code).toBe('CONFLICT');
        expect(err.message).toMatch(/Use a new key/);
        expect(await countRows(s, 'SELECT count(*) AS n FROM jobs WHERE owner_id = $1', ['user_idem_conflict'])).toBe(1);
      });

      test('keys are scoped per user: another user with the same key gets a separate job', async () => {
        const a = await s.token('user_idem_a');
        const b = await s.token('user_idem_b');
        const idA = await createJob(s, a, 'Same payload', URS, 'common-key');
        const resB = await s.gql(CREATE_JOB, { input: { title: 'Same payload', ursDocument: URS, idempotencyKey: 'common-key' } }, b);
        expect(resB.body.errors).toBeUndefined();
        expect(resB.body.data.createJob.id).not.toBe(idA);
        expect(resB.body.data.createJob.ownerId).toBe('user_idem_b');
      });
    });
  });
}
