import { prepared, type SqlClient } from '../store/database';

const NOTIFY_ALL = prepared(`SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, id) FROM unnest($2::text[]) AS id`);

/**
 * Announces new jobs (the worker's wake-up) after they commit, batched, from a transaction of
 * their own.
 *
 * Why not NOTIFY inside the create transaction: PostgreSQL serialises the commit of every
 * transaction that queued a notification behind one cluster-wide lock, held through the commit's
 * WAL flush. Creates that notify in-transaction therefore commit one at a time, across all
 * instances: the global-chain-head bottleneck again (bench/auditedWrites.ts measured ~0.7x of the
 * same writes without it). Here that lock is taken by a notify-only transaction with
 * synchronous_commit off (a notification is not data: nothing to wait for on disk), at most once
 * per batch window, and never by a write.
 *
 * Only for new jobs: nobody can be subscribed to a job before it exists, so a batched or (after a
 * crash between commit and send) lost announcement costs at most a worker poll interval. Status
 * changes, which subscribers watch, still notify inside their transaction.
 */
export class ChangeNotifier {
  private pending = new Set<string>();
  private flushing: Promise<void> | null = null;

  constructor(
    private readonly db: SqlClient,
    private readonly channel: string,
    private readonly batchMs = 20,
    private readonly onError: (err: Error) => void = () => undefined,
  ) {}

  /** Call after the transaction that changed `id` committed. Never throws, never waits. */
  changed(id: string): void {
    this.pending.add(id);
    this.flushing ??= this.drain();
  }

  /** Resolves once every change reported so far has been sent. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending.size > 0) {
        // Changes reported during the window (and while a batch is in flight) form one batch.
        await new Promise((resolve) => setTimeout(resolve, this.batchMs));
        const ids = [...this.pending];
        this.pending.clear();
        await this.db
          .query(NOTIFY_ALL, [this.channel, ids])
          .catch((err: Error) => this.onError(err));
      }
    } finally {
      this.flushing = null;
    }
  }
}
