process.env.CLERK_TELEMETRY_DISABLED = '1';

import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createAuth } from '../src/auth/setup';
import { startClerkEmulator, TEMPLATE_TOKEN_CATEGORY, type ClerkEmulator } from '../devtools/clerk-emulator/emulator';
import { createTokenFactory, listTemplates, mintToken, mintTokenDetailed } from '../src/clerk/tokens';
import { loadConfig } from '../src/config';
import { createLogger } from '../src/log';
import { startTestServer, type TestServer } from './helpers/server';

const ROOT = path.join(__dirname, '..');
const VIEWER = 'query { viewer { userId sessionId roles } }';
let emu: ClerkEmulator;
let server: TestServer;
let dataDir: string;

beforeAll(async () => {
  emu = await startClerkEmulator({ templates: [{ name: 'ci', claims: { who: '{{user.id}}' }, lifetime: 120 }] });
  server = await startTestServer({ CLERK_SECRET_KEY: emu.secretKey, CLERK_API_URL: emu.url, CLERK_ISSUER: emu.issuer });
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobledger-token-'));
});
afterAll(async () => {
  await server?.close();
  await emu?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const api = () => ({ apiUrl: emu.url, secretKey: emu.secretKey });
const payload = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));
const header = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString('utf8'));

async function viewer(token: string) {
  const res = await server.gql(VIEWER, {}, token);
  return { status: res.status, viewer: res.body.data?.viewer, reason: res.body.errors?.[0]?.extensions?.reason };
}

describe('library against Clerk (the emulator)', () => {
  it('creates a session for the user and mints a token the JWKS-mode server accepts', async () => {
    const sessionsBefore = emu.requestCount('/v1/sessions');
    const minted = await mintTokenDetailed(api(), { user: 'user_lib' });
    expect(minted.source).toBe('clerk');
    expect(minted.sessionId).toMatch(/^sess_/);
    expect(emu.requestCount('/v1/sessions')).toBe(sessionsBefore + 1);
    expect(payload(minted.token)).toMatchObject({ sub: 'user_lib', sid: minted.sessionId, iss: emu.issuer });
    const res = await viewer(minted.token);
    expect(res.status).toBe(200);
    expect(res.viewer).toEqual({ userId: 'user_lib', sessionId: minted.sessionId, roles: ['USER'] });
  });

  it('mints for an existing session, with a lifetime', async () => {
    const session = emu.createSession('user_existing');
    const token = await mintToken(api(), { sessionId: session.id, ttlSeconds: 120 });
    const p = payload(token);
    expect(p.sid).toBe(session.id);
    expect(p.exp - p.iat).toBe(120);
    expect((await viewer(token)).viewer?.sessionId).toBe(session.id);
  });

  it('mints a JWT-template token, which the server refuses by default', async () => {
    const token = await mintToken(api(), { user: 'user_tpl', template: 'ci' });
    expect(header(token).cat).toBe(TEMPLATE_TOKEN_CATEGORY);
    expect(payload(token)).toMatchObject({ sub: 'user_tpl', who: 'user_tpl' });
    const res = await viewer(token);
    expect(res.status).toBe(401);
    expect(res.reason).toBe('token-type-not-accepted');
  });

  it('lists templates, following pagination', async () => {
    const names = (await listTemplates(api())).map((t) => t.name).sort();
    expect(names).toEqual(['ci', 'integration']);
    const many = await startClerkEmulator();
    try {
      for (let i = 0; i < 104; i++) many.addTemplate({ name: `t${i}`, claims: {} });
      const all = await listTemplates({ apiUrl: many.url, secretKey: many.secretKey });
      expect(all).toHaveLength(105);
      expect(new Set(all.map((t) => t.name)).size).toBe(105);
    } finally {
      await many.close();
    }
  });

  it('a token factory reuses one session and gives a fresh, accepted token per call', async () => {
    const before = emu.requestCount('/v1/sessions');
    const token = createTokenFactory(api(), { user: 'user_factory' });
    const a = await token();
    const b = await token();
    const sid = payload(a).sid;
    expect(payload(b).sid).toBe(sid);
    // Each call asked Clerk for a token (two tokens minted in one second may be byte-identical).
    expect(emu.requestCount(`/v1/sessions/${sid}/tokens`)).toBe(2);
    expect(emu.requestCount('/v1/sessions')).toBe(before + 1);
    expect((await viewer(b)).viewer?.userId).toBe('user_factory');
  });

  it('says what to check when Clerk refuses or cannot be reached', async () => {
    await expect(mintToken({ apiUrl: emu.url, secretKey: 'sk_test_wrong' }, { user: 'u' })).rejects.toThrow(/Clerk answered 401.*check CLERK_SECRET_KEY/);
    await expect(mintToken(api(), { user: 'u', template: 'nope' })).rejects.toThrow(/Clerk answered 404.*--list-templates/);
    await expect(mintToken(api(), { sessionId: 'sess_missing' })).rejects.toThrow(/Clerk answered 404/);
    await expect(mintToken({ apiUrl: 'http://127.0.0.1:1', secretKey: emu.secretKey }, { user: 'u' })).rejects.toThrow(/Could not reach the Clerk Backend API at http:\/\/127\.0\.0\.1:1.*CLERK_API_URL/);
    await expect(mintToken(api(), { user: 'u', email: 'u@example.com' })).rejects.toThrow(/--email only applies to the local issuer/);
    const revoked = emu.createSession('user_gone');
    emu.revokeSession(revoked.id);
    await expect(mintToken(api(), { sessionId: revoked.id })).rejects.toThrow(/Clerk answered 400/);
  });

  it('follows the configuration: CLERK_SECRET_KEY mints from Clerk, CLERK_JWT_KEY alone cannot', async () => {
    const clerk = loadConfig({ CLERK_SECRET_KEY: emu.secretKey, CLERK_API_URL: emu.url, CLERK_ISSUER: emu.issuer, DATA_DIR: dataDir });
    expect(payload(await mintToken(clerk, { user: 'user_cfg' })).iss).toBe(emu.issuer);
    const jwtKeyOnly = loadConfig({ CLERK_JWT_KEY: emu.currentKey.publicPem, CLERK_ISSUER: emu.issuer, DATA_DIR: dataDir });
    await expect(mintToken(jwtKeyOnly, { user: 'u' })).rejects.toThrow(/needs CLERK_SECRET_KEY/);
  });
});

