import type { PrecheckedEvent } from './source';
import { checkExportLine } from './verifySelf';
import { workerPool } from './workerPool';

/**
 * One checked line: the event, null for a line that is not an event (the caller reports it), or
 * false for a blank line (skipped, not counted).
 */
export type LineResult = PrecheckedEvent | null | false;

/**
 * Checks chunks of export lines (whole lines, UTF-8, '\n'-separated), in order of submission per
 * caller. The bytes go as they are: splitting and decoding them is the checker's work, not the
 * reading thread's.
 */
export interface LineChecker {
  check(bytes: Uint8Array): Promise<LineResult[]>;
  /** Chunks worth keeping in flight per reader. */
  readonly depth: number;
  close(): Promise<void>;
}

/** The lines of a chunk, each checked (a last line without its '\n' counts as a line). */
export function checkLines(bytes: Uint8Array): LineResult[] {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.map((line) => (line.trim() ? checkExportLine(line) : false));
}

/** On the calling thread. */
export function inlineLineChecker(): LineChecker {
  return { check: async (bytes) => checkLines(bytes), depth: 1, close: async () => undefined };
}

/**
 * `n` worker threads, each given whole chunks in turn (moved to it, not copied). The same
 * checkExportLine runs there as inline, so the findings cannot differ; only the time they take does.
 */
export function workerLineChecker(n: number): LineChecker {
  const pool = workerPool<Uint8Array, LineResult[]>('exportLineWorker', n);
  return {
    depth: 2 * n,
    check: (bytes) => pool.run(bytes, [bytes.buffer as ArrayBuffer]),
    close: () => pool.close(),
  };
}
