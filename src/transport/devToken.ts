import type { IncomingMessage, ServerResponse } from 'node:http';
import { signSessionToken } from '../auth/devIssuer';
import type { AuthSetup } from '../auth/setup';
import type { Config } from '../config';
import { AppError, ErrorCode, internalError } from '../errors';
import { readBody } from './body';
import { sendError, sendJson } from './respond';
import { notFound } from './routes';

const MAX_BODY = 4096;
const NO_STORE = { 'cache-control': 'no-store' };
const LOOPBACK = /^(127(\.\d{1,3}){3}|::1|localhost)$/i;

/**
 * `POST /dev/token {"userId", "email"?, "role"?, "ttlSeconds"?}` -> `{"token", "expiresAt"}`:
 * the example web client's development sign-in, the same tokens `npm run token` prints.
 *
 * Returns null, and the route does not exist, unless the local development issuer is active
 * (no Clerk keys; config refuses that combination in production) AND the server listens on a
 * loopback address only: anyone who can reach this route can sign in as anyone.
 */
export function devTokenRoute(config: Pick<Config, 'production' | 'host' | 'auth'>, auth: Pick<AuthSetup, 'devKey'>): ((req: IncomingMessage, res: ServerResponse) => void) | null {
  const key = auth.devKey;
  if (config.production || config.auth.mode !== 'dev' || key === null || !LOOPBACK.test(config.host.replace(/^\[|\]$/g, ''))) return null;
  return (req, res) => {
    const refuse = (message: string, status = 400) => sendError(req, res, new AppError(ErrorCode.BAD_REQUEST, message, {}, { status }));
    if (req.method !== 'POST') return notFound(req, res);
    // JSON only: a cross-site form post (text/plain, no preflight) cannot mint a token.
    if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) return refuse('Send Content-Type: application/json.', 415);
    readBody(req, MAX_BODY).then(
      async (raw) => {
        let body: Record<string, unknown>;
        try {
          body = JSON.parse(raw.toString('utf8'));
        } catch {
          return refuse('The body is not valid JSON.');
        }
        const userId = body?.userId;
        const email = body.email === undefined || body.email === '' ? undefined : body.email;
        const role = body.role === undefined || body.role === '' || body.role === 'user' ? undefined : body.role;
        const ttl = body.ttlSeconds === undefined ? 60 : body.ttlSeconds;
        if (typeof userId !== 'string' || !/^[\w.:@-]{1,100}$/.test(userId)) return refuse('userId: 1 to 100 letters, digits or ._:@-');
        if (email !== undefined && (typeof email !== 'string' || !/^[^\s@]{1,100}@[^\s@]{1,100}$/.test(email))) return refuse('email: an address, or leave it out.');
        if (role !== undefined && role !== 'admin' && role !== 'auditor') return refuse('role: "admin", "auditor", or leave it out.');
        if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 10 || ttl > 3600) return refuse('ttlSeconds: a whole number from 10 to 3600.');
        // One session per user id, so every token of a browser session carries the same `sid`
        // (as Clerk's refreshed tokens do) and the audit trail groups them.
        const token = await signSessionToken(key, config.auth.issuer, { userId, email, role, ttlSeconds: ttl, sessionId: `sess_dev_${userId}` });
        sendJson(res, 200, { token, expiresAt: new Date(Date.now() + ttl * 1000).toISOString() }, NO_STORE);
      },
      (err: AppError) => sendError(req, res, err),
    ).catch(() => {
      if (!res.headersSent) sendError(req, res, internalError());
    });
  };
}
