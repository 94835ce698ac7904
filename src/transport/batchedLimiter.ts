/** Counts hits per key against a limit per window. */
export interface RequestLimiter {
  /** Counts one hit for `key`: 0 when it may go on, else the seconds until the key may try again. */
  take(key: string): number | Promise<number>;
  /** Sends what is still counted only here, and stops the timers. */
  stop(): Promise<void>;
}

/** The shared counter: rate-limiter-flexible's `penalty` adds points and answers the new total. */
export interface SharedCounter {
  penalty(key: string, points: number): Promise<{ consumedPoints: number; msBeforeNext: number }>;
}

export interface BatchedLimiterOptions {
  points: number;
  windowMs: number;
  /** How often hits counted here are sent to the shared counter. */
  flushMs: number;
  /** The most keys one flush sends (the rest wait for the next), so a spray of keys is bounded work. */
  maxKeysPerFlush: number;
  onStoreError(err: unknown): void;
}

interface Entry {
  /** The shared total at the store's last answer, for the window ending at `resetAt`. */
  known: number;
  resetAt: number;
  /** Hits let through here and not yet sent. */
  pending: number;
  /** Hits on their way to the store. */
  sending: number;
}

/**
 * While this many times the hits let through here but not yet counted in the store still fit in
 * what the last answer left, hits are let through without waiting (`take` returns a number);
 * past that, a hit waits for the store to count it. Far from the limit (every ordinary caller)
 * nothing waits on the database; near it every hit is counted in the store before it is let
 * through, so the limit is exact there whatever the number of instances.
 */
const SLICE = 8;

const secondsUntil = (at: number, now: number) => Math.max(1, Math.ceil((at - now) / 1000));

/**
 * A fixed-window limit shared by every instance through a store (PostgreSQL), without a database
 * round trip per request: hits are counted here and sent in batches (one `penalty` per key per
 * flush), and each answer tells this instance the total of all instances. How far the shared
 * total can run past the limit is bounded by what each instance lets through between two answers,
 * which shrinks to nothing as a key nears its limit (see SLICE). If the store cannot be reached,
 * this instance's own count still applies, and the hits are sent when it can.
 */
export class BatchedLimiter implements RequestLimiter {
  private readonly entries = new Map<string, Entry>();
  private readonly dirty = new Set<string>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly timer: NodeJS.Timeout;
  private lastSweep = Date.now();

  constructor(private readonly store: SharedCounter, private readonly opts: BatchedLimiterOptions) {
    this.timer = setInterval(() => this.flush(opts.maxKeysPerFlush), opts.flushMs);
    this.timer.unref();
  }

  take(key: string): number | Promise<number> {
    const now = Date.now();
    let e = this.entries.get(key);
    if (e === undefined) {
      e = { known: 0, resetAt: now + this.opts.windowMs, pending: 0, sending: 0 };
      this.entries.set(key, e);
    } else if (now >= e.resetAt) {
      e.known = 0;
      e.resetAt = now + this.opts.windowMs;
    }
    const { points } = this.opts;
    if (e.known + e.pending + e.sending >= points) return secondsUntil(e.resetAt, now);
    if (e.pending + e.sending < Math.floor((points - e.known) / SLICE)) {
      e.pending++;
      this.dirty.add(key);
      return 0;
    }
    return this.countInStore(key, e);
  }

  /** Sends this hit with any pending ones and lets it through only if the shared total allows. */
  private async countInStore(key: string, e: Entry): Promise<number> {
    const n = e.pending + 1;
    e.pending = 0;
    e.sending += n;
    this.dirty.delete(key);
    let total: number;
    try {
      const res = await this.store.penalty(key, n);
      e.sending -= n;
      total = this.learn(e, res);
    } catch (err) {
      e.sending -= n;
      this.opts.onStoreError(err);
      // The store is out of reach: this instance's own count decides, and the hits are sent later.
      e.pending += n;
      this.dirty.add(key);
      total = e.known + e.pending + e.sending;
      if (total > this.opts.points) e.pending--;
    }
    return total > this.opts.points ? secondsUntil(e.resetAt, Date.now()) : 0;
  }

  /** Takes in the store's answer; returns the shared total. */
  private learn(e: Entry, res: { consumedPoints: number; msBeforeNext: number }): number {
    const resetAt = Date.now() + Math.max(0, res.msBeforeNext);
    // Answers can arrive out of order: within one window the larger total is the newer one. A
    // window that ends later than the one known here is a new window in the store.
    e.known = resetAt > e.resetAt + 1000 ? res.consumedPoints : Math.max(e.known, res.consumedPoints);
    e.resetAt = resetAt;
    return res.consumedPoints;
  }

  private flush(maxKeys: number): void {
    let budget = maxKeys;
    for (const key of this.dirty) {
      if (budget-- <= 0) break;
      this.dirty.delete(key);
      const e = this.entries.get(key);
      if (e === undefined || e.pending === 0) continue;
      const n = e.pending;
      e.pending = 0;
      e.sending += n;
      const sent: Promise<void> = this.store.penalty(key, n).then(
        (res) => {
          e.sending -= n;
          this.learn(e, res);
        },
        (err: unknown) => {
          e.sending -= n;
          e.pending += n;
          this.dirty.add(key);
          this.opts.onStoreError(err);
        },
      );
      this.inFlight.add(sent);
      void sent.finally(() => this.inFlight.delete(sent));
    }
    const now = Date.now();
    if (now - this.lastSweep >= this.opts.windowMs) {
      this.lastSweep = now;
      for (const [key, e] of this.entries) if (now >= e.resetAt && e.pending === 0 && e.sending === 0) this.entries.delete(key);
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.flush(Infinity);
    await Promise.allSettled([...this.inFlight]);
  }
}
