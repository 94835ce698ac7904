import { generateSigningKey } from '../src/auth/devIssuer';
import { decodeParts, VIEWER } from './helpers/authTokens';
import { runCli } from './helpers/cli';
import { startTestServer, type TestServer } from './helpers/server';

// `npm run token` must print a token the running server accepts: it reads the development
// issuer's key from the same DATA_DIR the server created it in.

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s?.close();
});

const token = (args: string[], env: Record<string, string> = {}) => runCli(['token', ...args], { NODE_ENV: 'test', DATA_DIR: s.dataDir, ...env });

test('a printed auditor token is accepted by the server with the AUDITOR role', async () => {
  const r = await token(['--user', 'user_cli', '--role', 'auditor', '--email', 'cli@example.com']);
  expect(r.code).toBe(0);
  const t = r.stdout.trim();
  expect(t).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
  expect(r.stdout.trim().split('\n')).toHaveLength(1);

  const res = await s.gql(VIEWER, {}, t);
  expect(res.status).toBe(200);
  expect(res.body.data.viewer).toMatchObject({ userId: 'user_cli', email: 'cli@example.com' });
  expect(res.body.data.viewer.roles).toContain('AUDITOR');
  // The key was reused, not regenerated: a new key would fail verification above.
  expect(decodeParts(t).header.kid).toBe(s.auth.devKey!.kid);
});

test('--ttl sets the lifetime', async () => {
  const r = await token(['--user', 'user_cli_ttl', '--ttl', '120']);
  expect(r.code).toBe(0);
  const { payload } = decodeParts(r.stdout.trim());
  expect((payload.exp as number) - (payload.iat as number)).toBe(120);
  expect((await s.gql(VIEWER, {}, r.stdout.trim())).body.data?.viewer.roles).toEqual(['USER']);
});

describe('bad arguments exit non-zero with a helpful message and print no token', () => {
  test('--role root', async () => {
    const r = await token(['--user', 'user_cli', '--role', 'root']);
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBeNull();
    expect(r.stderr).toContain('--role must be admin or auditor');
    expect(r.stdout.trim()).toBe('');
  });

  test('missing --user', async () => {
    const r = await token(['--role', 'auditor']);
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBeNull();
    expect(r.stderr).toContain('--user ID is required');
    expect(r.stdout.trim()).toBe('');
  });

  test('a --user with characters outside the allowed set', async () => {
    const r = await token(['--user', 'user cli; rm -rf /']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--user .*letters, digits/);
    expect(r.stdout.trim()).toBe('');
  });

  test('--ttl out of range', async () => {
    const r = await token(['--user', 'user_cli', '--ttl', '0']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('--ttl must be');
    expect(r.stdout.trim()).toBe('');
  });

  test('an unknown option', async () => {
    const r = await token(['--user', 'user_cli', '--admin']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('--admin');
    expect(r.stdout.trim()).toBe('');
  });
});

test('with Clerk keys configured the CLI refuses to mint local tokens, saying why', async () => {
  const r = await token(['--user', 'user_cli'], { CLERK_JWT_KEY: generateSigningKey().publicPem, CLERK_ISSUER: 'https://x.clerk.accounts.dev' });
  expect(r.code).not.toBe(0);
  expect(r.code).not.toBeNull();
  // It names the setting to change rather than printing a token the server would refuse.
  expect(r.stderr).toMatch(/CLERK_JWT_KEY|CLERK_SECRET_KEY/);
  expect(r.stdout.trim()).toBe('');
});

describe('every CLI answers --help (exit 0, usage on stdout), even without a configuration', () => {
  test.each([
    [['token', '--help'], '--list-templates'],
    [['serve', '--help'], 'usage: npm start'],
    [['worker', '--help'], 'usage: npm run worker'],
    [['migrate', '--help'], 'usage: npm run migrate'],
    [['audit', '--help'], 'usage: npm run audit'],
    [['audit', 'export', '--help'], '--from YYYY-MM-DD'],
    [['--help'], 'usage: jobledger <command>'],
  ])('%j', async (args, expected) => {
    const r = await runCli(args, { NODE_ENV: 'production' });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(expected);
  });
});
