process.env.CLERK_TELEMETRY_DISABLED = '1';

import crypto from 'node:crypto';
import { generateSigningKey, signSessionToken } from '../src/auth/devIssuer';
import { AuthFailure, AuthReason, KeysUnavailable } from '../src/auth/errors';
import { createJwksKeySource, type JwksKeySourceOptions } from '../src/auth/jwks';
import { createTokenVerifier } from '../src/auth/verify';
import { startClerkEmulator, type ClerkEmulator } from '../devtools/clerk-emulator/emulator';
import type { AuthConfig } from '../src/config';
import type { Logger } from '../src/log';

const MIN_INTERVAL = 30_000;

let emu: ClerkEmulator;
beforeEach(async () => {
  emu = await startClerkEmulator();
});
afterEach(() => emu.close());

/** A clock the test moves by hand, so the refresh gate is tested without waiting. */
function fakeClock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

function captureLog() {
  const lines: Array<{ level: string; msg: string; fields?: Record<string, unknown> }> = [];
  const at = (level: string) => (msg: string, fields?: Record<string, unknown>) => void lines.push({ level, msg, fields });
  const log: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { log, lines };
}

function source(extra: Partial<JwksKeySourceOptions> = {}) {
  return createJwksKeySource({ apiUrl: emu.url, secretKey: emu.secretKey, minRefreshIntervalMs: MIN_INTERVAL, ...extra });
}

function authConfig(): AuthConfig {
  return {
    mode: 'jwks', secretKey: emu.secretKey, apiUrl: emu.url, issuer: emu.issuer, authorizedParties: [],
    clockSkewMs: 5000, roleClaim: 'metadata.role', acceptTemplateTokens: false, allowPendingSessions: false,
    acceptM2mTokens: false, jwksMinRefreshIntervalMs: MIN_INTERVAL,
    sessionCheckCacheMs: 5000,
  };
}

const jwksCalls = () => emu.requestCount('/v1/jwks');
const sessionToken = async (userId = 'user_1') => emu.mintToken(emu.createSession(userId).id);
const reasonOf = (p: Promise<unknown>) => p.then(() => 'resolved', (e: unknown) => (e instanceof AuthFailure ? e.reason : (e as Error).name));

