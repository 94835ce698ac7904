import { parentPort } from 'node:worker_threads';
import { checkExportLine } from './verifySelf';

// A worker thread of lineCheckers.ts: export lines in, checked events out (the costly part of
// verifying an export: JSON.parse, the column comparison and the SHA-256 of each line).
parentPort?.on('message', (job: { id: number; lines: string[] }) => {
  parentPort!.postMessage({ id: job.id, events: job.lines.map(checkExportLine) });
});
