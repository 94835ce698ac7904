import type http from 'node:http';
import type { Database } from '../store/database';
import { sendJson } from './respond';

export interface Readiness {
  status: 200 | 503;
  body: Record<string, unknown>;
}

/**
 * Ready means: the database answers, and notifications reach this instance. Without the LISTEN
 * connection, subscribers here miss job changes and revocations from other instances arrive only
 * through the shortened cache, so a balancer should prefer other instances until it reconnects.
 */
export async function readiness(db: Database): Promise<Readiness> {
  const listen = db.listenState();
  try {
    await db.query('SELECT 1');
  } catch {
    return { status: 503, body: { status: 'unavailable', reason: 'database unreachable', storage: db.kind } };
  }
  if (!listen.connected) {
    return {
      status: 503,
      body: { status: 'unavailable', reason: 'LISTEN connection down, reconnecting', storage: db.kind, listen: { connected: false, since: listen.since.toISOString() } },
    };
  }
  return { status: 200, body: { status: 'ready', storage: db.kind, listen: { connected: true, reconnects: listen.reconnects } } };
}

/** GET /readyz as a plain connect-style handler (wires into any node:http pipeline). */
export function readyz(db: Database) {
  return (_req: http.IncomingMessage, res: http.ServerResponse, _next?: (err?: unknown) => void): void => {
    void readiness(db).then(({ status, body }) => sendJson(res, status, body, { 'cache-control': 'no-store' }));
  };
}
