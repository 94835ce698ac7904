import { expectRefused, VIEWER } from './helpers/authTokens';
import { startTestServer, type TestServer } from './helpers/server';

// azp and aud need their own configuration: the SDK checks azp only when authorized parties
// are configured, and lets a token without `aud` through even when an audience is.

const APP = 'https://app.example.com';
const API = 'https://api.jobledger.example';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer({ CLERK_AUTHORIZED_PARTIES: `${APP},https://admin.example.com`, CLERK_JWT_AUDIENCE: API });
});
afterAll(async () => {
  await s?.close();
});

const viewer = (token: string) => s.gql(VIEWER, {}, token);

test('a token with an authorized azp and the audience is accepted', async () => {
  const t = await s.token('user_parties', { azp: APP, claims: { aud: API } });
  const res = await viewer(t);
  expect(res.status).toBe(200);
  expect(res.body.data.viewer.userId).toBe('user_parties');
});

test('the second authorized party and an aud array holding the audience are accepted', async () => {
  const t = await s.token('user_parties_2', { azp: 'https://admin.example.com', claims: { aud: ['https://other.example', API] } });
  expect((await viewer(t)).body.data?.viewer.userId).toBe('user_parties_2');
});

describe('azp', () => {
  test('a wrong azp is refused', async () => {
    const t = await s.token('user_azp_wrong', { azp: 'https://evil.example.com', claims: { aud: API } });
    expectRefused(await viewer(t), 'token-invalid-authorized-parties', t);
  });

  test('a missing azp is refused', async () => {
    const t = await s.token('user_azp_missing', { claims: { aud: API } });
    expectRefused(await viewer(t), 'token-invalid-authorized-parties', t);
  });

  test('an azp that only starts with an authorized origin is refused', async () => {
    const t = await s.token('user_azp_prefix', { azp: `${APP}.evil.example`, claims: { aud: API } });
    expectRefused(await viewer(t), 'token-invalid-authorized-parties', t);
  });
});

describe('aud (CLERK_JWT_AUDIENCE set)', () => {
  test('a missing aud is refused', async () => {
    const t = await s.token('user_aud_missing', { azp: APP });
    expectRefused(await viewer(t), 'token-invalid-audience', t);
  });

  test('a wrong aud is refused', async () => {
    const t = await s.token('user_aud_wrong', { azp: APP, claims: { aud: 'https://other-api.example' } });
    expectRefused(await viewer(t), 'token-invalid-audience', t);
  });

  test('an aud array without the audience is refused', async () => {
    const t = await s.token('user_aud_array', { azp: APP, claims: { aud: ['https://a.example', 'https://b.example'] } });
    expectRefused(await viewer(t), 'token-invalid-audience', t);
  });
});
