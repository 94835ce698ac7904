import { createHash } from 'node:crypto';
import { RateLimiterMemory, RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';
import { rateLimited } from '../errors';
import { metrics } from '../metrics';
import type { Logger } from '../log';
import type { Database } from '../store/database';
import { BatchedLimiter, type RequestLimiter } from './batchedLimiter';
import { addressKey, type AddressOf } from './clientAddress';
import { sendError, type Middleware } from './respond';

const WINDOW_S = 60;
/** Created by migration 0008 in the shape RateLimiterPostgres expects; `tableCreated` tells it so. */
const TABLE = 'rate_limits';
const FLUSH_MS = 1000;
const MAX_KEYS_PER_FLUSH = 500;
const CLEAR_EXPIRED_MS = 5 * 60_000;

export interface RateLimitOptions {
  /** RATE_LIMIT_PER_MINUTE; 0 disables. */
  perMinute: number;
  /** RATE_LIMIT_AUTH_FAILURES_PER_MINUTE; 0 disables. */
  authFailuresPerMinute: number;
  db: Database;
  log: Logger;
}

export interface RateLimits {
  /** Where the counts live: this process, or the database every instance shares. */
  readonly store: 'memory' | 'postgres';
  /** The request limit as the last step before GraphQL; null when RATE_LIMIT_PER_MINUTE is 0. */
  middleware(addressOf: AddressOf): Middleware | null;
  readonly failures: FailureBudget;
  stop(): Promise<void>;
}

/**
 * The two limits, from rate-limiter-flexible: in this process on the embedded store (one process
 * holds it), in the database's `rate_limits` table when it is PostgreSQL, so that every instance
 * counts against the same numbers. See README, "Rate limits".
 */
export function createRateLimits(opts: RateLimitOptions): RateLimits {
  const { perMinute, authFailuresPerMinute, db, log } = opts;
  const timers: NodeJS.Timeout[] = [];
  let requests: RequestLimiter | null = null;
  let failureCounter: Counter | null = null;
  if (db.kind === 'postgres') {
    // Our pool, through the Database seam: the library calls `query({ text, values })`.
    const storeClient = { query: (q: { text: string; values?: unknown[] }) => db.query(q.text, q.values ?? []) };
    const shared = (keyPrefix: string, points: number, insuranceLimiter?: RateLimiterMemory) =>
      new RateLimiterPostgres({ storeClient, storeType: 'client', tableName: TABLE, tableCreated: true, clearExpiredByTimeout: false, keyPrefix, points, duration: WINDOW_S, insuranceLimiter });
    let warnedAt = 0;
    const onStoreError = (err: unknown) => {
      if (Date.now() - warnedAt < 60_000) return;
      warnedAt = Date.now();
      log.warn('rate limits: the shared counters cannot be reached; each instance counts alone meanwhile', { error: (err as Error)?.message });
    };
    if (perMinute > 0) {
      requests = new BatchedLimiter(shared('req', perMinute), { points: perMinute, windowMs: WINDOW_S * 1000, flushMs: FLUSH_MS, maxKeysPerFlush: MAX_KEYS_PER_FLUSH, onStoreError });
    }
    if (authFailuresPerMinute > 0) {
      // Failures are rare and each one is counted in the store at once (exact across instances);
      // if the database cannot answer, this process's own count stands in.
      failureCounter = shared('authfail', authFailuresPerMinute, new RateLimiterMemory({ keyPrefix: 'authfail', points: authFailuresPerMinute, duration: WINDOW_S }));
    }
    const cleaner = shared('req', 1) as unknown as { clearExpired(expiredBefore: number): Promise<void> };
    const clear = setInterval(() => void cleaner.clearExpired(Date.now()), CLEAR_EXPIRED_MS);
    clear.unref();
    timers.push(clear);
  } else {
    if (perMinute > 0) requests = memoryLimiter(new RateLimiterMemory({ keyPrefix: 'req', points: perMinute, duration: WINDOW_S }));
    if (authFailuresPerMinute > 0) failureCounter = new RateLimiterMemory({ keyPrefix: 'authfail', points: authFailuresPerMinute, duration: WINDOW_S });
  }
  return {
    store: db.kind === 'postgres' ? 'postgres' : 'memory',
    middleware: (addressOf) => (requests ? rateLimit(requests, perMinute, addressOf) : null),
    failures: new FailureBudget(failureCounter, authFailuresPerMinute, log),
    async stop() {
      for (const t of timers) clearInterval(t);
      await requests?.stop();
    },
  };
}

const secondsUntil = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

function memoryLimiter(limiter: RateLimiterMemory): RequestLimiter {
  const over = (r: unknown) => {
    if (r instanceof RateLimiterRes) return secondsUntil(r.msBeforeNext);
    throw r;
  };
  return { take: (key) => limiter.consume(key).then(() => 0, over), stop: async () => undefined };
}

/** A key the store can hold (varchar(255)): user ids are short, but a token's `sub` is the caller's to choose. */
const storeKey = (key: string) => (key.length <= 200 ? key : `sha256:${createHash('sha256').update(key).digest('hex')}`);

/** The caller's key: the user when signed in, else the client address (IPv6 by its /64). */
export const callerKey = (userId: string | undefined, address: string | null) => (userId === undefined ? addressKey(address) : storeKey(`user:${userId}`));

/**
 * Every request to /graphql counts, after authentication, against its caller's per-minute limit.
 * Over it: 429 RATE_LIMITED with Retry-After, and nothing runs.
 */
export function rateLimit(limiter: RequestLimiter, perMinute: number, addressOf: AddressOf): Middleware {
  return (req, res, next) => {
    const wait = limiter.take(callerKey(req.principal?.userId, addressOf(req)));
    const decide = (seconds: number) => {
      if (seconds <= 0) return next();
      metrics.rateLimited('request');
      sendError(req, res, rateLimited(perMinute, seconds));
    };
    if (typeof wait === 'number') return decide(wait);
    wait.then(decide, next);
  };
}

type Counter = Pick<RateLimiterMemory, 'penalty'>;

/**
 * Refused credentials per client address: bearer tokens over HTTP, WebSocket `connection_init`
 * tokens and webhook signatures all draw on the same budget. Once a key has used it up, its next
 * attempts are refused with 429 before any signature is checked, so refused credentials cannot
 * burn CPU or probe the verifier for free. `blocked` asks nothing of the store (it runs before
 * every token check); each refusal is counted in the store at once, and the refusal that goes
 * over the budget (possible when the budget ran out on another instance) is itself a 429.
 */
export class FailureBudget {
  private readonly blockedUntil = new Map<string, number>();

  constructor(private readonly counter: Counter | null, readonly perMinute: number, private readonly log: Logger) {}

  /** Seconds `key` must wait before its next credential is even checked; 0 when it may try. */
  blocked(key: string): number {
    const until = this.blockedUntil.get(key);
    if (until === undefined) return 0;
    const now = Date.now();
    if (until > now) return secondsUntil(until - now);
    this.blockedUntil.delete(key);
    return 0;
  }

  /** Counts one refused credential: 0 while within the budget (answer as refused), else seconds to wait (answer 429). */
  async refuse(key: string): Promise<number> {
    if (this.counter === null) return 0;
    let res: RateLimiterRes;
    try {
      res = await this.counter.penalty(key, 1);
    } catch (err) {
      this.log.warn('rate limits: a refused credential could not be counted', { error: (err as Error)?.message });
      return 0;
    }
    if (res.consumedPoints < this.perMinute) return 0;
    const now = Date.now();
    if (this.blockedUntil.size > 10_000) for (const [k, until] of this.blockedUntil) if (until <= now) this.blockedUntil.delete(k);
    this.blockedUntil.set(key, now + res.msBeforeNext);
    return res.consumedPoints > this.perMinute ? secondsUntil(res.msBeforeNext) : 0;
  }
}
