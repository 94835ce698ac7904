import { b64url, decodeParts, expectRefused, rawPost, signRs256, VIEWER } from './helpers/authTokens';
import { startTestServer, type TestServer } from './helpers/server';

// Malformed tokens and Authorization headers: always a 401 (or 400 for a duplicated header)
// with a reason, never a 5xx, however broken the input.

let s: TestServer;
let header: Record<string, unknown>;
let payload: Record<string, unknown>;
beforeAll(async () => {
  s = await startTestServer();
  ({ header, payload } = decodeParts(await s.token('user_shape')));
});
afterAll(async () => {
  await s?.close();
});

const withAuthorization = (value: string) => s.gql(VIEWER, {}, null, { authorization: value });
const signed = (h: Record<string, unknown> | string, p: Record<string, unknown> | string) => {
  if (typeof h === 'string') return `${b64url(h)}.${b64url(p)}.${b64url('not-a-signature')}`;
  return signRs256(s.auth.devKey!.privatePem, h, p);
};

describe('malformed tokens are refused with a reason, never a 5xx', () => {
  const cases: Array<[string, () => string, string]> = [
    ['one part', () => 'eyJhbGciOiJSUzI1NiJ9', 'token-malformed'],
    ['two parts', () => `${b64url(header)}.${b64url(payload)}`, 'token-malformed'],
    ['four parts', () => `${signed(header, payload)}.extra`, 'token-malformed'],
    ['characters outside base64url', () => `${b64url(header)}.${b64url(payload)}!.abc+/=`, 'token-malformed'],
    ['base64url that decodes to no JSON header', () => 'a.b.c', 'token-malformed'],
    ['a header that is not JSON', () => signed('{"alg":"RS256",', payload), 'token-malformed'],
    ['a header that is JSON but an array', () => `${b64url([1])}.${b64url(payload)}.abc`, 'token-malformed'],
    ['a header that is JSON null', () => `${b64url('null')}.${b64url(payload)}.abc`, 'token-malformed'],
    ['a payload that is not JSON (correctly signed)', () => signed(header, '{"sub": "user_x",'), 'token-invalid'],
    ['a payload that is JSON null (correctly signed)', () => signed(header, 'null'), 'token-malformed'],
    // JSON but not an object: the SDK finds no `sub`.
    ['a payload that is a JSON string (correctly signed)', () => signed(header, '"user_x"'), 'token-verification-failed'],
    ['a payload that is a JSON array (correctly signed)', () => signed(header, '[]'), 'token-verification-failed'],
  ];

  test.each(cases)('%s', async (_name, build, reason) => {
    const t = build();
    const res = await withAuthorization(`Bearer ${t}`);
    expect(res.status).toBeLessThan(500);
    expectRefused(res, reason, t);
  });

  test('an empty token after the scheme', async () => {
    const res = await withAuthorization('Bearer ');
    expectRefused(res, 'token-malformed');
  });

  test('the scheme alone', async () => {
    expectRefused(await withAuthorization('Bearer'), 'token-malformed');
  });

  test('two tokens after one scheme', async () => {
    const t = await s.token('user_two_tokens');
    expectRefused(await withAuthorization(`Bearer ${t} ${t}`), 'token-malformed', t);
  });

  test('the server is healthy after all of the above', async () => {
    const res = await s.gql(VIEWER, {}, await s.token('user_after'));
    expect(res.status).toBe(200);
    expect(res.body.data.viewer.userId).toBe('user_after');
  });
});

describe('Authorization schemes', () => {
  test('Basic credentials are refused with 401, not treated as anonymous', async () => {
    const creds = Buffer.from('admin:hunter2').toString('base64');
    const res = await withAuthorization(`Basic ${creds}`);
    expectRefused(res, 'token-malformed', creds);
  });

  test('a valid token under another scheme is refused', async () => {
    const t = await s.token('user_token_scheme');
    expectRefused(await withAuthorization(`Token ${t}`), 'token-malformed', t);
  });
});

describe('two Authorization headers (RFC 6750 invalid_request)', () => {
  const body = JSON.stringify({ query: VIEWER });

  test('two valid tokens in two headers answer 400 invalid_request and run nothing', async () => {
    const a = await s.token('user_dup_a');
    const b = await s.token('user_dup_b');
    const res = await rawPost(s.url, { 'content-type': 'application/json', authorization: [`Bearer ${a}`, `Bearer ${b}`] }, body);
    expect(res.status).toBe(400);
    expect(res.headers['www-authenticate']).toBe('Bearer error="invalid_request"');
    const parsed = JSON.parse(res.text);
    expect(parsed.data ?? null).toBeNull();
    expect(parsed.errors).toHaveLength(1);
    expect(parsed.errors[0].extensions.reason).toBe('invalid-request');
    expect(res.text).not.toContain(a);
    expect(res.text).not.toContain(b);
    expect(res.text).not.toContain('user_dup_');
  });

  test('a duplicate with one header empty is still 400', async () => {
    const a = await s.token('user_dup_c');
    const res = await rawPost(s.url, { 'content-type': 'application/json', authorization: [`Bearer ${a}`, ''] }, body);
    expect(res.status).toBe(400);
    expect(res.headers['www-authenticate']).toBe('Bearer error="invalid_request"');
  });

  test('the same request with one header succeeds (control)', async () => {
    const a = await s.token('user_dup_ok');
    const res = await rawPost(s.url, { 'content-type': 'application/json', authorization: `Bearer ${a}` }, body);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text).data.viewer.userId).toBe('user_dup_ok');
  });
});
