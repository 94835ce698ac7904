import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { PrecheckedEvent } from './source';
import { checkExportLine } from './verifySelf';

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

// Runs the worker module as it is here: compiled JavaScript, or TypeScript through tsx (which the
// worker's own loader does not inherit from `tsx src/cli.ts`).
const BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
if (workerData.register) require(workerData.register).register();
require(workerData.file);`;

/**
 * `n` worker threads, each given whole batches in turn. The same checkExportLine runs there as
 * inline, so the findings cannot differ; only the time they take does.
 */
export function workerLineChecker(n: number): LineChecker {
  const ext = path.extname(__filename);
  const workerData = {
    file: path.join(__dirname, `exportLineWorker${ext}`),
    register: ext === '.ts' ? require.resolve('tsx/cjs/api') : null,
  };
  type Pending = { resolve: (v: (PrecheckedEvent | null)[]) => void; reject: (e: Error) => void };
  const workers = Array.from({ length: n }, () => {
    const w = new Worker(BOOTSTRAP, { eval: true, workerData });
    const pending = new Map<number, Pending>();
    w.on('message', (m: { id: number; events: (PrecheckedEvent | null)[] }) => {
      pending.get(m.id)?.resolve(m.events);
      pending.delete(m.id);
    });
    const fail = (err: Error) => {
      for (const p of pending.values()) p.reject(err);
      pending.clear();
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`export line worker exited (code ${code})`)));
    return { w, pending };
  });
  let next = 0;
  let ids = 0;
  return {
    depth: 2 * n,
    check(lines) {
      const slot = workers[next++ % workers.length];
      const id = ids++;
      return new Promise((resolve, reject) => {
        slot.pending.set(id, { resolve, reject });
        slot.w.postMessage({ id, lines });
      });
    },
    async close() {
      await Promise.all(workers.map(({ w }) => w.terminate()));
    },
  };
}
