import type { IncomingMessage } from 'node:http';
import { AppError, ErrorCode } from '../errors';

/**
 * The raw body of a request, at most `limit` bytes. Over the limit: BAD_REQUEST with status 413
 * (the rest is read and dropped, so the answer reaches the client); a broken stream: BAD_REQUEST.
 * For routes that need the exact bytes (a webhook signature) or a small body of their own; the
 * GraphQL route parses JSON through body-parser.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const fail = (err: AppError) => {
      if (done) return;
      done = true;
      reject(err);
    };
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) return fail(new AppError(ErrorCode.BAD_REQUEST, `The body is larger than ${limit} bytes.`, {}, { status: 413 }));
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      resolve(Buffer.concat(chunks));
    });
    req.on('error', () => fail(new AppError(ErrorCode.BAD_REQUEST, 'The body could not be read.')));
  });
}
