import { createClerkClient } from '@clerk/backend';
import type { Logger } from '../log';

/**
 * A user's primary email as far as we could learn it. `unknown` says why it is missing, so the
 * audit record can say so instead of leaving an unexplained blank.
 */
export type EmailLookup = { email: string; unknown?: undefined } | { email: null; unknown: 'lookup-timed-out' | 'lookup-failed' | 'no-primary-email' };

export interface UserEmailDirectory {
  /** Resolves within the lookup timeout and never rejects. */
  lookup(userId: string): Promise<EmailLookup>;
  /** The user's profile changed (Clerk's user.updated) or they were deleted: ask again next time. */
  forget(userId: string): void;
}

export interface ClerkUserEmailsOptions {
  apiUrl: string;
  secretKey: string;
  /** How long a request waits for Clerk before recording the email as unknown. */
  timeoutMs?: number;
  /** How long a found email is reused (user.updated also evicts it at once). */
  ttlMs?: number;
  /** How long a failed lookup is remembered, so an outage costs one wait per user, not one per request. */
  failureTtlMs?: number;
  maxEntries?: number;
  log?: Logger;
  now?: () => number;
  /** For tests: the Users API call (default: @clerk/backend's `users.getUser`). */
  getUser?: (userId: string) => Promise<{ primaryEmailAddress: { emailAddress: string } | null }>;
}

type Entry = { value: EmailLookup; until: number };

/**
 * Clerk's default session token has no email claim, so the audit record would otherwise hold
 * only an opaque user id. This asks the Backend API Users endpoint for the primary email, caches
 * it per user (bounded, with a TTL), and never lets a slow or failing Clerk fail or hold up the
 * request beyond a short timeout: the email is then recorded as unknown, with the reason.
 */
export function createClerkUserEmails(opts: ClerkUserEmailsOptions): UserEmailDirectory {
  const now = opts.now ?? Date.now;
  const timeoutMs = opts.timeoutMs ?? 1000;
  const ttlMs = opts.ttlMs ?? 10 * 60_000;
  const failureTtlMs = opts.failureTtlMs ?? 30_000;
  const maxEntries = opts.maxEntries ?? 10_000;
  const getUser = opts.getUser ?? ((id: string) => createClerkClient({ secretKey: opts.secretKey, apiUrl: opts.apiUrl }).users.getUser(id));
  // Insertion order is age order: the first key is the oldest, dropped first when full.
  const cache = new Map<string, Entry>();
  const inflight = new Map<string, Promise<EmailLookup>>();
  // Bumped by forget(): a lookup started before a user.updated must not refill the cache after it.
  const generation = new Map<string, number>();

  function remember(userId: string, value: EmailLookup, forMs: number): void {
    cache.delete(userId);
    if (cache.size >= maxEntries) cache.delete(cache.keys().next().value!);
    cache.set(userId, { value, until: now() + forMs });
  }

  function fetchEmail(userId: string): Promise<EmailLookup> {
    let pending = inflight.get(userId);
    if (pending) return pending;
    const gen = generation.get(userId) ?? 0;
    pending = withDeadline(getUser(userId), Math.max(10_000, timeoutMs))
      .then(
        (user): EmailLookup => {
          const email = user.primaryEmailAddress?.emailAddress;
          return email ? { email } : { email: null, unknown: 'no-primary-email' };
        },
        (err: unknown): EmailLookup => {
          opts.log?.warn('Clerk user lookup failed', { userId, reason: (err as { status?: number; message?: string })?.status ?? (err as Error)?.message });
          return { email: null, unknown: 'lookup-failed' };
        },
      )
      .then((value) => {
        if ((generation.get(userId) ?? 0) === gen) remember(userId, value, value.email === null && value.unknown === 'lookup-failed' ? failureTtlMs : ttlMs);
        return value;
      })
      .finally(() => inflight.delete(userId));
    inflight.set(userId, pending);
    return pending;
  }

  return {
    async lookup(userId) {
      const hit = cache.get(userId);
      if (hit && hit.until > now()) return hit.value;
      const pending = fetchEmail(userId);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<EmailLookup>((resolve) => {
        timer = setTimeout(() => resolve({ email: null, unknown: 'lookup-timed-out' }), timeoutMs);
        timer.unref();
      });
      // A late answer still fills the cache (fetchEmail's own .then), for the next request.
      const result = await Promise.race([pending, timedOut]);
      clearTimeout(timer);
      if (result.unknown === 'lookup-timed-out') {
        opts.log?.warn('Clerk user lookup timed out: email recorded as unknown', { userId, timeoutMs });
        // The next requests of this user do not wait again while Clerk is slow; the late
        // answer, if it comes, replaces this.
        const cached = cache.get(userId);
        if (!cached || cached.until <= now()) remember(userId, result, failureTtlMs);
      }
      return result;
    },
    forget(userId) {
      cache.delete(userId);
      generation.set(userId, (generation.get(userId) ?? 0) + 1);
      if (generation.size > maxEntries) generation.delete(generation.keys().next().value!);
    },
  };
}

/** The SDK's request has no timeout of its own: a hung connection must not hold a lookup forever. */
function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}
