import { generateSigningKey, signSessionToken } from '../src/auth/devIssuer';
import { decodeParts, expectRefused, nowSeconds, signHs256WithPem, signRs256, unsigned, VIEWER } from './helpers/authTokens';
import { startTestServer, type TestServer } from './helpers/server';

// Every row of the "Tokens" table in security-catalogue.md that the default configuration
// covers. Each time-dependent case signs its own token: verified tokens are cached by hash.

const CREATE = `mutation($input: CreateJobInput!) { createJob(input: $input) { id title } }`;
const MY_JOBS = `query { jobs(first: 100) { edges { node { id title ownerId } } } }`;

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s?.close();
});

const viewer = (token: string | null, headers?: Record<string, string>) => s.gql(VIEWER, {}, token, headers);

/** A real token's header and payload, to be re-assembled in hostile ways. */
async function partsOf(userId = 'user_forged') {
  return decodeParts(await s.token(userId));
}

describe('accepted tokens', () => {
  test('a valid session token reaches the data', async () => {
    const t = await s.token('user_valid', { email: 'valid@example.com', sessionId: 'sess_valid_1' });
    const res = await viewer(t);
    expect(res.status).toBe(200);
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data).toEqual({
      viewer: { userId: 'user_valid', sessionId: 'sess_valid_1', email: 'valid@example.com', roles: ['USER'], orgId: null, orgRole: null, actorId: null },
    });
  });

  test('the scheme is case-insensitive: "bearer" in lower case works', async () => {
    const t = await s.token('user_lower');
    const res = await viewer(null, { authorization: `bearer ${t}` });
    expect(res.status).toBe(200);
    expect(res.body.data.viewer.userId).toBe('user_lower');
  });
});

describe('no token', () => {
  test('a protected field answers 401 UNAUTHENTICATED with reason token-missing', async () => {
    const res = await viewer(null);
    expect(res.status).toBe(401);
    expect(res.body.errors).toHaveLength(1);
    expect(res.body.errors![0].extensions).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'token-missing' });
    // RFC 6750 §3.1: a request without credentials gets a bare challenge, no error code.
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
  });
});

describe('time claims (5 s clock skew)', () => {
  test('exp 30 s in the past is refused as token-expired', async () => {
    const t = await s.token('user_exp', { claims: { exp: nowSeconds() - 30 } });
    expectRefused(await viewer(t), 'token-expired', t);
  });

  test('exp 1 s in the past is still inside the skew and accepted', async () => {
    const t = await s.token('user_exp_skew', { claims: { exp: nowSeconds() - 1 } });
    const res = await viewer(t);
    expect(res.status).toBe(200);
    expect(res.body.data.viewer.userId).toBe('user_exp_skew');
  });

  test('exp missing is refused', async () => {
    const t = await s.token('user_noexp', { claims: { exp: undefined } });
    expect(decodeParts(t).payload).not.toHaveProperty('exp');
    expectRefused(await viewer(t), 'token-verification-failed', t);
  });

  test('nbf a minute in the future is refused as token-not-active-yet', async () => {
    const t = await s.token('user_nbf', { claims: { nbf: nowSeconds() + 60 } });
    expectRefused(await viewer(t), 'token-not-active-yet', t);
  });

  test('nbf 2 s in the future is inside the skew and accepted', async () => {
    const t = await s.token('user_nbf_skew', { claims: { nbf: nowSeconds() + 2 } });
    expect((await viewer(t)).body.data?.viewer.userId).toBe('user_nbf_skew');
  });

  test('iat a minute in the future is refused as token-iat-in-the-future', async () => {
    const iat = nowSeconds() + 60;
    const t = await s.token('user_iat', { claims: { iat } });
    // Guards against a signer that stamps its own iat and makes this case pass vacuously.
    expect(decodeParts(t).payload.iat).toBe(iat);
    expectRefused(await viewer(t), 'token-iat-in-the-future', t);
  });

  test('iat 2 s in the future is inside the skew and accepted', async () => {
    const iat = nowSeconds() + 2;
    const t = await s.token('user_iat_skew', { claims: { iat } });
    expect(decodeParts(t).payload.iat).toBe(iat);
    expect((await viewer(t)).body.data?.viewer.userId).toBe('user_iat_skew');
  });
});

