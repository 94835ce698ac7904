import type { RowCheckRequest } from './copyCheckers';
import { checkRows } from './copyWalk';
import { serveRequests } from './workerPool';

// A worker thread of copyCheckers.ts: a share of a batch's rows in (the buffer is shared, not
// copied), the verdict out.
serveRequests(({ buf, rows, from, to }: RowCheckRequest) => checkRows(Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength), rows, from, to));
