import { startTestServer, type TestServer } from './helpers/server';

const CREATE = `mutation($input: CreateJobInput!) { createJob(input: $input) { id ownerId title status ursDocument createdAt updatedAt } }`;
const URS = 'URS-001 The system shall record every change.\nURS-002 The system shall export the audit trail.';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s?.close();
});

test('a signed-in user creates a job and reads it back', async () => {
  const t = await s.token('user_alice', { email: 'alice@example.com' });
  const created = await s.gql(CREATE, { input: { title: 'Batch record review', ursDocument: URS } }, t);
  expect(created.status).toBe(200);
  expect(created.body.errors).toBeUndefined();
  const job = created.body.data.createJob;
  expect(job).toMatchObject({ ownerId: 'user_alice', title: 'Batch record review', status: 'PENDING', ursDocument: URS });
  const read = await s.gql(`query($id: ID!) { job(id: $id) { id title auditTrail { action actorId actorEmail } } }`, { id: job.id }, t);
  expect(read.body.data.job.id).toBe(job.id);
  expect(read.body.data.job.auditTrail).toEqual([{ action: 'job.created', actorId: 'user_alice', actorEmail: 'alice@example.com' }]);
});
