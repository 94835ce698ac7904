import { createHash } from 'node:crypto';
import { startTestServer, type TestServer } from './helpers/server';
import { CANCEL_JOB, countRows, CREATE_JOB, createJob, jobRow, onlyError, URS } from './helpers/jobQueries';
import { describeStore, STORE_KINDS } from './helpers/stores';

for (const kind of STORE_KINDS) {
  describeStore(kind, () => {
    const EVENTS = `query($jobId: ID) {
  auditEvents(jobId: $jobId) { edges { node {
    id action occurredAt actorId actorEmail sessionId tokenIssuedAt impersonatorId jobId reason before after
    requestId ip userAgent hash prevHash
  } } }
}`;

    let s: TestServer;
    let auditor: string;
    beforeAll(async () => {
      s = await startTestServer({}, { store: kind });
      auditor = await s.token('user_reviewer', { role: 'auditor' });
    });
    afterAll(async () => {
      await s?.close();
    });

    async function eventsOf(jobId: string): Promise<any[]> {
      const res = await s.gql(EVENTS, { jobId }, auditor);
      expect(res.body.errors).toBeUndefined();
      return res.body.data.auditEvents.edges.map((e: any) => e.node);
    }

    const iatOf = (token: string): number => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).iat;

    describe('what each event records', () => {
      let token: string;
      let jobId: string;
      let events: any[];
      let window: { before: number; after: number };
      const ua = 'jobledger-tests/1.0 (audit)';
      beforeAll(async () => {
        token = await s.token('user_carol', { email: 'carol@example.com', sessionId: 'sess_carol_1' });
        const before = Date.now();
        const created = await s.gql(CREATE_JOB, { input: { title: 'Audited job', ursDocument: URS } }, token, {
          'x-request-id': 'req-create-001',
          'user-agent': ua,
        });
        expect(created.headers.get('x-request-id')).toBe('req-create-001');
        jobId = created.body.data.createJob.id;
        const cancelled = await s.gql(CANCEL_JOB, { id: jobId, reason: 'Superseded by version 2' }, token, {
          'x-request-id': 'req-cancel-002',
          'user-agent': ua,
        });
        expect(cancelled.body.errors).toBeUndefined();
        window = { before, after: Date.now() };
        events = await eventsOf(jobId);
      });

      test('who: user, email, session and token issue time', () => {
        expect(events).toHaveLength(2);
        for (const e of events) {
          expect(e).toMatchObject({ actorId: 'user_carol', actorEmail: 'carol@example.com', sessionId: 'sess_carol_1', impersonatorId: null });
          expect(e.tokenIssuedAt).toBe(new Date(iatOf(token) * 1000).toISOString());
        }
      });

      test('what: action, job, before and after', () => {
        const [created, cancelled] = events;
        expect(created).toMatchObject({ action: 'job.created', jobId, before: null, reason: null });
        expect(created.after).toMatchObject({
          status: 'PENDING',
          title: 'Audited job',
          ursDocumentBytes: Buffer.byteLength(URS),
          ursDocumentSha256: createHash('sha256').update(URS).digest('hex'),
        });
        expect(cancelled).toMatchObject({
          action: 'job.cancelled',
          jobId,
          reason: 'Superseded by version 2',
          before: { status: 'PENDING' },
          after: { status: 'CANCELLED' },
        });
      });

      test('where: request id, ip and user agent', () => {
        expect(events.map((e) => e.requestId)).toEqual(['req-create-001', 'req-cancel-002']);
        for (const e of events) {
          expect(e.ip).toMatch(/^(::ffff:)?127\.0\.0\.1$/);
          expect(e.userAgent).toBe(ua);
        }
      });

      test('when: the database time of the change, within the requests, equal to the row times', async () => {
        const times = events.map((e) => Date.parse(e.occurredAt));
        for (const t of times) {
          expect(t).toBeGreaterThanOrEqual(window.before);
          expect(t).toBeLessThanOrEqual(window.after);
        }
        expect(times[1]).toBeGreaterThanOrEqual(times[0]);
        const row = await s.db.query<{ created_at: Date; updated_at: Date }>('SELECT created_at, updated_at FROM jobs WHERE id = $1', [jobId]);
        expect(times).toEqual([row.rows[0].created_at.getTime(), row.rows[0].updated_at.getTime()]);
      });

      test('chain: 64-hex hashes, the second links to the first, each hash is the SHA-256 of what was stored', async () => {
        const [first, second] = events;
        expect(first.hash).toMatch(/^[0-9a-f]{64}$/);
        expect(second.hash).toMatch(/^[0-9a-f]{64}$/);
        expect(first.prevHash).toBeNull();
        expect(second.prevHash).toBe(first.hash);
        const rows = await s.db.query<{ canonical: string; hash: string }>('SELECT canonical, hash FROM audit_events WHERE job_id = $1 ORDER BY seq', [jobId]);
        expect(rows.rows.map((r) => createHash('sha256').update(r.canonical).digest('hex'))).toEqual([first.hash, second.hash]);
        expect(JSON.parse(rows.rows[1].canonical)).toMatchObject({ reason: 'Superseded by version 2', requestId: 'req-cancel-002' });
      });

      test('an unusable x-request-id is replaced by one the server generates, and that one is recorded', async () => {
        const res = await s.gql(CREATE_JOB, { input: { title: 'Odd request id', ursDocument: URS } }, token, { 'x-request-id': 'has spaces; and <tags>' });
        const generated = res.headers.get('x-request-id');
        expect(generated).toMatch(/^[0-9a-f-]{36}$/);
        const [e] = await eventsOf(res.body.data.createJob.id);
        expect(e.requestId).toBe(generated);
      });
    });

    describe('atomicity: a failing audit append rolls the change back', () => {
      // Injected straight into the database: the application cannot tell it from a real failure
      // (disk full, constraint, lost connection) in the middle of its transaction.
      beforeAll(async () => {
        await s.db.exec(`
      CREATE FUNCTION test_inject_audit_failure() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.action = 'job.cancelled' OR NEW.after->>'title' LIKE '%FAIL-AUDIT%' THEN
          RAISE EXCEPTION 'injected failure: INSERT INTO audit_events refused';
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER test_inject_audit_failure BEFORE INSERT ON audit_events
        FOR EACH ROW EXECUTE FUNCTION test_inject_audit_failure();`);
      });
      afterAll(async () => {
        await s.db.exec('DROP TRIGGER IF EXISTS test_inject_audit_failure ON audit_events; DROP FUNCTION IF EXISTS test_inject_audit_failure();');
      });

      function expectMaskedInternalError(res: { body: { data?: unknown; errors?: any[] } }, requestId: string) {
        expect(res.body.data).toBeNull();
        const err = onlyError(res as never);
        expect(err.extensions).toEqual({ code: 'INTERNAL_SERVER_ERROR', requestId });
        expect(err.message).toMatch(/report the requestId/);
        // Nothing of the database or the code leaks: no SQL, no trigger text, no stack frames.
        expect(JSON.stringify(res.body)).not.toMatch(/injected|audit_events|INSERT|trigger|plpgsql|\.ts:\d|at \w+ \(/i);
      }

      test('createJob: INTERNAL_SERVER_ERROR with the request id; no job, no key, no event', async () => {
        const t = await s.token('user_atomic_create');
        const res = await s.gql(CREATE_JOB, { input: { title: 'FAIL-AUDIT report', ursDocument: URS, idempotencyKey: 'atomic-key' } }, t, {
          'x-request-id': 'req-fail-create',
        });
        expectMaskedInternalError(res, 'req-fail-create');
        expect(await countRows(s, `SELECT count(*) AS n FROM jobs WHERE owner_id = 'user_atomic_create'`)).toBe(0);
        expect(await countRows(s, `SELECT count(*) AS n FROM idempotency_keys WHERE owner_id = 'user_atomic_create'`)).toBe(0);
        expect(await countRows(s, `SELECT count(*) AS n FROM audit_events WHERE actor_id = 'user_atomic_create'`)).toBe(0);
      });

      test('cancelJob: INTERNAL_SERVER_ERROR; the job is still PENDING and unchanged', async () => {
        const t = await s.token('user_atomic_cancel');
        const id = await createJob(s, t, 'Cancel fails to audit');
        const before = await s.db.query('SELECT status, updated_at FROM jobs WHERE id = $1', [id]);
        const res = await s.gql(CANCEL_JOB, { id, reason: 'Should not stick' }, t, { 'x-request-id': 'req-fail-cancel' });
        expectMaskedInternalError(res, 'req-fail-cancel');
        const after = await s.db.query('SELECT status, updated_at FROM jobs WHERE id = $1', [id]);
        expect(after.rows).toEqual(before.rows);
        expect(after.rows[0]).toMatchObject({ status: 'PENDING' });
        expect(await countRows(s, 'SELECT count(*) AS n FROM audit_events WHERE job_id = $1', [id])).toBe(1);
      });

      test('once the failure is gone, the same idempotency key creates the job: the failed attempt left no claim', async () => {
        await s.db.exec('DROP TRIGGER test_inject_audit_failure ON audit_events');
        const t = await s.token('user_atomic_create');
        const id = await createJob(s, t, 'FAIL-AUDIT report', URS, 'atomic-key');
        expect((await jobRow(s, id))?.status).toBe('PENDING');
        expect(await countRows(s, 'SELECT count(*) AS n FROM audit_events WHERE job_id = $1', [id])).toBe(1);
      });
    });

    describe('the database refuses to rewrite history', () => {
      let jobId: string;
      let eventCount: number;
      beforeAll(async () => {
        const t = await s.token('user_history');
        jobId = await createJob(s, t, 'History');
        // Row triggers fire only for rows that exist: make sure the table is not empty.
        eventCount = await countRows(s, 'SELECT count(*) AS n FROM audit_events');
        expect(eventCount).toBeGreaterThan(0);
      });

      const tamper: [string, string][] = [
        ['UPDATE', `UPDATE audit_events SET reason = 'rewritten'`],
        ['DELETE', 'DELETE FROM audit_events'],
        ['TRUNCATE', 'TRUNCATE audit_events'],
      ];

      const unchanged = async () => {
        expect(await countRows(s, 'SELECT count(*) AS n FROM audit_events')).toBe(eventCount);
        expect(await countRows(s, `SELECT count(*) AS n FROM audit_events WHERE reason = 'rewritten'`)).toBe(0);
      };

      test.each(tamper)('%s on audit_events throws', async (_op, sql) => {
        await expect(s.db.query(sql)).rejects.toThrow(/append-only/);
        await unchanged();
      });

      test.each(tamper)('%s on audit_events throws even with session_replication_role = replica', async (_op, sql) => {
        await expect(
          s.db.transaction(async (tx) => {
            // LOCAL: should the statement wrongly succeed, the role still ends with the transaction.
            await tx.query('SET LOCAL session_replication_role = replica');
            const role = await tx.query<{ session_replication_role: string }>('SHOW session_replication_role');
            expect(role.rows[0].session_replication_role).toBe('replica');
            await tx.query(sql);
          }),
        ).rejects.toThrow(/append-only/);
        await unchanged();
      });

      test('DELETE on jobs throws and the job stays', async () => {
        await expect(s.db.query('DELETE FROM jobs WHERE id = $1', [jobId])).rejects.toThrow(/never deleted/);
        expect(await jobRow(s, jobId)).toBeDefined();
      });

      test('illegal status transitions are refused by the trigger', async () => {
        const t = await s.token('user_history');
        const done = await createJob(s, t, 'Completed by hand');
        // Legal steps, straight in SQL, to reach COMPLETED without a worker.
        await s.db.query(`UPDATE jobs SET status = 'RUNNING' WHERE id = $1`, [done]);
        await s.db.query(`UPDATE jobs SET status = 'COMPLETED' WHERE id = $1`, [done]);
        const cancelled = await createJob(s, t, 'Cancelled');
        expect((await s.gql(CANCEL_JOB, { id: cancelled, reason: 'test' }, t)).body.errors).toBeUndefined();

        for (const [id, from] of [[done, 'COMPLETED'], [cancelled, 'CANCELLED']]) {
          await expect(s.db.query(`UPDATE jobs SET status = 'PENDING' WHERE id = $1`, [id])).rejects.toThrow(/illegal status transition/);
          await expect(s.db.query(`UPDATE jobs SET status = 'RUNNING' WHERE id = $1`, [id])).rejects.toThrow(/illegal status transition/);
          expect((await jobRow(s, id))?.status).toBe(from);
        }
        await expect(s.db.query(`UPDATE jobs SET title = 'renamed' WHERE id = $1`, [jobId])).rejects.toThrow(/immutable/);
      });

      test('the jobs guards hold under session_replication_role = replica too', async () => {
        const asReplica = (sql: string) =>
          s.db.transaction(async (tx) => {
            await tx.query('SET LOCAL session_replication_role = replica');
            await tx.query(sql, [jobId]);
          });
        await expect(asReplica('DELETE FROM jobs WHERE id = $1')).rejects.toThrow(/never deleted/);
        await expect(asReplica(`UPDATE jobs SET title = 'renamed' WHERE id = $1`)).rejects.toThrow(/immutable/);
        await expect(asReplica(`UPDATE jobs SET status = 'COMPLETED' WHERE id = $1 AND status = 'PENDING'`)).rejects.toThrow(/illegal status transition/);
        expect(await jobRow(s, jobId)).toBeDefined();
      });
    });
  });
}