describe('library against the local development issuer', () => {
  const devConfig = () => loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir });

  it('mints tokens the dev-mode verifier accepts, with email and role', async () => {
    const config = devConfig();
    const { verifier } = createAuth(config, createLogger('silent'));
    const token = await mintToken(config, { user: 'user_dev', email: 'dev@example.com', role: 'admin', ttlSeconds: 30 });
    const p = await verifier.verify(token);
    expect(p).toMatchObject({ userId: 'user_dev', email: 'dev@example.com', roles: ['USER', 'ADMIN'] });
    expect(payload(token).exp - payload(token).iat).toBe(30);
  });

  it('a dev token factory keeps one sid and refuses templates', async () => {
    const config = devConfig();
    const { verifier } = createAuth(config, createLogger('silent'));
    const token = createTokenFactory(config, { user: 'user_devf' });
    const [a, b] = [await token(), await token()];
    expect((await verifier.verify(a)).sessionId).toBe((await verifier.verify(b)).sessionId);
    await expect(mintToken(config, { user: 'u', template: 'ci' })).rejects.toThrow(/Clerk feature: set CLERK_SECRET_KEY/);
    await expect(listTemplates(config)).rejects.toThrow(/set CLERK_SECRET_KEY/);
  });
});

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const base = { ...process.env };
  for (const k of Object.keys(base)) if (k.startsWith('CLERK_')) delete base[k];
  return new Promise((resolve) => {
    execFile(
      'npx',
      ['tsx', 'src/cli.ts', 'token', ...args],
      {
        cwd: ROOT,
        env: { ...base, NODE_ENV: 'test', DATA_DIR: dataDir, CLERK_TELEMETRY_DISABLED: '1', CLERK_SECRET_KEY: emu.secretKey, CLERK_API_URL: emu.url, CLERK_ISSUER: emu.issuer, ...env },
      },
      (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('npm run token (the CLI, spawned)', () => {
  it('prints only a token on stdout, and the server accepts it', async () => {
    const out = await cli(['--user', 'user_cli']);
    expect(out.code).toBe(0);
    const token = out.stdout.trim();
    expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(out.stderr).toMatch(new RegExp(`session ${payload(token).sid}`));
    expect((await viewer(token)).viewer).toMatchObject({ userId: 'user_cli', sessionId: payload(token).sid });
  });

  it('--export prints a shell line that sets CLERK_TOKEN', async () => {
    const out = await cli(['--user', 'user_export', '--export']);
    expect(out.stdout).toMatch(/^export CLERK_TOKEN=[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const shell = await new Promise<string>((resolve, reject) =>
      execFile('bash', ['-c', `${out.stdout}\nprintf %s "$CLERK_TOKEN"`], (err, stdout) => (err ? reject(err) : resolve(stdout))),
    );
    expect((await viewer(shell)).viewer?.userId).toBe('user_export');
  });

  it('--session mints for an existing session; --template uses a JWT template', async () => {
    const session = emu.createSession('user_sess');
    const bySession = await cli(['--session', session.id]);
    expect(bySession.code).toBe(0);
    expect((await viewer(bySession.stdout.trim())).viewer?.sessionId).toBe(session.id);
    const tpl = await cli(['--user', 'user_tplcli', '--template', 'integration']);
    expect(tpl.code).toBe(0);
    expect(header(tpl.stdout.trim()).cat).toBe(TEMPLATE_TOKEN_CATEGORY);
    expect(payload(tpl.stdout.trim()).aud).toBe('jobledger-integration');
  });

  it('--list-templates prints one line per template', async () => {
    const out = await cli(['--list-templates']);
    expect(out.code).toBe(0);
    const lines = out.stdout.trim().split('\n').sort();
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^ci\t120s\tjtmp_\w+\tclaims: who$/);
    expect(lines[1]).toMatch(/^integration\t60s\tjtmp_\w+\tclaims: aud, email, session, scope$/);
  });

  it('fails with exit code 1 and the reason when the secret key is wrong', async () => {
    const out = await cli(['--user', 'u'], { CLERK_SECRET_KEY: 'sk_test_wrong' });
    expect(out.code).toBe(1);
    expect(out.stdout).toBe('');
    expect(out.stderr).toMatch(/Clerk answered 401 \(authentication_invalid\): check CLERK_SECRET_KEY/);
  });
});
