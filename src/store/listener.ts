import pg from 'pg';
import type { ListenState, Notification } from './database';

export interface ListenerOptions {
  onError?: (err: Error) => void;
  /** First retry delay after the connection is lost; doubles per failed attempt up to maxDelayMs. */
  minDelayMs?: number;
  maxDelayMs?: number;
}

/** Lets an operator (and the tests) find this connection in pg_stat_activity. */
export const LISTEN_APPLICATION_NAME = 'jobledger-listen';

/**
 * The one dedicated LISTEN connection of a process. When PostgreSQL restarts, fails over, or an
 * administrator terminates the backend, it reconnects with capped exponential backoff, LISTENs on
 * every channel again, and tells its watchers: notifications sent while it was down are lost, so
 * whoever depends on them (subscriptions, the session gate) must re-read what they care about.
 */
export class PgListener {
  private client: pg.Client | null = null;
  private readonly handlers = new Map<string, Set<Notification>>();
  private readonly watchers = new Set<(state: ListenState) => void>();
  private state: ListenState = { connected: false, since: new Date(), reconnects: 0 };
  private opened = false;
  private closed = false;
  private attempt = 0;
  private timer: NodeJS.Timeout | null = null;
  private firstConnect: Promise<void> | null = null;

  constructor(private readonly url: string, private readonly opts: ListenerOptions = {}) {}

  get current(): ListenState {
    return this.state;
  }

  watch(fn: (state: ListenState) => void): () => void {
    this.watchers.add(fn);
    return () => this.watchers.delete(fn);
  }

  async listen(channel: string, onNotify: Notification): Promise<() => Promise<void>> {
    let set = this.handlers.get(channel);
    const isNew = !set;
    if (!set) this.handlers.set(channel, (set = new Set()));
    set.add(onNotify);
    const stop = async () => void set!.delete(onNotify);
    if (!this.opened) {
      // The first connection fails loudly (start-up should stop on a wrong URL); later losses retry.
      this.firstConnect ??= this.connect().finally(() => (this.firstConnect = null));
      try {
        await this.firstConnect;
      } catch (err) {
        set.delete(onNotify);
        throw err;
      }
      this.opened = true;
    } else if (isNew && this.client && this.state.connected) {
      await this.client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    }
    // While reconnecting, the reconnect LISTENs on every channel in `handlers`, this one included.
    return stop;
  }

  private async connect(): Promise<void> {
    const c = new pg.Client({ connectionString: this.url, application_name: LISTEN_APPLICATION_NAME });
    c.on('error', (err) => this.lost(c, err));
    c.on('end', () => this.lost(c, null));
    c.on('notification', (n) => {
      for (const h of this.handlers.get(n.channel) ?? []) h(n.payload ?? '');
    });
    try {
      await c.connect();
      // A live Map iterator also visits channels added while these statements run.
      for (const channel of this.handlers.keys()) await c.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    } catch (err) {
      c.removeAllListeners('end');
      c.removeAllListeners('error');
      c.on('error', () => undefined);
      await c.end().catch(() => undefined);
      throw err;
    }
    if (this.closed) {
      await c.end().catch(() => undefined);
      return;
    }
    const wasOpened = this.opened;
    this.client = c;
    this.attempt = 0;
    this.setState({ connected: true, since: new Date(), reconnects: this.state.reconnects + (wasOpened ? 1 : 0) });
  }

  private lost(c: pg.Client, err: Error | null): void {
    if (c !== this.client) return; // an old client's late event, or one that never became current
    this.client = null;
    c.removeAllListeners('notification');
    c.on('error', () => undefined);
    void c.end().catch(() => undefined);
    if (this.closed) return;
    this.opts.onError?.(new Error(`LISTEN connection lost (${err?.message ?? 'closed by the server'}); reconnecting`));
    this.setState({ connected: false, since: new Date(), reconnects: this.state.reconnects });
    this.schedule();
  }

  private schedule(): void {
    const min = this.opts.minDelayMs ?? 100;
    const max = this.opts.maxDelayMs ?? 10_000;
    const base = Math.min(max, min * 2 ** this.attempt++);
    const delay = base / 2 + Math.random() * (base / 2); // jitter: instances do not reconnect in lockstep
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect().catch((err: Error) => {
        if (this.closed) return;
        this.opts.onError?.(new Error(`LISTEN reconnect failed (${err.message}); retrying`));
        this.schedule();
      });
    }, delay);
    this.timer.unref();
  }

  private setState(next: ListenState): void {
    this.state = next;
    for (const w of this.watchers) {
      try {
        w(next);
      } catch (err) {
        this.opts.onError?.(err as Error);
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    const c = this.client;
    this.client = null;
    await c?.end().catch(() => undefined);
  }
}