describe('createJwksKeySource against the emulator', () => {
  it('verifies emulator tokens end to end through @clerk/backend verifyToken, fetching the JWKS once', async () => {
    const verifier = createTokenVerifier(authConfig(), source());
    const a = await verifier.verify(await sessionToken('user_a'));
    const b = await verifier.verify(await sessionToken('user_b'));
    expect(a).toMatchObject({ kind: 'user', userId: 'user_a', sessionId: expect.stringMatching(/^sess_/) });
    expect(b.userId).toBe('user_b');
    expect(jwksCalls()).toBe(1);
  });

  it('returns the PEM of the JWK: the same key the emulator signs with', async () => {
    const pem = await source().keyFor(emu.currentKey.kid);
    const same = (x: string) => crypto.createPublicKey(x).export({ type: 'spki', format: 'der' }).toString('hex');
    expect(same(pem)).toBe(same(emu.currentKey.publicPem));
  });

  it('picks up a rotated key at once, even right after a fetch', async () => {
    const clock = fakeClock();
    const verifier = createTokenVerifier(authConfig(), source({ now: clock.now }));
    await verifier.verify(await sessionToken());
    clock.advance(1000);
    emu.rotateKey();
    const rotated = await sessionToken('user_rot');
    // One second after a fetch, the new kid still has a refresh to spend: it verifies first time.
    expect((await verifier.verify(rotated)).userId).toBe('user_rot');
    expect(jwksCalls()).toBe(2);
  });

  it('holds unknown kids to the refill rate once the refresh budget is spent, then lets a new key through', async () => {
    const clock = fakeClock();
    const keys = source({ now: clock.now, refreshBurst: 2 });
    await keys.keyFor(emu.currentKey.kid);
    expect(await reasonOf(keys.keyFor('ins_bogus_1'))).toBe(AuthReason.jwkKidMismatch);
    expect(await reasonOf(keys.keyFor('ins_bogus_2'))).toBe(AuthReason.jwkKidMismatch);
    expect(jwksCalls()).toBe(3);
    // Budget spent: a third unknown kid costs no fetch...
    emu.rotateKey();
    expect(await reasonOf(keys.keyFor(emu.currentKey.kid))).toBe(AuthReason.jwkKidMismatch);
    expect(jwksCalls()).toBe(3);
    // ...and is not remembered as unknown: after one refill interval it gets its fetch.
    clock.advance(MIN_INTERVAL);
    expect(await keys.keyFor(emu.currentKey.kid)).toMatch(/BEGIN PUBLIC KEY/);
    expect(jwksCalls()).toBe(4);
  });

  it('lets 1,000 tokens with random kids cause only a handful of JWKS requests', async () => {
    const clock = fakeClock();
    const verifier = createTokenVerifier(authConfig(), source({ now: clock.now }));
    const forger = generateSigningKey();
    const forged = await Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        signSessionToken(forger, emu.issuer, { userId: `user_${i}`, header: { kid: `ins_${crypto.randomBytes(12).toString('hex')}` } }),
      ),
    );
    const reasons = new Set<string>();
    // Half arrive at once, half one by one over 100 s of fake time (3+ refresh intervals).
    for (const r of await Promise.all(forged.slice(0, 500).map((t) => reasonOf(verifier.verify(t))))) reasons.add(r);
    for (const t of forged.slice(500)) {
      clock.advance(200);
      reasons.add(await reasonOf(verifier.verify(t)));
    }
    expect([...reasons]).toEqual([AuthReason.jwkKidMismatch]);
    // 1 cold fetch + the burst of 2 + one refill per 30 s interval over 100 s.
    expect(jwksCalls()).toBeLessThanOrEqual(1 + 2 + 3);
    expect(jwksCalls()).toBeGreaterThanOrEqual(1);
  });

  it('remembers a kid a fresh fetch did not contain, so repeating it costs no fetch', async () => {
    const clock = fakeClock();
    const keys = source({ now: clock.now });
    await keys.keyFor(emu.currentKey.kid);
    clock.advance(MIN_INTERVAL);
    expect(await reasonOf(keys.keyFor('ins_bogus'))).toBe(AuthReason.jwkKidMismatch);
    expect(jwksCalls()).toBe(2);
    clock.advance(MIN_INTERVAL);
    expect(await reasonOf(keys.keyFor('ins_bogus'))).toBe(AuthReason.jwkKidMismatch);
    expect(jwksCalls()).toBe(2);
    expect(keys.stats().negativeCacheSize).toBe(1);
  });

  it('bounds the negative cache', async () => {
    const clock = fakeClock();
    const keys = source({ now: clock.now, minRefreshIntervalMs: 0, negativeCacheSize: 3 });
    for (let i = 0; i < 10; i++) await reasonOf(keys.keyFor(`ins_bogus_${i}`));
    expect(keys.stats().negativeCacheSize).toBe(3);
  });

  it('keeps serving cached keys through an outage, refreshing stale keys when allowed', async () => {
    const clock = fakeClock();
    const { log, lines } = captureLog();
    const verifier = createTokenVerifier(authConfig(), source({ now: clock.now, log }));
    const token = await emu.mintToken(emu.createSession('user_o').id, undefined, { expiresInSeconds: 3600 });
    await verifier.verify(token);
    emu.setJwksFailure('500');
    clock.advance(10 * 60_000); // past the 5 minute key age
    const fresh = await sessionToken('user_o2');
    expect((await verifier.verify(fresh)).userId).toBe('user_o2');
    expect(jwksCalls()).toBe(2); // the stale refresh was tried, failed, and the cache was kept
    expect(lines).toContainEqual(expect.objectContaining({ level: 'warn', msg: 'JWKS refresh failed' }));
  });

  it('throws KeysUnavailable when the endpoint fails and nothing is cached, and logs why without secrets', async () => {
    const { log, lines } = captureLog();
    emu.setJwksFailure('500');
    const keys = source({ log });
    const err = await keys.keyFor(emu.currentKey.kid).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeysUnavailable);
    expect((err as KeysUnavailable).detail).toMatch(/HTTP 500/);
    const warn = lines.find((l) => l.level === 'warn');
    expect(warn?.fields?.reason).toMatch(/HTTP 500/);
    expect(JSON.stringify(lines)).not.toContain(emu.secretKey);
    // Recovery: once the endpoint answers again, the next allowed attempt fills the cache.
    emu.setJwksFailure('none');
    await keys.refresh();
    expect(await keys.keyFor(emu.currentKey.kid)).toMatch(/BEGIN PUBLIC KEY/);
  });

  it('treats a wrong secret key and a hanging endpoint as unavailable', async () => {
    const wrongKey = createJwksKeySource({ apiUrl: emu.url, secretKey: 'sk_test_wrong', minRefreshIntervalMs: MIN_INTERVAL });
    expect(await reasonOf(wrongKey.keyFor(undefined))).toBe('KeysUnavailable');
    expect(wrongKey.stats().lastError).toMatch(/HTTP 401/);

    emu.setJwksFailure('hang');
    const hanging = source({ fetchTimeoutMs: 200 });
    expect(await reasonOf(hanging.keyFor(emu.currentKey.kid))).toBe('KeysUnavailable');
    expect(hanging.stats().lastError).toMatch(/timed out/);
  });

  it('does not retry a failing endpoint on every request while nothing is cached', async () => {
    const clock = fakeClock();
    emu.setJwksFailure('500');
    const keys = source({ now: clock.now, coldRetryMs: 1000 });
    for (let i = 0; i < 20; i++) expect(await reasonOf(keys.keyFor(emu.currentKey.kid))).toBe('KeysUnavailable');
    expect(jwksCalls()).toBe(1);
    clock.advance(1000);
    emu.setJwksFailure('none');
    expect(await keys.keyFor(emu.currentKey.kid)).toMatch(/BEGIN PUBLIC KEY/);
    expect(jwksCalls()).toBe(2);
  });

  it('shares one fetch among concurrent cold lookups and concurrent unknown kids', async () => {
    const clock = fakeClock();
    const keys = source({ now: clock.now });
    const pems = await Promise.all(Array.from({ length: 25 }, () => keys.keyFor(emu.currentKey.kid)));
    expect(new Set(pems).size).toBe(1);
    expect(jwksCalls()).toBe(1);

    clock.advance(MIN_INTERVAL);
    const reasons = await Promise.all(Array.from({ length: 25 }, (_, i) => reasonOf(keys.keyFor(`ins_unknown_${i}`))));
    expect(new Set(reasons)).toEqual(new Set([AuthReason.jwkKidMismatch]));
    expect(jwksCalls()).toBe(2);
    expect(keys.stats()).toMatchObject({ fetches: 2, failures: 0 });
  });

  it('uses the only key for a token without a kid, and refuses when there are several', async () => {
    const clock = fakeClock();
    const keys = source({ now: clock.now });
    expect(await keys.keyFor(undefined)).toMatch(/BEGIN PUBLIC KEY/);
    emu.rotateKey();
    await keys.refresh();
    expect(keys.stats().kids).toHaveLength(2);
    expect(await reasonOf(keys.keyFor(undefined))).toBe(AuthReason.jwkKidMismatch);
  });

  it('stops trusting a key Clerk removed from the JWKS after the next refresh', async () => {
    const keys = source();
    const old = emu.currentKey.kid;
    await keys.keyFor(old);
    emu.rotateKey();
    emu.dropKey(old);
    await keys.refresh();
    expect(keys.stats().kids).toEqual([emu.currentKey.kid]);
    expect(await reasonOf(keys.keyFor(old))).toBe(AuthReason.jwkKidMismatch);
  });
});
