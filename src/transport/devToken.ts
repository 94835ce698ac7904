import type { IncomingMessage, ServerResponse } from 'node:http';
import { signSessionToken } from '../auth/devIssuer';
import type { AuthSetup } from '../auth/setup';
import type { Config } from '../config';
import type { Middleware } from './respond';

const MAX_BODY = 4096;
const LOOPBACK = /^(127(\.\d{1,3}){3}|::1|localhost)$/i;

/**
 * `POST /dev/token {"userId", "email"?, "role"?, "ttlSeconds"?}` -> `{"token", "expiresAt"}`:
 * the example web client's development sign-in, the same tokens `npm run token` prints.
 *
 * Returns null, and the route does not exist, unless the local development issuer is active
 * (no Clerk keys; config refuses that combination in production) AND the server listens on a
 * loopback address only: anyone who can reach this route can sign in as anyone.
 */
export function devTokenRoute(config: Pick<Config, 'production' | 'host' | 'auth'>, auth: Pick<AuthSetup, 'devKey'>): Middleware | null {
  const key = auth.devKey;
  if (config.production || config.auth.mode !== 'dev' || key === null || !LOOPBACK.test(config.host.replace(/^\[|\]$/g, ''))) return null;
  return (req, res) => {
    if (req.method !== 'POST') return reply(res, 404, { error: 'Not found.' });
    // JSON only: a cross-site form post (text/plain, no preflight) cannot mint a token.
    if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
      return reply(res, 415, { error: 'Send Content-Type: application/json.' });
    }
    readBody(req).then(
      async (text) => {
        let body: Record<string, unknown>;
        try {
          body = JSON.parse(text);
        } catch {
          return reply(res, 400, { error: 'The body is not valid JSON.' });
        }
        const userId = body?.userId;
        const email = body.email === undefined || body.email === '' ? undefined : body.email;
        const role = body.role === undefined || body.role === '' || body.role === 'user' ? undefined : body.role;
        const ttl = body.ttlSeconds === undefined ? 60 : body.ttlSeconds;
        if (typeof userId !== 'string' || !/^[\w.:@-]{1,100}$/.test(userId)) return reply(res, 400, { error: 'userId: 1 to 100 letters, digits or ._:@-' });
        if (email !== undefined && (typeof email !== 'string' || !/^[^\s@]{1,100}@[^\s@]{1,100}$/.test(email))) return reply(res, 400, { error: 'email: an address, or leave it out.' });
        if (role !== undefined && role !== 'admin' && role !== 'auditor') return reply(res, 400, { error: 'role: "admin", "auditor", or leave it out.' });
        if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 10 || ttl > 3600) return reply(res, 400, { error: 'ttlSeconds: a whole number from 10 to 3600.' });
        // One session per user id, so every token of a browser session carries the same `sid`
        // (as Clerk's refreshed tokens do) and the audit trail groups them.
        const token = await signSessionToken(key, config.auth.issuer, { userId, email, role, ttlSeconds: ttl, sessionId: `sess_dev_${userId}` });
        reply(res, 200, { token, expiresAt: new Date(Date.now() + ttl * 1000).toISOString() });
      },
      () => reply(res, 413, { error: `The body is larger than ${MAX_BODY} bytes.` }),
    );
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        req.removeAllListeners('data');
        req.resume();
        reject(new Error('too large'));
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.statusCode = status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('cache-control', 'no-store');
  res.end(JSON.stringify(body));
}
