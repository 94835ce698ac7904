import { createPublicKey } from 'node:crypto';
import type { Logger } from '../log';
import { AuthFailure, AuthReason, KeysUnavailable } from './errors';
import type { KeySource } from './verify';

export interface JwksKeySourceOptions {
  /** Backend API base, e.g. https://api.clerk.com (the JWKS is at {apiUrl}/v1/jwks). */
  apiUrl: string;
  secretKey: string;
  /**
   * Refill time of the refresh budget: unknown `kid`s and stale keys may trigger one refresh per
   * this interval on average, after a burst of `refreshBurst`. 0: no limit.
   */
  minRefreshIntervalMs: number;
  /** Refreshes that may be spent at once after a quiet period (default 2). */
  refreshBurst?: number;
  fetchTimeoutMs?: number;
  /** Keys older than this are refreshed on next use (and still served if that refresh fails). */
  maxKeyAgeMs?: number;
  /** After a failed fetch with nothing cached, how long before another fetch may be tried. */
  coldRetryMs?: number;
  negativeCacheSize?: number;
  negativeCacheTtlMs?: number;
  log?: Logger;
  now?: () => number;
}

export interface JwksStats {
  kids: string[];
  fetches: number;
  failures: number;
  lastAttemptAt: number | null;
  lastSuccessAt: number | null;
  lastError: string | null;
  negativeCacheSize: number;
}

export interface JwksKeySource extends KeySource {
  /** Fetches now (joining a fetch in flight), ignoring the refresh budget; rejects if the fetch fails. */
  refresh(): Promise<void>;
  stats(): JwksStats;
}

/**
 * A KeySource backed by Clerk's JWKS, fetched by us rather than by @clerk/backend because the
 * SDK refetches on every unknown `kid` with no rate limit or de-duplication: an anonymous
 * caller could otherwise turn each request into a Backend API call. Here unknown kids draw on a
 * small refresh budget (a token bucket: `refreshBurst` refreshes, refilled one per
 * `minRefreshIntervalMs`), concurrent ones share one fetch, and kids a fresh fetch did not
 * contain are remembered (bounded) so repeating them costs nothing.
 *
 * A budget rather than a minimum gap since the last fetch: Clerk rotates keys at any moment,
 * and a gap refused the new key's tokens until it had passed, even when nothing else had asked
 * for a refresh. With a budget, the first unknown kid after a quiet period always fetches; only
 * a flood of them is held to the refill rate.
 */
