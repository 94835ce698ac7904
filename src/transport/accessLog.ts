import type { IncomingMessage, ServerResponse } from 'node:http';
import { logs, type Logger } from '../log';
import type { Metrics } from '../metrics';
import type { RequestObserver } from './routes';

/** Probes ask often and say little: their lines are debug, unless they fail. */
const PROBES = new Set(['/healthz', '/readyz']);

/**
 * One line per HTTP request when its response is done (or the client went away), and its
 * duration in the request metrics. Fields: requestId, method, route (the path for an unknown
 * one), status, durationMs, operation (GraphQL operation name), userId when a token was
 * verified, errorCodes when the answer carried errors, aborted when the client left first.
 * At debug the request headers are added, credentials censored by the logger's redaction.
 */
export function accessLog(log: Logger, metrics: Metrics): RequestObserver {
  const info = logs(log, 'info');
  const debug = logs(log, 'debug');
  return (req, res, route, path) => {
    const start = performance.now();
    res.once('close', () => finished(req, res, route, path, (performance.now() - start) / 1000));
  };

  function finished(req: IncomingMessage, res: ServerResponse, route: string | null, path: string, seconds: number): void {
    const observed = req.observed;
    const codes = observed?.errorCodes;
    const aborted = !res.writableFinished;
    const status = aborted && !res.headersSent ? null : res.statusCode;
    const outcome = aborted ? 'aborted' : codes?.length ? codes[0] : res.statusCode < 400 ? 'ok' : `http_${res.statusCode}`;
    metrics.request(route ?? 'other', observed?.operation, outcome, seconds);
    const quiet = route !== null && PROBES.has(route) && res.statusCode < 500;
    if (!(quiet ? debug : info)) return;
    const line: Record<string, unknown> = {
      requestId: req.requestId,
      method: req.method,
      route: route ?? path.slice(0, 200),
      status,
      durationMs: Math.round(seconds * 10_000) / 10,
    };
    if (observed?.operation !== undefined) line.operation = observed.operation;
    if (req.principal) line.userId = req.principal.userId;
    if (codes?.length) line.errorCodes = codes;
    if (aborted) line.aborted = true;
    if (debug) line.req = { headers: req.headers };
    if (quiet) log.debug('request', line);
    else log.info('request', line);
  }
}

/**
 * WebSocket connections, at info: `websocket open` once connection_init is accepted (with the
 * user), `websocket closed` with the close code and reason (4401 names the refused token's
 * reason) and how long the socket lived. requestId is the upgrade request's; each operation on
 * the socket has its own (in its errors and audit events).
 */
export function websocketLog(log: Logger) {
  return {
    opened(req: IncomingMessage): void {
      log.info('websocket open', { requestId: req.requestId, route: '/graphql', userId: req.principal?.userId ?? null });
    },
    watch(socket: { once(event: 'close', fn: (code: number, reason: Buffer) => void): unknown }, req: IncomingMessage): void {
      const start = performance.now();
      socket.once('close', (code, reason) =>
        log.info('websocket closed', {
          requestId: req.requestId,
          route: '/graphql',
          userId: req.principal?.userId ?? null,
          code,
          reason: reason.toString('utf8').slice(0, 123),
          durationMs: Math.round(performance.now() - start),
        }),
      );
    },
  };
}
