import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AppError, ErrorCode } from '../errors';
import { sendError } from './respond';

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** Sees every request once its id and route are known (the access log and the request metrics). */
export type RequestObserver = (req: IncomingMessage, res: ServerResponse, route: string | null, path: string) => void;

const REQUEST_ID = /^[\w.:-]{1,100}$/;

/** The client's x-request-id when well-formed, else a new one; HTTP requests and WebSocket upgrades alike. */
export function assignRequestId(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  req.requestId = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
  return req.requestId;
}

/** The answer for a path or method the server does not serve. */
export function notFound(req: IncomingMessage, res: ServerResponse): void {
  sendError(req, res, new AppError(ErrorCode.NOT_FOUND, `No route ${req.method} ${pathOf(req.url)}. The API is POST /graphql.`));
}

/**
 * The server's request listener: a request id for everything, then dispatch on the exact path
 * (a trailing slash ignored). The few routes are known up front, so a map is the whole router;
 * anything else is a 404 in the one error shape. `observe` sees each request once its route is
 * known (the access log and the request metrics).
 */
export function routeRequests(routes: Record<string, Handler>, observe?: RequestObserver): Handler {
  const byPath = new Map(Object.entries(routes));
  return (req, res) => {
    res.setHeader('x-request-id', assignRequestId(req));
    const path = pathOf(req.url);
    const route = byPath.get(path);
    observe?.(req, res, route ? path : null, path);
    (route ?? notFound)(req, res);
  };
}

function pathOf(url: string | undefined): string {
  const u = url ?? '/';
  const q = u.indexOf('?');
  const path = q >= 0 ? u.slice(0, q) : u;
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}
