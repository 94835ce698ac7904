import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const REQUEST_ID = /^[\w.:-]{1,100}$/;

/**
 * The server's request listener: a request id for everything, then dispatch on the exact path.
 * The few routes are known up front, so a map is the whole router; `other` takes the rest (404).
 */
export function routeRequests(routes: Record<string, Handler>, other: Handler): Handler {
  const byPath = new Map(Object.entries(routes));
  return (req, res) => {
    const given = req.headers['x-request-id'];
    req.requestId = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    res.setHeader('x-request-id', req.requestId);
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    let path = q >= 0 ? url.slice(0, q) : url;
    if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
    const route = byPath.get(path);
    if (route) route(req, res);
    else other(req, res);
  };
}
