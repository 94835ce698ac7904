import { startTestServer, type TestServer } from './helpers/server';
import { connect, graphqlErrors, subscribe, type Closed, type RecordedSubscription } from './helpers/wsClient';
import { describeStore, STORE_KINDS } from './helpers/stores';

for (const kind of STORE_KINDS) {
  describeStore(kind, () => {
    // jobUpdated over a real graphql-ws socket. graphql-shield does not guard `subscribe`, so every
    // access decision here is the subscription path's own and needs its own proof.
    // CLERK_CLOCK_SKEW_MS=0 lets a 2-second token expire on an open socket without a 5 s grace.

    const JOB_UPDATED = 'subscription($id: ID!) { jobUpdated(id: $id) { id ownerId status } }';
    const CREATE = 'mutation($input: CreateJobInput!) { createJob(input: $input) { id } }';
    const CANCEL = 'mutation($id: ID!, $reason: String!) { cancelJob(id: $id, reason: $reason) { status } }';

    let s: TestServer;
    let ownerToken: string;
    beforeAll(async () => {
      s = await startTestServer({ CLERK_CLOCK_SKEW_MS: '0' }, { store: kind });
      ownerToken = await s.token('user_sub_owner', { email: 'owner@example.com' });
    });
    afterAll(async () => {
      await s?.close();
    });

    async function createJob(title: string, token = ownerToken, ursDocument = 'URS-001 The system shall notify subscribers.'): Promise<string> {
      const res = await s.gql(CREATE, { input: { title, ursDocument } }, token);
      expect(res.body.errors).toBeUndefined();
      return res.body.data.createJob.id;
    }

    const statuses = (sub: RecordedSubscription) => sub.results.map((r) => r.data?.jobUpdated?.status).filter(Boolean);

    async function withSub<T>(sub: RecordedSubscription, body: (sub: RecordedSubscription) => Promise<T>): Promise<T> {
      try {
        return await body(sub);
      } finally {
        await sub.dispose();
      }
    }

    test('the owner receives the current state first, then the cancellation', async () => {
      const id = await createJob('follow me');
      await withSub(subscribe(s.port, { token: ownerToken }, JOB_UPDATED, { id }), async (sub) => {
        await sub.until(() => sub.results.length >= 1, 'the current state');
        expect(sub.results[0]).toEqual({ data: { jobUpdated: { id, ownerId: 'user_sub_owner', status: 'PENDING' } } });

        const cancelled = await s.gql(CANCEL, { id, reason: 'superseded by v2' }, ownerToken);
        expect(cancelled.body.data.cancelJob.status).toBe('CANCELLED');
        await sub.until(() => statuses(sub).includes('CANCELLED'), 'the CANCELLED update');
        expect(statuses(sub)).toEqual(['PENDING', 'CANCELLED']);
        expect(graphqlErrors(sub)).toEqual([]);
      });
    });

    test('another user is FORBIDDEN, receives nothing of the job, and the attempt is audited', async () => {
      const id = await createJob('private');
      const intruder = await s.token('user_sub_intruder', { email: 'intruder@example.com' });
      await withSub(subscribe(s.port, { token: intruder }, JOB_UPDATED, { id }), async (sub) => {
        await sub.until(() => graphqlErrors(sub).length > 0, 'the FORBIDDEN error');
        expect(graphqlErrors(sub).map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);

        // A change after the refusal must not reach the refused subscriber either.
        await s.gql(CANCEL, { id, reason: 'done with it' }, ownerToken);
        const witness = subscribe(s.port, { token: ownerToken }, JOB_UPDATED, { id });
        await withSub(witness, () => witness.until(() => statuses(witness).includes('CANCELLED'), 'the cancellation to be visible'));
        expect(sub.results.every((r) => r.data == null || r.data.jobUpdated == null)).toBe(true);
        expect(JSON.stringify(sub.results)).not.toContain('CANCELLED');
      });

      const auditor = await s.token('user_sub_auditor', { role: 'auditor' });
      const trail = await s.gql(
        'query($jobId: ID!) { auditEvents(jobId: $jobId, action: "access.denied") { edges { node { action actorId actorEmail jobId after } } } }',
        { jobId: id },
        auditor,
      );
      expect(trail.body.errors).toBeUndefined();
      const denied = trail.body.data.auditEvents.edges.map((e: any) => e.node);
      expect(denied).toContainEqual({ action: 'access.denied', actorId: 'user_sub_intruder', actorEmail: 'intruder@example.com', jobId: id, after: { operation: 'subscribe', field: 'Subscription.jobUpdated' } });
    });

    test('a refused subscription to an id that names no job is on the record too', async () => {
      const intruder = await s.token('user_sub_prober', { email: 'prober@example.com' });
      const missing = '00000000-0000-4000-8000-00000000beef';
      const requestIds: string[] = [];
      for (const id of [missing, 'not-a-job-id']) {
        await withSub(subscribe(s.port, { token: intruder }, JOB_UPDATED, { id }), async (sub) => {
          await sub.until(() => graphqlErrors(sub).length > 0, 'the FORBIDDEN error');
          expect(graphqlErrors(sub).map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);
          // The WebSocket FORBIDDEN carries a requestId, the one its audit event records.
          requestIds.push(graphqlErrors(sub)[0].extensions?.requestId as string);
        });
      }
      expect(requestIds.every((r) => typeof r === 'string' && r.length > 0)).toBe(true);
      const recorded = await s.db.query<{ request_id: string }>(`SELECT request_id FROM audit_events WHERE actor_id = 'user_sub_prober' ORDER BY seq`);
      expect(recorded.rows.map((r) => r.request_id)).toEqual(requestIds);
      const auditor = await s.token('user_sub_auditor2', { role: 'auditor' });
      const trail = await s.gql(
        'query($actorId: ID!) { auditEvents(actorId: $actorId, action: "access.denied") { edges { node { actorId jobId after } } } }',
        { actorId: 'user_sub_prober' },
        auditor,
      );
      expect(trail.body.errors).toBeUndefined();
      const denied = trail.body.data.auditEvents.edges.map((e: any) => e.node);
      expect(denied).toHaveLength(2);
      expect(denied).toContainEqual({ actorId: 'user_sub_prober', jobId: missing, after: { operation: 'subscribe', field: 'Subscription.jobUpdated' } });
      expect(denied).toContainEqual({ actorId: 'user_sub_prober', jobId: null, after: { operation: 'subscribe', field: 'Subscription.jobUpdated', target: 'not-a-job-id' } });
    });

    test('an anonymous socket may connect but subscribing is UNAUTHENTICATED', async () => {
      const id = await createJob('anon target');
      await withSub(subscribe(s.port, {}, JOB_UPDATED, { id }), async (sub) => {
        await sub.until(() => graphqlErrors(sub).length > 0, 'the UNAUTHENTICATED error');
        expect(graphqlErrors(sub).map((e) => e.extensions)).toEqual([{ code: 'UNAUTHENTICATED', reason: 'token-missing', requestId: expect.any(String) }]);
        expect(sub.results.every((r) => r.data == null || r.data.jobUpdated == null)).toBe(true);
      });
    });

    describe('a refused token closes the socket at connect with 4401 and the reason', () => {
      const cases: [string, () => Promise<string>, string][] = [
        ['a tampered signature', async () => `${ownerToken.slice(0, -6)}AAAAAA`, 'token-invalid-signature'],
        ['an expired token', () => s.token('user_sub_owner', { ttlSeconds: -60 }), 'token-expired'],
        ['not a JWT', async () => 'not-a-jwt', 'token-malformed'],
        ['another issuer', () => s.token('user_sub_owner', { claims: { iss: 'https://evil.example.com' } }), 'token-invalid-issuer'],
      ];
      test.each(cases)('%s', async (_label, makeToken, reason) => {
        const closes: Closed[] = [];
        const nonLazyErrors: unknown[] = [];
        const client = connect(s.port, { token: await makeToken(), lazy: false }, (c) => closes.push(c), (e) => nonLazyErrors.push(e));
        try {
          const deadline = Date.now() + 10_000;
          while (closes.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
          expect(closes[0]).toEqual({ code: 4401, reason: `Unauthorized: ${reason}` });
          expect(nonLazyErrors).toHaveLength(1);
        } finally {
          await client.dispose();
        }
      });
    });

    test('an auditor and an admin can follow anyone\'s job', async () => {
      const id = await createJob('under review');
      for (const role of ['auditor', 'admin'] as const) {
        const token = await s.token(`user_sub_${role}`, { role });
        await withSub(subscribe(s.port, { token }, JOB_UPDATED, { id }), async (sub) => {
          await sub.until(() => sub.results.length >= 1, `the ${role}'s first result`);
          expect(sub.results[0]).toEqual({ data: { jobUpdated: { id, ownerId: 'user_sub_owner', status: 'PENDING' } } });
        });
      }
    });

    test('a socket is closed with 4401 token-expired once its token expires', async () => {
      const id = await createJob('short session');
      const shortLived = await s.token('user_sub_owner', { ttlSeconds: 2 });
      await withSub(subscribe(s.port, { token: shortLived }, JOB_UPDATED, { id }), async (sub) => {
        await sub.until(() => sub.results.length >= 1, 'the current state');
        expect(statuses(sub)).toEqual(['PENDING']);
        await sub.until(() => sub.closes.length > 0, 'the socket to close after the token expired');
        expect(sub.closes[0]).toEqual({ code: 4401, reason: 'Unauthorized: token-expired' });
      });
    });

    describe('document limits apply to subscriptions too', () => {
      test('an over-deep subscription document is a validation error and streams nothing', async () => {
        const id = await createJob('deep');
        let inner = 'id';
        for (let i = 0; i < 18; i++) inner = `result { ${inner} }`;
        const sub = subscribe(s.port, { token: ownerToken }, `subscription($id: ID!) { jobUpdated(id: $id) { ${inner} } }`, { id });
        await withSub(sub, async () => {
          await sub.until(() => sub.errors.length > 0, 'the validation error');
          const errors = graphqlErrors(sub);
          expect(errors.map((e) => e.extensions?.code)).toContain('GRAPHQL_VALIDATION_FAILED');
          expect(errors.map((e) => e.message).join('\n')).toMatch(/depth limit of \d+ exceeded/);
          expect(sub.results).toEqual([]);
        });
      });

      test('300 aliases in a subscription are refused', async () => {
        const id = await createJob('aliases');
        const aliases = Array.from({ length: 300 }, (_, i) => `a${i}: id`).join(' ');
        const sub = subscribe(s.port, { token: ownerToken }, `subscription($id: ID!) { jobUpdated(id: $id) { ${aliases} } }`, { id });
        await withSub(sub, async () => {
          await sub.until(() => sub.errors.length > 0, 'the validation error');
          expect(graphqlErrors(sub).map((e) => e.message).join('\n')).toMatch(/Aliases limit of \d+ exceeded/);
          expect(sub.results).toEqual([]);
        });
      });

      test('a subscription of more than 1000 tokens is refused as on HTTP', async () => {
        const id = await createJob('tokens');
        const sub = subscribe(s.port, { token: ownerToken }, `subscription($id: ID!) { jobUpdated(id: $id) { ${Array(1200).fill('id').join(' ')} } }`, { id });
        await withSub(sub, async () => {
          await sub.until(() => sub.errors.length > 0, 'the parse error');
          expect(graphqlErrors(sub)[0]).toMatchObject({ extensions: { code: 'GRAPHQL_PARSE_FAILED' } });
          expect(graphqlErrors(sub)[0].message).toMatch(/1000 tokens/);
        });
      });
    });

    test('with a worker running, a subscriber sees RUNNING then COMPLETED', async () => {
      // The worker starts only after the subscription has the PENDING state: a worker already
      // running would claim the job at creation and the subscriber could start after the fact.
      // It shares the database, so the updates also cross instances through LISTEN/NOTIFY.
      const requirements = Array.from({ length: 200 }, (_, i) => `URS-${String(i + 1).padStart(3, '0')} The system shall do thing ${i + 1}.`);
      const id = await createJob('worked', ownerToken, requirements.join('\n'));
      const sub = subscribe(s.port, { token: ownerToken }, 'subscription($id: ID!) { jobUpdated(id: $id) { id status result { requirementCount } } }', { id });
      let workerServer: TestServer | undefined;
      try {
        await sub.until(() => sub.results.length >= 1, 'the PENDING state');
        workerServer = await startTestServer({ WORKER_ENABLED: 'true', WORKER_POLL_MS: '50', CLERK_CLOCK_SKEW_MS: '0' }, { db: s.db });
        await sub.until(() => statuses(sub).includes('COMPLETED'), 'the COMPLETED update');
        const seen = statuses(sub).filter((st, i, all) => st !== all[i - 1]);
        expect(seen).toEqual(['PENDING', 'RUNNING', 'COMPLETED']);
        expect(sub.results.at(-1)!.data!.jobUpdated.result).toEqual({ requirementCount: 200 });
        expect(graphqlErrors(sub)).toEqual([]);
      } finally {
        await sub.dispose();
        await workerServer?.close();
      }
    });
  });
}
