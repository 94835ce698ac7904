import type { JobRecord } from './types';

interface Entry {
  rows: JobRecord[];
  /** The fetch returned fewer rows than it asked for: these are all of the owner's jobs. */
  complete: boolean;
}

interface Fetch {
  rows: Promise<JobRecord[]>;
  want: number;
  /** An owner's job changed while this fetch was in flight: its rows may predate the change. */
  stale: boolean;
}

/**
 * The first page of each owner's job list (newest first, no filter), kept in memory until one of
 * the owner's jobs changes.
 *
 * Correct only where every write to the jobs table passes through this process, so the jobs
 * service owns one of these only for a database no other process can write (the embedded store,
 * which holds its data directory exclusively). The service calls `changed` after each commit, and
 * before it answers the client that made the change, so no read after a write sees the old list.
 * A read that was already fetching when the change committed is answered but not kept.
 */
export class FirstPageCache {
  private readonly pages = new Map<string, Entry>();
  private readonly inflight = new Map<string, Fetch>();

  constructor(
    private readonly maxOwners = 5_000,
    /** Rows fetched at least, so the usual page sizes share one entry. */
    private readonly minRows = 21,
  ) {}

  /** The owner's newest `want` jobs (fewer if they have fewer), from memory when possible. */
  async read(owner: string, want: number, fetch: (limit: number) => Promise<JobRecord[]>): Promise<JobRecord[]> {
    const hit = this.pages.get(owner);
    if (hit && (hit.complete || hit.rows.length >= want)) {
      // Re-inserting keeps the Map in least-recently-used order for eviction.
      this.pages.delete(owner);
      this.pages.set(owner, hit);
      return hit.rows.slice(0, want);
    }
    const running = this.inflight.get(owner);
    if (running && running.want >= want) return (await running.rows).slice(0, want);
    const limit = Math.max(want, this.minRows);
    const f: Fetch = { rows: fetch(limit), want: limit, stale: false };
    this.inflight.set(owner, f);
    try {
      const rows = await f.rows;
      if (!f.stale) this.store(owner, { rows, complete: rows.length < limit });
      return rows.slice(0, want);
    } finally {
      if (this.inflight.get(owner) === f) this.inflight.delete(owner);
    }
  }

  /** One of the owner's jobs was created or changed, and the change has committed. */
  changed(owner: string): void {
    this.pages.delete(owner);
    const f = this.inflight.get(owner);
    if (f) {
      f.stale = true;
      this.inflight.delete(owner);
    }
  }

  get size(): number {
    return this.pages.size;
  }

  private store(owner: string, entry: Entry): void {
    this.pages.delete(owner);
    if (this.pages.size >= this.maxOwners) this.pages.delete(this.pages.keys().next().value!);
    this.pages.set(owner, entry);
  }
}
