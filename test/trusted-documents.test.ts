import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateSigningKey, signSessionToken, type SigningKey } from '../src/auth/devIssuer';
import { loadConfig } from '../src/config';
import { ConfigError } from '../src/errors';
import { startTestServer, type TestServer } from './helpers/server';
import { connect } from './helpers/wsClient';

// TRUSTED_DOCUMENTS: in production only the manifest's operations run, sent by hash; in
// development a hash is resolved from the manifest and anything else still runs (Sandbox).

const ISSUER = 'https://clerk.example.com';
const VIEWER = 'query Viewer { viewer { userId } }';
const JOB_UPDATED = 'subscription JobUpdated($id: ID!) { jobUpdated(id: $id) { id status } }';
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

let dir: string;
let manifest: string;
let key: SigningKey;
let prod: TestServer;
let dev: TestServer;
let noApq: TestServer;
beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobledger-trusted-'));
  manifest = path.join(dir, 'persisted-documents.json');
  // Both key styles: client-preset's `sha256:<hex>` and bare hex.
  fs.writeFileSync(manifest, JSON.stringify({ [`sha256:${sha(VIEWER)}`]: VIEWER, [sha(JOB_UPDATED)]: JOB_UPDATED }));
  key = generateSigningKey();
  prod = await startTestServer({ NODE_ENV: 'production', CLERK_JWT_KEY: key.publicPem, CLERK_ISSUER: ISSUER, TRUSTED_DOCUMENTS: manifest });
  dev = await startTestServer({ TRUSTED_DOCUMENTS: manifest }, { db: prod.db });
  noApq = await startTestServer({ APQ_ENABLED: 'false' }, { db: prod.db });
});
afterAll(async () => {
  await noApq?.close();
  await dev?.close();
  await prod?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const prodToken = (userId: string) => signSessionToken(key, ISSUER, { userId });

async function post(s: TestServer, body: unknown, token: string): Promise<{ status: number; body: any }> {
  const res = await fetch(s.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}
const byHash = (doc: string) => ({ extensions: { persistedQuery: { version: 1, sha256Hash: sha(doc) } } });

describe('trusted documents in production', () => {
  test('an operation in the manifest runs when sent by hash alone, in either format', async () => {
    const token = await prodToken('user_trusted');
    expect(await post(prod, byHash(VIEWER), token)).toEqual({ status: 200, body: { data: { viewer: { userId: 'user_trusted' } } } });
    expect(await post(prod, { documentId: `sha256:${sha(VIEWER)}` }, token)).toEqual({ status: 200, body: { data: { viewer: { userId: 'user_trusted' } } } });
    const get = await fetch(`${prod.url}?extensions=${encodeURIComponent(JSON.stringify(byHash(VIEWER).extensions))}`, {
      headers: { authorization: `Bearer ${token}`, 'apollo-require-preflight': 'true' },
    });
    expect({ status: get.status, body: await get.json() }).toEqual({ status: 200, body: { data: { viewer: { userId: 'user_trusted' } } } });
  });

  test.each([
    ['query text', { query: VIEWER }],
    ['query text with a known hash beside it', { query: '{ viewer { userId email } }', ...byHash('{ viewer { userId email } }') }],
    ['an unknown hash', byHash('query Other { viewer { roles } }')],
    ['garbage that would not even parse', { query: '{{{{' }],
  ])('%s is refused with OPERATION_NOT_TRUSTED before parsing', async (_what, body) => {
    const res = await post(prod, body, await prodToken('user_untrusted'));
    expect(res.status).toBe(400);
    expect(res.body.data).toBeUndefined();
    expect(res.body.errors).toHaveLength(1);
    expect(res.body.errors[0].extensions.code).toBe('OPERATION_NOT_TRUSTED');
    expect(res.body.errors[0].message).toMatch(/trusted documents|by hash/);
    expect(res.body.errors[0].extensions.requestId).toMatch(/\S/);
  });

  test('a subscription runs by hash over WebSocket, and query text is refused there too', async () => {
    const token = await prodToken('user_ws_trusted');
    const results: unknown[] = [];
    const client = connect(prod.port, { token }, () => undefined);
    try {
      const variables = { id: '00000000-0000-0000-0000-000000000000' };
      const run = (payload: Record<string, unknown>) =>
        new Promise<void>((resolve) => {
          client.subscribe({ variables, ...payload } as never, { next: (r) => results.push(r), error: (e) => (results.push(e), resolve()), complete: resolve });
        });
      await run({ query: JOB_UPDATED });
      await run({ query: '', extensions: byHash(JOB_UPDATED).extensions });
      const codes = results.map((r) => (Array.isArray(r) ? r[0]?.extensions?.code : (r as any).errors?.[0]?.extensions?.code));
      // Query text is refused; by hash the operation runs and answers as the resolver does
      // (an unknown job id: NOT_FOUND), so it got past the trusted-documents check.
      expect(codes[0]).toBe('OPERATION_NOT_TRUSTED');
      expect(codes[1]).not.toBe('OPERATION_NOT_TRUSTED');
      expect(codes[1]).toMatch(/^[A-Z_]+$/);
    } finally {
      await client.dispose();
    }
  });
});

describe('trusted documents in development', () => {
  test('a hash is resolved from the manifest, and ad-hoc queries still run (Sandbox keeps working)', async () => {
    const token = await dev.token('user_dev_trusted');
    expect((await post(dev, byHash(VIEWER), token)).body).toEqual({ data: { viewer: { userId: 'user_dev_trusted' } } });
    expect((await post(dev, { query: '{ viewer { roles } }' }, token)).body).toEqual({ data: { viewer: { roles: ['USER'] } } });
    const unknown = await post(dev, { documentId: sha('nothing') }, token);
    expect(unknown.body.errors[0].extensions.code).toBe('OPERATION_NOT_TRUSTED');
  });
});

describe('APQ_ENABLED', () => {
  test('on (the default), an unknown hash asks for the query; off, APQ is refused as unsupported', async () => {
    const apq = byHash('{ viewer { email } }');
    const on = await post(dev, apq, await dev.token('user_apq'));
    expect(on.body.errors[0].extensions.code).toBe('PERSISTED_QUERY_NOT_FOUND');
    const off = await post(noApq, apq, await noApq.token('user_apq'));
    expect(off.body.errors[0].extensions.code).toBe('PERSISTED_QUERY_NOT_SUPPORTED');
  });
});

describe('TRUSTED_DOCUMENTS is validated at start-up', () => {
  const base = { NODE_ENV: 'test', DATA_DIR: os.tmpdir() };
  const problemsOf = (file: string) => {
    try {
      loadConfig({ ...base, TRUSTED_DOCUMENTS: file });
    } catch (err) {
      return (err as ConfigError).problems;
    }
    return [];
  };
  test('a good manifest loads', () => {
    expect(loadConfig({ ...base, TRUSTED_DOCUMENTS: manifest }).graphql.trustedDocuments?.documents.size).toBe(2);
  });
  test.each([
    ['a missing file', () => path.join(dir, 'absent.json'), /no such file/],
    ['not JSON', () => write('bad.json', '{'), /not readable JSON/],
    ['an array', () => write('array.json', '[]'), /JSON object/],
    ['an empty object', () => write('empty.json', '{}'), /no documents/],
    ['a hash that does not match its document', () => write('forged.json', JSON.stringify({ [sha(VIEWER)]: '{ viewer { roles } }' })), /not a sha256 hash of its document/],
  ])('%s is refused', (_what, file, message) => {
    const problems = problemsOf(file());
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^TRUSTED_DOCUMENTS/);
    expect(problems[0]).toMatch(message);
  });
  function write(name: string, text: string): string {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return file;
  }
});
