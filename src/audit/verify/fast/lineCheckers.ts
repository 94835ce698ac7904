import type { PrecheckedEvent } from '../types';
import type { SelfCheck } from '../types';
import { checkExportLine } from '../self';
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
 * Line results as they cross between threads: one array per field instead of an object per
 * line, whose property names the structured clone would write out again for every line.
 */
export interface PackedLines {
  /** 0: blank, 1: not an event, 2: an event (its fields at the same index below). */
  kinds: Uint8Array;
  seq: string[];
  id: string[];
  stream: string[];
  streamSeq: Float64Array;
  hash: string[];
  prevHash: (string | null)[];
  self: (SelfCheck | null)[];
}

export function packLines(results: LineResult[]): PackedLines {
  const n = results.length;
  const p: PackedLines = { kinds: new Uint8Array(n), seq: [], id: [], stream: [], streamSeq: new Float64Array(n), hash: [], prevHash: [], self: [] };
  for (let i = 0; i < n; i++) {
    const r = results[i];
    p.kinds[i] = r === false ? 0 : r === null ? 1 : 2;
    if (!r) continue;
    p.seq[i] = r.seq;
    p.id[i] = r.id;
    p.stream[i] = r.stream;
    p.streamSeq[i] = r.streamSeq;
    p.hash[i] = r.hash;
    p.prevHash[i] = r.prevHash;
    p.self[i] = r.self;
  }
  return p;
}

export function unpackLines(p: PackedLines): LineResult[] {
  const out: LineResult[] = new Array(p.kinds.length);
  for (let i = 0; i < p.kinds.length; i++) {
    const kind = p.kinds[i];
    out[i] = kind === 0 ? false : kind === 1 ? null : {
      seq: p.seq[i], id: p.id[i], stream: p.stream[i], streamSeq: p.streamSeq[i], hash: p.hash[i], prevHash: p.prevHash[i], self: p.self[i],
    };
  }
  return out;
}

/**
 * `n` worker threads, each given whole chunks in turn (moved to it, not copied). The same
 * checkExportLine runs there as inline, so the findings cannot differ; only the time they take does.
 */
export function workerLineChecker(n: number): LineChecker {
  const pool = workerPool<Uint8Array, PackedLines>('exportLineWorker', n);
  return {
    depth: 2 * n,
    check: async (bytes) => unpackLines(await pool.run(bytes, [bytes.buffer as ArrayBuffer])),
    close: () => pool.close(),
  };
}
