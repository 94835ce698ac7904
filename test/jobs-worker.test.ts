import { startTestServer, type TestServer } from './helpers/server';
import { createJob, URS } from './helpers/jobQueries';
import { describeStore, STORE_KINDS } from './helpers/stores';

for (const kind of STORE_KINDS) {
  describeStore(kind, () => {
    // Its own server: the other job suites keep the worker off so jobs stay PENDING while they test them.
    const JOB = `query($id: ID!) {
  job(id: $id) {
    id status error
    result { requirementCount testCases { id requirementId requirement title steps expectedResult } }
    auditTrail { action actorId actorEmail sessionId requestId before after hash prevHash }
  }
}`;

    describe('the job worker', () => {
      let s: TestServer;
      let token: string;
      beforeAll(async () => {
        s = await startTestServer({ WORKER_ENABLED: 'true', WORKER_POLL_MS: '50' }, { store: kind });
        token = await s.token('user_worker_client', { email: 'client@example.com' });
      });
      afterAll(async () => {
        await s?.close();
      });

      /** Waits for the worker to finish with the job, by the worker's own idle signal rather than a clock. */
      async function settled(id: string) {
        expect(s.worker).not.toBeNull();
        for (let i = 0; i < 20; i++) {
          await s.worker!.drain();
          const res = await s.gql(JOB, { id }, token);
          expect(res.body.errors).toBeUndefined();
          if (!['PENDING', 'RUNNING'].includes(res.body.data.job.status)) return res.body.data.job;
        }
        throw new Error(`job ${id} never left PENDING/RUNNING`);
      }

      test('a job moves PENDING -> RUNNING -> COMPLETED with test cases traced to the URS ids', async () => {
        const id = await createJob(s, token, 'Worker happy path', URS);
        const job = await settled(id);
        expect(job.status).toBe('COMPLETED');
        expect(job.error).toBeNull();
        expect(job.result.requirementCount).toBe(2);
        expect(job.result.testCases.map((tc: any) => tc.requirementId)).toEqual(['URS-001', 'URS-002']);
        for (const tc of job.result.testCases) {
          expect(tc.id).toBe(`TC-${tc.requirementId}`);
          expect(tc.title).toMatch(/^Verify that /);
          expect(tc.steps.length).toBeGreaterThan(0);
          expect(tc.expectedResult.length).toBeGreaterThan(0);
        }
        expect(job.result.testCases[0].requirement).toBe('The system shall record every change.');

        const trail = job.auditTrail;
        expect(trail.map((e: any) => [e.action, e.actorId])).toEqual([
          ['job.created', 'user_worker_client'],
          ['job.started', 'system:worker'],
          ['job.completed', 'system:worker'],
        ]);
        expect(trail.map((e: any) => [e.before?.status ?? null, e.after.status])).toEqual([
          [null, 'PENDING'],
          ['PENDING', 'RUNNING'],
          ['RUNNING', 'COMPLETED'],
        ]);
        // The worker acts on no one's behalf: no session, email or request is attributed to it.
        for (const e of trail.slice(1)) expect(e).toMatchObject({ actorEmail: null, sessionId: null, requestId: null });
        expect(trail[2].after.testCaseCount).toBe(2);
        expect(trail[1].prevHash).toBe(trail[0].hash);
        expect(trail[2].prevHash).toBe(trail[1].hash);
      });

      test('a document with no requirements -> FAILED with an error that says how to fix it', async () => {
        const id = await createJob(s, token, 'No requirements', 'Meeting notes.\nWe talked about the weather and lunch.');
        const job = await settled(id);
        expect(job.status).toBe('FAILED');
        expect(job.result).toBeNull();
        expect(job.error).toMatch(/contains no requirements.*URS-001/);
        expect(job.auditTrail.map((e: any) => [e.action, e.actorId, e.after.status])).toEqual([
          ['job.created', 'user_worker_client', 'PENDING'],
          ['job.started', 'system:worker', 'RUNNING'],
          ['job.failed', 'system:worker', 'FAILED'],
        ]);
        expect(job.auditTrail[2].after.error).toBe(job.error);
      });

      test('several jobs submitted together all finish, each exactly once', async () => {
        const ids = await Promise.all(Array.from({ length: 6 }, (_, i) => createJob(s, token, `Batch ${i}`, `REQ-${i} The system shall do thing ${i}.`)));
        for (const id of ids) {
          const job = await settled(id);
          expect(job.status).toBe('COMPLETED');
          expect(job.result.testCases.map((tc: any) => tc.requirementId)).toEqual([`REQ-${ids.indexOf(id)}`]);
          expect(job.auditTrail.filter((e: any) => e.action === 'job.started')).toHaveLength(1);
        }
      });

      test('a cancel racing the worker ends in one consistent state, never both cancelled and completed', async () => {
        // Who wins is up to the scheduler; what must hold either way is that the loser changes nothing.
        const id = await createJob(s, token, 'Cancel while the worker runs');
        const cancel = await s.gql(`mutation($id: ID!) { cancelJob(id: $id, reason: "Not needed") { status } }`, { id }, token);
        const job = await settled(id);
        const actions = job.auditTrail.map((e: any) => e.action);
        if (cancel.body.errors) {
          expect(cancel.body.errors[0].extensions.code).toBe('CONFLICT');
          expect(job.status).toBe('COMPLETED');
          expect(actions).not.toContain('job.cancelled');
        } else {
          expect(job.status).toBe('CANCELLED');
          expect(actions[actions.length - 1]).toBe('job.cancelled');
          expect(actions).not.toContain('job.completed');
          expect(job.result).toBeNull();
        }
      });
    });
  });
}
