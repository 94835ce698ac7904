import { checkRows, type RowsVerdict } from './copyWalk';
import { workerPool } from './workerPool';

/** Checks the rows of a binary COPY buffer (copyWalk.ts), here or in worker threads: the same function either way. */
export interface RowChecker {
  readonly workers: number;
  /** Rows the worker threads have checked (the rest were checked on this thread). */
  readonly checkedInWorkers: number;
  check(buf: Buffer, rows: Int32Array): Promise<RowsVerdict>;
  close(): Promise<void>;
}

export interface RowCheckRequest {
  buf: Uint8Array;
  rows: Int32Array;
  from: number;
  to: number;
}

export function inlineRowChecker(): RowChecker {
  return { workers: 0, checkedInWorkers: 0, check: async (buf, rows) => checkRows(buf, rows, 0, rows.length), close: async () => undefined };
}

/**
 * `n` worker threads, each given a share of every batch. The buffer must live in a
 * SharedArrayBuffer (CopyOut allocates it there), so the rows are read where they are, not copied.
 * Until the workers have started (tens of milliseconds), this thread checks, so the first batches
 * do not wait for them; `waitForStart` makes every batch go to the workers.
 */
export function workerRowChecker(n: number, { waitForStart = false } = {}): RowChecker {
  const pool = workerPool<RowCheckRequest, RowsVerdict>('copyWalkWorker', n);
  let checkedInWorkers = 0;
  return {
    workers: n,
    get checkedInWorkers() {
      return checkedInWorkers;
    },
    async check(buf, rows) {
      if (!(buf.buffer instanceof SharedArrayBuffer)) return checkRows(buf, rows, 0, rows.length);
      if (waitForStart) await pool.started;
      else if (!pool.ready()) return checkRows(buf, rows, 0, rows.length);
      checkedInWorkers += rows.length;
      const share = Math.ceil(rows.length / n);
      const parts: Promise<RowsVerdict>[] = [];
      for (let from = 0; from < rows.length; from += share) parts.push(pool.run({ buf, rows, from, to: Math.min(rows.length, from + share) }));
      const verdicts = await Promise.all(parts);
      return { doubt: verdicts.some((v) => v.doubt), mismatched: verdicts.flatMap((v) => v.mismatched) };
    },
    close: () => pool.close(),
  };
}
