import { checkRows, type RowsVerdict } from './copyWalk';
import { workerPool } from './workerPool';

/** Checks the rows of a binary COPY buffer (copyWalk.ts), here or in worker threads: the same function either way. */
export interface RowChecker {
  readonly workers: number;
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
  return { workers: 0, check: async (buf, rows) => checkRows(buf, rows, 0, rows.length), close: async () => undefined };
}

/**
 * `n` worker threads, each given a share of every batch. The buffer must live in a
 * SharedArrayBuffer (CopyOut allocates it there), so the rows are read where they are, not copied.
 */
export function workerRowChecker(n: number): RowChecker {
  const pool = workerPool<RowCheckRequest, RowsVerdict>('copyWalkWorker', n);
  return {
    workers: n,
    async check(buf, rows) {
      if (!(buf.buffer instanceof SharedArrayBuffer)) return checkRows(buf, rows, 0, rows.length);
      const share = Math.ceil(rows.length / n);
      const parts: Promise<RowsVerdict>[] = [];
      for (let from = 0; from < rows.length; from += share) parts.push(pool.run({ buf, rows, from, to: Math.min(rows.length, from + share) }));
      const verdicts = await Promise.all(parts);
      return { doubt: verdicts.some((v) => v.doubt), mismatched: verdicts.flatMap((v) => v.mismatched) };
    },
    close: () => pool.close(),
  };
}
