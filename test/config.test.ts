import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEV_ISSUER, loadConfig, normalisePem } from '../src/config';
import { ConfigError } from '../src/errors';
import { generateSigningKey, signSessionToken, type SigningKey } from '../src/auth/devIssuer';
import { expectRefused, VIEWER } from './helpers/authTokens';
import { runCli } from './helpers/cli';
import { startTestServer, type TestServer } from './helpers/server';

const ISSUER = 'https://clever-otter-12.clerk.accounts.dev';
const key: SigningKey = generateSigningKey();
// How a PEM usually arrives from a dashboard copy into a one-line env var.
const escapedPem = key.publicPem.trim().split('\n').join('\\n');

/** The problems loadConfig reports for `env`; fails the test if it accepts the config. */
function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toContain('Invalid configuration');
    return (err as ConfigError).problems;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe('loadConfig names the variable to set', () => {
  test('production without Clerk keys names CLERK_JWT_KEY and CLERK_SECRET_KEY', () => {
    const problems = problemsOf({ NODE_ENV: 'production' });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('CLERK_JWT_KEY');
    expect(problems[0]).toContain('CLERK_SECRET_KEY');
  });

  test('CLERK_JWT_KEY without CLERK_ISSUER names CLERK_ISSUER', () => {
    expect(problemsOf({ CLERK_JWT_KEY: key.publicPem })).toEqual([expect.stringContaining('CLERK_ISSUER')]);
  });

  test('CLERK_SECRET_KEY without CLERK_ISSUER names CLERK_ISSUER', () => {
    expect(problemsOf({ CLERK_SECRET_KEY: 'sk_test_abc123' })).toEqual([expect.stringContaining('CLERK_ISSUER')]);
  });

  test.each(['abc', '70000', '-1', '80.5'])('PORT=%s is refused, naming PORT and the value', (port) => {
    const problems = problemsOf({ PORT: port });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^PORT /);
    expect(problems[0]).toContain(`"${port}"`);
  });

  test('CLERK_JWT_KEY that is not a PEM public key is refused', () => {
    expect(problemsOf({ CLERK_JWT_KEY: 'not-a-key', CLERK_ISSUER: ISSUER })).toEqual([expect.stringContaining('CLERK_JWT_KEY')]);
  });

  test('a private key pasted into CLERK_JWT_KEY is refused', () => {
    expect(problemsOf({ CLERK_JWT_KEY: key.privatePem, CLERK_ISSUER: ISSUER })).toEqual([expect.stringContaining('CLERK_JWT_KEY')]);
  });

  test('several problems are reported at once, each naming its variable', () => {
    const problems = problemsOf({ NODE_ENV: 'production', PORT: 'eighty', LOG_LEVEL: 'loud', DATABASE_URL: 'mysql://db/x', CLERK_CLOCK_SKEW_MS: 'soon' });
    expect(problems).toHaveLength(5);
    for (const name of ['CLERK_JWT_KEY', 'PORT', 'LOG_LEVEL', 'DATABASE_URL', 'CLERK_CLOCK_SKEW_MS']) {
      expect(problems.some((p) => p.includes(name))).toBe(true);
    }
  });

  test('a complete production configuration is accepted in networkless mode', () => {
    const config = loadConfig({ NODE_ENV: 'production', CLERK_JWT_KEY: key.publicPem, CLERK_ISSUER: ISSUER });
    expect(config.production).toBe(true);
    expect(config.auth).toMatchObject({ mode: 'jwt-key', issuer: ISSUER, clockSkewMs: 5000 });
  });

  test('development without keys uses the local issuer', () => {
    expect(loadConfig({}).auth).toMatchObject({ mode: 'dev', issuer: DEV_ISSUER });
  });

  test('SESSION_CHECK_CACHE_MS: 5 s by default, any value from 0 to an hour, anything else refused by name', () => {
    expect(loadConfig({}).auth.sessionCheckCacheMs).toBe(5000);
    expect(loadConfig({ SESSION_CHECK_CACHE_MS: '0' }).auth.sessionCheckCacheMs).toBe(0);
    expect(loadConfig({ SESSION_CHECK_CACHE_MS: '3600000' }).auth.sessionCheckCacheMs).toBe(3_600_000);
    for (const bad of ['-1', '3600001', 'soon']) expect(problemsOf({ SESSION_CHECK_CACHE_MS: bad })).toEqual([expect.stringMatching(/^SESSION_CHECK_CACHE_MS .*"/)]);
  });
});

describe('TRUST_PROXY and the rate limits', () => {
  test('TRUST_PROXY: off by default; a hop count; addresses, CIDRs and proxy-addr names', () => {
    expect(loadConfig({}).trustProxy).toEqual({ kind: 'off' });
    expect(loadConfig({ TRUST_PROXY: 'false' }).trustProxy).toEqual({ kind: 'off' });
    expect(loadConfig({ TRUST_PROXY: '0' }).trustProxy).toEqual({ kind: 'off' });
    expect(loadConfig({ TRUST_PROXY: '2' }).trustProxy).toEqual({ kind: 'hops', hops: 2 });
    expect(loadConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8,fd00::/8, 192.0.2.7' }).trustProxy).toEqual({
      kind: 'addresses',
      addresses: ['loopback', '10.0.0.0/8', 'fd00::/8', '192.0.2.7'],
    });
  });

  test.each(['true', 'bogus', '10.0.0.1/40', '99', '-1', 'loopback,,nonsense'])('TRUST_PROXY=%s is refused by name', (value) => {
    const problems = problemsOf({ TRUST_PROXY: value });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^TRUST_PROXY/);
    expect(problems[0]).toContain(value);
  });

  test('the refused-credential budget follows RATE_LIMIT_PER_MINUTE unless set', () => {
    expect(loadConfig({})).toMatchObject({ rateLimitPerMinute: 600, authFailuresPerMinute: 600 });
    expect(loadConfig({ RATE_LIMIT_PER_MINUTE: '5' })).toMatchObject({ rateLimitPerMinute: 5, authFailuresPerMinute: 5 });
    expect(loadConfig({ RATE_LIMIT_PER_MINUTE: '0', RATE_LIMIT_AUTH_FAILURES_PER_MINUTE: '20' })).toMatchObject({ rateLimitPerMinute: 0, authFailuresPerMinute: 20 });
    expect(problemsOf({ RATE_LIMIT_AUTH_FAILURES_PER_MINUTE: 'many' })).toEqual([expect.stringContaining('RATE_LIMIT_AUTH_FAILURES_PER_MINUTE')]);
  });
});