export function createJwksKeySource(opts: JwksKeySourceOptions): JwksKeySource {
  const now = opts.now ?? Date.now;
  const url = `${opts.apiUrl.replace(/\/+$/, '')}/v1/jwks`;
  const fetchTimeoutMs = opts.fetchTimeoutMs ?? 5000;
  const maxKeyAgeMs = opts.maxKeyAgeMs ?? 5 * 60_000;
  const coldRetryMs = opts.coldRetryMs ?? Math.min(opts.minRefreshIntervalMs, 1000);
  const negativeSize = opts.negativeCacheSize ?? 1000;
  const negativeTtlMs = opts.negativeCacheTtlMs ?? 60_000;
  const burst = Math.max(1, opts.refreshBurst ?? 2);
  let budget = burst;
  let budgetAt = now();

  let keys = new Map<string, string>();
  let inflight: Promise<void> | null = null;
  let lastAttemptAt: number | null = null;
  let lastSuccessAt: number | null = null;
  let lastError: string | null = null;
  let fetches = 0;
  let failures = 0;
  // Insertion order doubles as age order, so the oldest entry is the first key.
  const negative = new Map<string, number>();

  async function fetchOnce(): Promise<void> {
    fetches++;
    lastAttemptAt = now();
    try {
      const res = await fetch(url, {
        headers: { Authorization: `Bearer ${opts.secretKey}`, Accept: 'application/json' },
        signal: AbortSignal.timeout(fetchTimeoutMs),
      });
      if (!res.ok) throw new Error(`JWKS endpoint answered HTTP ${res.status}`);
      const next = parseJwks(await res.json(), opts.log);
      // An empty set is more likely a broken response than Clerk withdrawing every key: keep ours.
      if (next.size === 0) throw new Error('JWKS response held no usable RS256 RSA-2048 keys');
      keys = next;
      lastSuccessAt = now();
      lastError = null;
      for (const kid of keys.keys()) negative.delete(kid);
    } catch (err) {
      failures++;
      lastError = describe(err, fetchTimeoutMs);
      opts.log?.warn('JWKS refresh failed', { url, reason: lastError, cachedKeys: keys.size });
      throw err;
    }
  }

  function refresh(): Promise<void> {
    inflight ??= fetchOnce().finally(() => {
      inflight = null;
    });
    return inflight;
  }

  /** Takes one refresh from the budget if there is one. */
  function spend(): boolean {
    const interval = opts.minRefreshIntervalMs;
    if (interval <= 0) return true;
    const t = now();
    budget = Math.min(burst, budget + (t - budgetAt) / interval);
    budgetAt = t;
    if (budget < 1) return false;
    budget -= 1;
    return true;
  }

  /** Joins a fetch in flight, or starts one if `allowed` says so; never throws. Returns whether a fetch succeeded. */
  async function gatedRefresh(allowed: () => boolean): Promise<boolean> {
    if (!inflight && !allowed()) return false;
    try {
      await refresh();
      return true;
    } catch {
      return false;
    }
  }

  function rememberUnknown(kid: string): void {
    negative.delete(kid);
    if (negative.size >= negativeSize) negative.delete(negative.keys().next().value!);
    negative.set(kid, now() + negativeTtlMs);
  }

  function isKnownUnknown(kid: string): boolean {
    const until = negative.get(kid);
    if (until === undefined) return false;
    if (now() < until) return true;
    negative.delete(kid);
    return false;
  }

  function pick(kid: string | undefined): string | undefined {
    if (kid !== undefined) return keys.get(kid);
    // Without a kid there is nothing to choose by: only an unambiguous key set will do.
    return keys.size === 1 ? keys.values().next().value : undefined;
  }

  return {
    refresh,
    async keyFor(kid) {
      let fetched = false;
      if (keys.size === 0) {
        fetched = await gatedRefresh(() => lastAttemptAt === null || now() - lastAttemptAt >= coldRetryMs);
        if (keys.size === 0) throw new KeysUnavailable(lastError ?? 'JWKS not fetched yet');
      } else if (lastSuccessAt !== null && now() - lastSuccessAt >= maxKeyAgeMs) {
        fetched = await gatedRefresh(spend);
      }
      let pem = pick(kid);
      if (pem !== undefined) return pem;
      if (kid === undefined || isKnownUnknown(kid)) throw new AuthFailure(AuthReason.jwkKidMismatch);
      if (fetched || (await gatedRefresh(spend))) {
        pem = pick(kid);
        if (pem !== undefined) return pem;
        // Only a kid checked against a fetch that succeeded is remembered: one refused for want
        // of budget may be a genuinely new key and gets its chance at the next refill.
        rememberUnknown(kid);
      }
      throw new AuthFailure(AuthReason.jwkKidMismatch);
    },
    stats: () => ({
      kids: [...keys.keys()],
      fetches,
      failures,
      lastAttemptAt,
      lastSuccessAt,
      lastError,
      negativeCacheSize: negative.size,
    }),
  };
}

/** JWKs -> SPKI PEM by kid, keeping only keys the SDK's `jwtKey` path can use. */
function parseJwks(body: unknown, log?: Logger): Map<string, string> {
  const list = (body as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(list)) throw new Error('JWKS response has no "keys" array');
  const out = new Map<string, string>();
  for (const jwk of list as Array<Record<string, unknown>>) {
    const kid = jwk?.kid;
    if (typeof kid !== 'string' || jwk.kty !== 'RSA' || (jwk.alg !== undefined && jwk.alg !== 'RS256') || (jwk.use !== undefined && jwk.use !== 'sig')) {
      log?.debug('JWKS key skipped: not an RS256 signing key with a kid', { kid: typeof kid === 'string' ? kid : null });
      continue;
    }
    try {
      const key = createPublicKey({ key: { kty: 'RSA', n: jwk.n as string, e: jwk.e as string }, format: 'jwk' });
      // @clerk/backend imports a jwtKey PEM assuming RSA-2048; any other size would fail later.
      if (key.asymmetricKeyDetails?.modulusLength !== 2048) throw new Error('not RSA-2048');
      out.set(kid, key.export({ type: 'spki', format: 'pem' }).toString());
    } catch (err) {
      log?.warn('JWKS key skipped: unusable RSA key', { kid, reason: (err as Error).message });
    }
  }
  return out;
}

// Says why without echoing anything request-specific (the Authorization header never appears).
function describe(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return `JWKS request timed out after ${timeoutMs} ms`;
  const cause = e?.cause?.code ?? e?.cause?.message;
  return cause ? `${e.message} (${cause})` : (e?.message ?? String(err));
}
