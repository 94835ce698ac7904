import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** Sees every request once its id and route are known (the access log and the request metrics). */
export type RequestObserver = (req: IncomingMessage, res: ServerResponse, route: string | null, path: string) => void;

const REQUEST_ID = /^[\w.:-]{1,100}$/;

/** The client's x-request-id when well-formed, else a new one; HTTP requests and WebSocket upgrades alike. */
export function assignRequestId(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  req.requestId = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
  return req.requestId;
}

/**
 * The server's request listener: a request id for everything, then dispatch on the exact path.
 * The few routes are known up front, so a switch is the whole router; `other` takes the rest
 * (404s).
 */
export function routeRequests(routes: Record<string, Handler>, other: Handler, observe?: RequestObserver): Handler {
  const byPath = new Map(Object.entries(routes));
  return (req, res) => {
    res.setHeader('x-request-id', assignRequestId(req));
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    let path = q >= 0 ? url.slice(0, q) : url;
    if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
    const route = byPath.get(path);
    observe?.(req, res, route ? path : null, path);
    if (route) route(req, res);
    else other(req, res);
  };
}