describe('PEM normalisation', () => {
  test('literal \\n sequences and surrounding quotes become the PEM', () => {
    expect(escapedPem).not.toContain('\n');
    expect(normalisePem(escapedPem)).toBe(key.publicPem);
    expect(normalisePem(`"${escapedPem}"`)).toBe(key.publicPem);
    expect(normalisePem(key.publicPem.replace(/\n/g, '\r\n'))).toBe(key.publicPem);
  });

  test('loadConfig accepts the escaped PEM and stores it normalised', () => {
    expect(loadConfig({ CLERK_JWT_KEY: escapedPem, CLERK_ISSUER: ISSUER }).auth.jwtKey).toBe(key.publicPem);
  });
});

describe('a server started with an escaped CLERK_JWT_KEY', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ CLERK_JWT_KEY: escapedPem, CLERK_ISSUER: ISSUER });
  });
  afterAll(async () => {
    await s?.close();
  });

  test('runs in networkless mode without a development key', () => {
    expect(s.config.auth.mode).toBe('jwt-key');
    expect(s.auth.devKey).toBeNull();
  });

  test('accepts a token signed by that key', async () => {
    const t = await signSessionToken(key, ISSUER, { userId: 'user_pem', role: 'auditor' });
    const res = await s.gql(VIEWER, {}, t);
    expect(res.status).toBe(200);
    expect(res.body.data.viewer).toMatchObject({ userId: 'user_pem', roles: ['USER', 'AUDITOR'] });
  });

  test('refuses a development-issuer token, whatever issuer it names', async () => {
    const dev = generateSigningKey();
    for (const issuer of [DEV_ISSUER, ISSUER]) {
      const t = await signSessionToken(dev, issuer, { userId: 'user_dev' });
      expectRefused(await s.gql(VIEWER, {}, t), 'token-invalid-signature', t);
    }
  });

  test('refuses a token from that key with the development issuer', async () => {
    const t = await signSessionToken(key, DEV_ISSUER, { userId: 'user_dev_iss' });
    expectRefused(await s.gql(VIEWER, {}, t), 'token-invalid-issuer', t);
  });
});

describe('the CLI refuses to start with a bad configuration', () => {
  let dataDir: string;
  beforeAll(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobledger-cli-config-'));
  });
  afterAll(() => {
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('serve with NODE_ENV=production and no Clerk keys exits 78 naming CLERK_JWT_KEY', async () => {
    const r = await runCli(['serve'], { NODE_ENV: 'production', DATA_DIR: dataDir, PORT: '0' });
    expect(r.signal).toBeNull();
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('CLERK_JWT_KEY');
    expect(r.stderr).toContain('CLERK_SECRET_KEY');
    expect(r.stdout).not.toContain('listening');
    // No development issuer key was created for a production start.
    expect(fs.existsSync(path.join(dataDir, 'dev-issuer'))).toBe(false);
  });

  test.each(['prod', 'Production', 'staging'])('NODE_ENV=%s stops start-up with exit 78 naming the accepted values', async (value) => {
    const r = await runCli(['serve'], { NODE_ENV: value, DATA_DIR: dataDir, PORT: '0' });
    expect(r.signal).toBeNull();
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(`NODE_ENV must be one of development, test, production (got "${value}")`);
    expect(r.stdout).not.toContain('listening');
    expect(fs.existsSync(path.join(dataDir, 'dev-issuer'))).toBe(false); // no development issuer was set up
  });

  test('serve with a bad TRUST_PROXY exits 78 naming TRUST_PROXY', async () => {
    const r = await runCli(['serve'], { NODE_ENV: 'test', DATA_DIR: dataDir, PORT: '0', TRUST_PROXY: '10.0.0.300' });
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('TRUST_PROXY');
    expect(r.stderr).toContain('10.0.0.300');
    expect(r.stdout).not.toContain('listening');
  });

  test('serve with a bad PORT exits non-zero naming PORT', async () => {
    const r = await runCli(['serve'], { NODE_ENV: 'test', DATA_DIR: dataDir, PORT: 'http' });
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('PORT');
  });
});
