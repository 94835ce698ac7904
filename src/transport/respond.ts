import type { IncomingMessage, ServerResponse } from 'node:http';
import { AppError, errorBody } from '../errors';
import type { Principal } from '../auth/principal';
import type { Observed } from '../context';

declare module 'node:http' {
  interface IncomingMessage {
    /** Set first for every request: the client's x-request-id when well-formed, else a new one. */
    requestId?: string;
    /** Set by authentication: null for an anonymous caller. */
    principal?: Principal | null;
    /** The parsed JSON body, when there is one. */
    body?: unknown;
    /** Operation name and error codes of the answer, for the access log and the metrics. */
    observed?: Observed;
  }
}

/** A connect-style step: calls `next()` to go on, or answers the request itself. */
export type Middleware = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Every error that ends an HTTP request outside GraphQL execution leaves through here. */
export function sendError(req: IncomingMessage, res: ServerResponse, err: AppError): void {
  (req.observed ??= { errorCodes: [] }).errorCodes.push(err.code);
  sendJson(res, err.httpStatus, errorBody(err, req.requestId), err.httpHeaders());
}

/** Runs connect-style steps in order, then `done`; an error passed to `next` goes to `fail`. */
export function pipeline(steps: Middleware[], done: (req: IncomingMessage, res: ServerResponse) => void, fail: (req: IncomingMessage, res: ServerResponse, err: unknown) => void) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    let i = 0;
    const next = (err?: unknown): void => {
      if (err !== undefined) return fail(req, res, err);
      const step = steps[i++];
      if (!step) return done(req, res);
      try {
        step(req, res, next);
      } catch (e) {
        fail(req, res, e);
      }
    };
    next();
  };
}