describe('signature and algorithm', () => {
  test('a token signed by another RSA key is refused', async () => {
    const t = await signSessionToken(generateSigningKey(), s.config.auth.issuer, { userId: 'user_other_key' });
    expectRefused(await viewer(t), 'token-invalid-signature', t);
  });

  test('another key is refused even when the header claims the server key id', async () => {
    const { header, payload } = await partsOf('user_kid_spoof');
    const t = signRs256(generateSigningKey().privatePem, header, payload);
    expect(decodeParts(t).header.kid).toBe(s.auth.devKey!.kid);
    expectRefused(await viewer(t), 'token-invalid-signature', t);
  });

  test('a token with its signature removed is refused', async () => {
    const t = (await s.token('user_nosig')).split('.').slice(0, 2).join('.') + '.';
    expectRefused(await viewer(t), 'token-invalid-signature', t);
  });

  test('a payload edited after signing (escalated to admin, other user) is refused', async () => {
    const original = await s.token('user_editor');
    const { header, payload, signature } = decodeParts(original);
    const t = unsigned(header, { ...payload, sub: 'user_victim', metadata: { role: 'admin' } }, signature);
    expect((await viewer(original)).status).toBe(200);
    expectRefused(await viewer(t), 'token-invalid-signature', t);
  });

  test.each(['none', 'None', 'NONE', 'nOnE'])('alg "%s" without a signature is refused', async (alg) => {
    const { header, payload } = await partsOf(`user_alg_${alg}`);
    const t = unsigned({ ...header, alg }, payload);
    expectRefused(await viewer(t), 'token-invalid-algorithm', t);
  });

  test('alg "none" keeping the original signature is refused', async () => {
    const { header, payload, signature } = await partsOf('user_alg_none_sig');
    const t = unsigned({ ...header, alg: 'none' }, payload, signature);
    expectRefused(await viewer(t), 'token-invalid-algorithm', t);
  });

  test('HS256 signed with the RSA public key PEM as the HMAC secret is refused (algorithm confusion)', async () => {
    const { header, payload } = await partsOf('user_hs256');
    const t = signHs256WithPem(s.auth.devKey!.publicPem, header, { ...payload, metadata: { role: 'admin' } });
    expectRefused(await viewer(t), 'token-invalid-algorithm', t);
  });
});

describe('claims the server checks beyond the signature', () => {
  test('a wrong iss is refused as token-invalid-issuer', async () => {
    const t = await s.token('user_iss', { claims: { iss: 'https://evil.clerk.accounts.dev' } });
    expectRefused(await viewer(t), 'token-invalid-issuer', t);
  });

  test('sts "pending" is refused as session-pending', async () => {
    const t = await s.token('user_pending', { claims: { sts: 'pending' } });
    expectRefused(await viewer(t), 'session-pending', t);
  });

  test('a JWT-template token (cat cl_B7d4PD222AAA) is refused as token-type-not-accepted', async () => {
    const t = await s.token('user_template', { header: { cat: 'cl_B7d4PD222AAA' } });
    expectRefused(await viewer(t), 'token-type-not-accepted', t);
  });
});

describe('nothing executes with a refused token', () => {
  test('createJob with bad tokens creates no job for that user or anyone', async () => {
    const user = 'user_nothing_ran';
    const title = `must-not-exist-${Date.now()}`;
    const input = { input: { title, ursDocument: 'URS-001 The system shall not run this.' } };
    const bad = [
      await signSessionToken(generateSigningKey(), s.config.auth.issuer, { userId: user }),
      await s.token(user, { claims: { exp: nowSeconds() - 60 } }),
      await s.token(user, { claims: { sts: 'pending' } }),
      unsigned({ ...(await partsOf(user)).header, alg: 'none' }, (await partsOf(user)).payload),
    ];
    for (const t of bad) {
      const res = await s.gql(CREATE, input, t);
      expect(res.status).toBe(401);
      expect(res.body.data ?? null).toBeNull();
    }

    const mine = await s.gql(MY_JOBS, {}, await s.token(user));
    expect(mine.body.errors).toBeUndefined();
    expect(mine.body.data.jobs.edges).toEqual([]);
    const all = await s.gql(MY_JOBS, {}, await s.token('user_audit_check', { role: 'auditor' }));
    expect(all.body.errors).toBeUndefined();
    expect(all.body.data.jobs.edges.map((e: { node: { title: string } }) => e.node.title)).not.toContain(title);

    // The same mutation with a valid token does create it, so the check above can fail.
    const ok = await s.gql(CREATE, input, await s.token(user));
    expect(ok.body.data.createJob.title).toBe(title);
    expect((await s.gql(MY_JOBS, {}, await s.token(user))).body.data.jobs.edges).toHaveLength(1);
  });
});
