process.env.CLERK_TELEMETRY_DISABLED = '1';

import { createClerkClient } from '@clerk/backend';
import { withMachineTokens, MachineVerificationUnavailable } from '../src/auth/m2m';
import { startClerkEmulator, type ClerkEmulator, type MachineCredentials } from '../devtools/clerk-emulator/emulator';
import { mintToken } from '../src/clerk/tokens';
import { startTestServer, type TestServer } from './helpers/server';

let emu: ClerkEmulator;
let on: TestServer; // CLERK_ACCEPT_M2M_TOKENS=true
let off: TestServer; // same database and Clerk instance, flag off (and no webhook secret)
let machine: MachineCredentials;

beforeAll(async () => {
  emu = await startClerkEmulator();
  const clerk = { CLERK_SECRET_KEY: emu.secretKey, CLERK_PUBLISHABLE_KEY: emu.publishableKey, CLERK_API_URL: emu.url, CLERK_ISSUER: emu.issuer };
  on = await startTestServer({ ...clerk, CLERK_ACCEPT_M2M_TOKENS: 'true' });
  // Sharing the open database keeps this to one PGlite start.
  off = await startTestServer(clerk, { db: on.db });
  machine = emu.createMachine({ scopes: [] });
});
afterAll(async () => {
  await off?.close();
  await on?.close();
  await emu?.close();
});

const sdk = () => createClerkClient({ secretKey: emu.secretKey, publishableKey: emu.publishableKey, apiUrl: emu.url, telemetry: { disabled: true } });
/** As a CI pipeline would: create an M2M token with its machine secret key through the SDK. */
const machineToken = async (secondsUntilExpiration = 600) =>
  sdk().m2m.createToken({ machineSecretKey: machine.secretKey, secondsUntilExpiration });

const CREATE = 'mutation($t: String!) { createJob(input: { title: $t, ursDocument: "URS-001 The build shall pass." }) { id ownerId auditTrail { action actorId sessionId } } }';
const VIEWER = 'query { viewer { userId sessionId email roles } }';
const verifyCalls = () => emu.requestCount('/m2m_tokens/verify');

describe('with CLERK_ACCEPT_M2M_TOKENS=true', () => {
  it('a machine creates a job over HTTP and is the audit actor', async () => {
    const { token } = await machineToken();
    expect(token).toMatch(/^mt_/);
    const viewer = await on.gql(VIEWER, {}, token);
    expect(viewer.status).toBe(200);
    expect(viewer.body.data.viewer).toEqual({ userId: machine.id, sessionId: null, email: null, roles: ['USER'] });

    const res = await on.gql(CREATE, { t: 'nightly build' }, token);
    expect(res.status).toBe(200);
    const job = res.body.data.createJob;
    expect(job.ownerId).toBe(machine.id);
    expect(job.auditTrail).toEqual([{ action: 'job.created', actorId: machine.id, sessionId: null }]);
    const row = await on.db.query('SELECT actor_id FROM audit_events WHERE job_id = $1', [job.id]);
    expect(row.rows).toEqual([{ actor_id: machine.id }]);
  });

  it('a machine is an ordinary USER: another owner\'s job is refused and the attempt audited', async () => {
    const userToken = await mintToken({ apiUrl: emu.url, secretKey: emu.secretKey }, { user: 'user_owner' });
    const created = await on.gql(CREATE, { t: 'mine' }, userToken);
    const jobId = created.body.data.createJob.id;
    const { token } = await machineToken();
    const res = await on.gql('query($id: ID!) { job(id: $id) { id } }', { id: jobId }, token);
    expect(res.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const denied = await on.db.query("SELECT actor_id FROM audit_events WHERE action = 'access.denied' AND job_id = $1", [jobId]);
    expect(denied.rows).toEqual([{ actor_id: machine.id }]);
  });

  it('a revoked M2M token is refused with 401', async () => {
    const created = await machineToken();
    expect((await on.gql(VIEWER, {}, created.token)).status).toBe(200);
    await sdk().m2m.revokeToken({ m2mTokenId: created.id, revocationReason: 'pipeline retired' });
    const res = await on.gql(VIEWER, {}, created.token);
    expect(res.status).toBe(401);
    expect(res.body.errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'token-invalid' });
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
  });

  it('unknown, expired and malformed M2M tokens are refused with 401', async () => {
    const unknown = await on.gql(VIEWER, {}, `mt_${'a'.repeat(43)}`);
    expect(unknown.status).toBe(401);
    expect(unknown.body.errors?.[0]?.extensions?.reason).toBe('token-invalid');
    const expired = await on.gql(VIEWER, {}, (await machineToken(0)).token);
    expect(expired.status).toBe(401);
    const before = verifyCalls();
    const malformed = await on.gql(VIEWER, {}, 'mt_!!');
    expect(malformed.status).toBe(401);
    expect(malformed.body.errors?.[0]?.extensions?.reason).toBe('token-malformed');
    expect(verifyCalls()).toBe(before); // never sent to Clerk
  });

  it('session tokens stay on the local verification path (no Backend API call)', async () => {
    const token = await mintToken({ apiUrl: emu.url, secretKey: emu.secretKey }, { user: 'user_session' });
    const before = verifyCalls();
    const res = await on.gql(VIEWER, {}, token);
    expect(res.body.data.viewer).toMatchObject({ userId: 'user_session', sessionId: expect.stringMatching(/^sess_/) });
    expect(verifyCalls()).toBe(before);
  });

  it('Clerk refusing our secret key is a 503 for the caller, not a 401', async () => {
    const verifier = withMachineTokens(
      { verify: () => Promise.reject(new Error('session path must not be used')) },
      { acceptM2mTokens: true, secretKey: 'sk_test_wrong', apiUrl: emu.url },
    );
    const err = await verifier.verify((await machineToken()).token!).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MachineVerificationUnavailable);
    expect((err as MachineVerificationUnavailable).httpStatus).toBe(503);
    expect((err as MachineVerificationUnavailable).extensions.reason).toBe('m2m-verification-unavailable');
  });
});

describe('with the flag off', () => {
  it('a valid M2M token is refused without asking Clerk', async () => {
    const { token } = await machineToken();
    const before = verifyCalls();
    const res = await off.gql(CREATE, { t: 'should not exist' }, token);
    expect(res.status).toBe(401);
    expect(res.body.errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'token-type-not-accepted' });
    expect(res.body.data ?? null).toBeNull();
    expect(verifyCalls()).toBe(before);
    const jobs = await on.db.query("SELECT count(*)::int AS n FROM jobs WHERE title = 'should not exist'");
    expect(jobs.rows[0]).toEqual({ n: 0 });
  });

  it('/webhooks/clerk answers 503 naming CLERK_WEBHOOK_SIGNING_SECRET when it is unset', async () => {
    const res = await fetch(off.url.replace(/\/graphql$/, '/webhooks/clerk'), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'svix-id': 'msg_1', 'svix-timestamp': '1', 'svix-signature': 'v1,x' },
      body: JSON.stringify({ type: 'user.deleted', data: { id: 'user_x' } }),
    });
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({
      errors: [
        {
          message: expect.stringMatching(/CLERK_WEBHOOK_SIGNING_SECRET is not set/),
          extensions: { code: 'SERVICE_UNAVAILABLE', reason: 'webhooks-not-configured', requestId: res.headers.get('x-request-id') },
        },
      ],
    });
    const rows = await on.db.query("SELECT count(*)::int AS n FROM webhook_events WHERE svix_id = 'msg_1'");
    expect(rows.rows[0]).toEqual({ n: 0 });
  });
});
