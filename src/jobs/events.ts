import type { JobsService } from './service';
import { JOB_UPDATED_CHANNEL, type JobRecord } from './types';
import type { Database } from '../store/database';

type Listener = (job: JobRecord) => void;

/**
 * Fans job changes out to subscriptions. The source is PostgreSQL LISTEN/NOTIFY (sent at commit
 * by the jobs service), so a change made through any instance reaches subscribers on every
 * instance. One LISTEN per process; one reload per notified job, shared by its subscribers.
 */
export class JobEvents {
  private readonly listeners = new Map<string, Set<Listener>>();
  private unlisten?: () => Promise<void>;
  private unwatch?: () => void;

  constructor(private readonly db: Database, private readonly jobs: JobsService) {}

  async start(): Promise<void> {
    this.unlisten = await this.db.listen(JOB_UPDATED_CHANNEL, (jobId) => void this.dispatch(jobId));
    // Changes committed while the LISTEN connection was down were announced to nobody: send every
    // live subscriber its job as it is now (the listener drops what it already yielded).
    this.unwatch = this.db.watchListen((state) => {
      if (state.connected) for (const jobId of this.listeners.keys()) void this.dispatch(jobId);
    });
  }

  async stop(): Promise<void> {
    this.unwatch?.();
    await this.unlisten?.();
  }

  get subscriberCount(): number {
    let n = 0;
    for (const s of this.listeners.values()) n += s.size;
    return n;
  }

  private async dispatch(jobId: string): Promise<void> {
    const set = this.listeners.get(jobId);
    if (!set || set.size === 0) return;
    const job = await this.jobs.get(jobId).catch(() => null);
    if (job) for (const l of set) l(job);
  }

  /** Yields the job as it is now, then every committed change, until the consumer stops. */
  subscribe(current: JobRecord): AsyncIterableIterator<JobRecord> {
    const queue: JobRecord[] = [current];
    let waiting: ((r: IteratorResult<JobRecord>) => void) | null = null;
    let done = false;
    let lastSeen = current.updatedAt.getTime();
    let lastStatus = current.status;
    const listener: Listener = (job) => {
      // Notifications can arrive for a change we already yielded (the initial read raced it), or
      // for none at all (a new job's announcement, sent after commit, reaching an early subscriber).
      // Every change moves the status, so an unchanged status at the same time is nothing new.
      const at = job.updatedAt.getTime();
      if (at < lastSeen || (at === lastSeen && job.status === lastStatus)) return;
      lastSeen = at;
      lastStatus = job.status;
      if (waiting) {
        const w = waiting;
        waiting = null;
        w({ value: job, done: false });
      } else queue.push(job);
    };
    let set = this.listeners.get(current.id);
    if (!set) this.listeners.set(current.id, (set = new Set()));
    set.add(listener);
    const finish = () => {
      done = true;
      set!.delete(listener);
      if (set!.size === 0) this.listeners.delete(current.id);
      waiting?.({ value: undefined, done: true });
      waiting = null;
    };
    return {
      [Symbol.asyncIterator]() {
        return this;
      },
      next() {
        if (queue.length) return Promise.resolve({ value: queue.shift()!, done: false });
        if (done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => (waiting = resolve));
      },
      return() {
        finish();
        return Promise.resolve({ value: undefined, done: true });
      },
      throw(err) {
        finish();
        return Promise.reject(err);
      },
    };
  }
}
