import type { PrecheckedEvent } from './source';
import { checkExportLine } from './verifySelf';
import { workerPool } from './workerPool';

/** Checks batches of export lines, in order of submission per caller; null for a line that is not an event. */
export interface LineChecker {
  check(lines: string[]): Promise<(PrecheckedEvent | null)[]>;
  /** Batches worth keeping in flight per reader. */
  readonly depth: number;
  close(): Promise<void>;
}

/** On the calling thread. */
export function inlineLineChecker(): LineChecker {
  return { check: async (lines) => lines.map(checkExportLine), depth: 1, close: async () => undefined };
}

/**
 * `n` worker threads, each given whole batches in turn. The same checkExportLine runs there as
 * inline, so the findings cannot differ; only the time they take does.
 */
export function workerLineChecker(n: number): LineChecker {
  const pool = workerPool<string[], (PrecheckedEvent | null)[]>('exportLineWorker', n);
  return { depth: 2 * n, check: (lines) => pool.run(lines), close: () => pool.close() };
}
