import { randomBytes } from 'node:crypto';
import { startClerkEmulator, type ClerkEmulator } from '../devtools/clerk-emulator/emulator';
import { mintToken } from '../src/clerk/tokens';
import { startTestServer, type TestServer } from './helpers/server';
import { deliverWebhook } from './helpers/webhooks';

// Clerk's default session token has no email claim: with CLERK_SECRET_KEY the server asks the
// Backend API Users endpoint (here the local emulator) and records the primary email.

const SECRET = `whsec_${randomBytes(24).toString('base64')}`;
const CREATE = 'mutation($t: String!) { createJob(input: { title: $t, ursDocument: "URS-001 The system shall log." }) { id } }';
let emu: ClerkEmulator;
let s: TestServer;
beforeAll(async () => {
  emu = await startClerkEmulator();
  s = await startTestServer({ CLERK_SECRET_KEY: emu.secretKey, CLERK_API_URL: emu.url, CLERK_ISSUER: emu.issuer, CLERK_WEBHOOK_SIGNING_SECRET: SECRET });
});
afterAll(async () => {
  await s?.close();
  await emu?.close();
});

const token = (user: string) => emu.mintToken(emu.createSession(user).id);
async function created(user: string, title: string) {
  const res = await s.gql(CREATE, { t: title }, await token(user));
  expect(res.body.errors).toBeUndefined();
  const row = await s.db.query<{ actor_email: string | null; after: Record<string, unknown> }>(
    `SELECT actor_email, after FROM audit_events WHERE job_id = $1 AND action = 'job.created'`,
    [res.body.data.createJob.id],
  );
  return row.rows[0];
}

test('a token without an email claim: the primary email is looked up, cached per user, and refreshed by user.updated', async () => {
  emu.setUser('user_mail', { email: 'mail@example.com' });
  const first = await created('user_mail', 'one');
  expect(first.actor_email).toBe('mail@example.com');
  expect(first.after.actorEmailUnknown).toBeUndefined();
  const lookups = emu.requestCount('/v1/users/user_mail');
  expect(lookups).toBe(1);

  expect((await created('user_mail', 'two')).actor_email).toBe('mail@example.com');
  expect(emu.requestCount('/v1/users/user_mail')).toBe(1); // cached

  emu.setUser('user_mail', { email: 'renamed@example.com' });
  const hook = await deliverWebhook(s.url.replace(/\/graphql$/, '/webhooks/clerk'), SECRET, { type: 'user.updated', data: { object: 'user', id: 'user_mail' } });
  expect(hook.status).toBe(200);
  expect((await created('user_mail', 'three')).actor_email).toBe('renamed@example.com');
  expect(emu.requestCount('/v1/users/user_mail')).toBe(2);
});

test('when Clerk does not answer, the request still succeeds and the event says the email is unknown', async () => {
  emu.setUser('user_slow', { email: 'slow@example.com' });
  emu.setUsersFailure('hang');
  try {
    const row = await created('user_slow', 'slow');
    expect(row.actor_email).toBeNull();
    expect(row.after.actorEmailUnknown).toBe('lookup-timed-out');
  } finally {
    emu.setUsersFailure('none');
  }
});

test('when Clerk fails, the event says the lookup failed', async () => {
  emu.setUser('user_err', { email: 'err@example.com' });
  emu.setUsersFailure('500');
  try {
    const row = await created('user_err', 'err');
    expect(row.actor_email).toBeNull();
    expect(row.after.actorEmailUnknown).toBe('lookup-failed');
  } finally {
    emu.setUsersFailure('none');
  }
});

test('roles come from public metadata, as with real Clerk', async () => {
  emu.setUser('user_pm_auditor', { publicMetadata: { role: 'auditor' } });
  const res = await s.gql('{ viewer { roles } }', {}, await token('user_pm_auditor'));
  expect(res.body.data.viewer.roles).toEqual(['USER', 'AUDITOR']);
});

test('npm run token --role against the emulator sets the public metadata role, and the token carries it', async () => {
  const minted = await mintToken({ apiUrl: emu.url, secretKey: emu.secretKey }, { user: 'user_cli_admin', role: 'admin' });
  const res = await s.gql('{ viewer { userId roles } }', {}, minted);
  expect(res.body.data.viewer).toEqual({ userId: 'user_cli_admin', roles: ['USER', 'ADMIN'] });
});
