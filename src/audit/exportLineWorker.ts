import { checkExportLine } from './verifySelf';
import { serveRequests } from './workerPool';

// A worker thread of lineCheckers.ts: export lines in, checked events out (the costly part of
// verifying an export: JSON.parse, the column comparison and the SHA-256 of each line).
serveRequests((lines: string[]) => lines.map(checkExportLine));
