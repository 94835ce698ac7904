import fs from 'node:fs';
import path from 'node:path';
import lockfile from 'proper-lockfile';

/**
 * The embedded store is one process's: PGlite keeps PostgreSQL's state in that process's memory,
 * so a second process opening the same directory reads a stale copy (verify printed INTACT while
 * the server held an unsealed event) or overwrites the first one's writes.
 *
 * proper-lockfile rather than a pid file: it takes the lock with an atomic mkdir and keeps it
 * alive by refreshing its mtime, so a lock left by a crashed (SIGKILLed, OOM-killed) holder goes
 * stale on its own, also across containers where every process is pid 1 and a pid says nothing.
 */
export const LOCK_STALE_MS = 20_000;

export class DataDirLocked extends Error {
  constructor(dir: string, holder: string | null) {
    super(
      `The embedded store ${dir} is in use by another jobledger process${holder ? ` (${holder})` : ''}. ` +
        'PGlite serves one process at a time: stop the server first (then run this command), or run the server and a separate ' +
        `worker or audit tool against PostgreSQL by setting DATABASE_URL. A lock left by a process that crashed expires within ${LOCK_STALE_MS / 1000} s.`,
    );
    this.name = 'DataDirLocked';
  }
}

// Beside the lock, not in it: proper-lockfile removes its lock directory with rmdir.
const holderFile = (dir: string) => `${dir}.lock-holder`;

/** Locks `dir` for this process; resolves to the release function. */
export async function lockDataDir(dir: string, onCompromised: (err: Error) => void): Promise<() => Promise<void>> {
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(dir, { stale: LOCK_STALE_MS, update: LOCK_STALE_MS / 4, realpath: false, onCompromised });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOCKED') {
      let holder: string | null = null;
      try {
        holder = fs.readFileSync(holderFile(dir), 'utf8').trim();
      } catch {
        // the holder is still writing it, or an older version took the lock
      }
      throw new DataDirLocked(dir, holder);
    }
    throw err;
  }
  // Who holds it, for the message above (the lock itself is the directory, not this file).
  fs.writeFileSync(holderFile(dir), `pid ${process.pid}: ${path.basename(process.argv[1] ?? 'node')} ${process.argv.slice(2).join(' ')}`.trim());
  return async () => {
    fs.rmSync(holderFile(dir), { force: true });
    await release();
  };
}
