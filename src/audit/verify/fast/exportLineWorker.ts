import { checkLines, packLines } from './lineCheckers';
import { serveRequests } from './workerPool';

// A worker thread of lineCheckers.ts: a chunk of export lines in, checked events out (the costly
// part of verifying an export: decoding, the column comparison and the SHA-256 of each line).
serveRequests((bytes: Uint8Array) => packLines(checkLines(bytes)));
