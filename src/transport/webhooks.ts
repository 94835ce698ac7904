import type { IncomingMessage, ServerResponse } from 'node:http';
import { verifyWebhook } from '@clerk/backend/webhooks';
import type { Config } from '../config';
import type { Logger } from '../log';
import { UnusablePayload, type ClerkEvent, type SessionRevocations } from '../sessions/clerkEvents';
import type { Database } from '../store/database';

const MAX_BODY_BYTES = 1024 * 1024;

export interface WebhookDeps {
  config: Config;
  db: Database;
  sessions: SessionRevocations;
  log: Logger;
}

type Outcome = 'applied' | 'duplicate' | 'ignored';
type Next = (err?: unknown) => void;

class VerificationFailed extends Error {}
class BodyRefused extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/**
 * POST /webhooks/clerk, as a plain connect-style handler: verifies the Svix signature,
 * de-duplicates the delivery, and hands the event to the sessions module in the same
 * transaction (so a failure rolls back the de-duplication row too and Svix's retry is applied).
 * The body is read raw here: the signature covers the exact bytes, so this sits before any
 * JSON parser. The router gives it its exact path; anything but POST passes on.
 */
export function clerkWebhooks(deps: WebhookDeps): (req: IncomingMessage, res: ServerResponse, next: Next) => void {
  const { config, log } = deps;
  const secret = config.auth.webhookSigningSecret;
  return (req, res, next) => {
    if (req.method !== 'POST') return next();
    const requestId = (req as { requestId?: string }).requestId;
    const svixId = header(req, 'svix-id');
    if (!secret) {
      return send(res, 503, {
        error: 'webhooks-not-configured',
        message: 'CLERK_WEBHOOK_SIGNING_SECRET is not set: this server cannot verify Clerk webhooks and ignores them.',
      });
    }
    readBody(req, MAX_BODY_BYTES)
      .then((body) => handle(deps, secret, req, body, requestId))
      .then(
        (outcome) => send(res, 200, { status: outcome }),
        (err: unknown) => {
          if (err instanceof BodyRefused) return send(res, err.status, { error: 'webhook-invalid', message: err.message });
          if (err instanceof VerificationFailed || err instanceof UnusablePayload) {
            log.warn('clerk webhook refused', { requestId, svixId, error: err.message });
            return send(res, 400, { error: 'webhook-invalid', message: err.message });
          }
          // Not the sender's fault: a non-2xx makes Svix retry later, which is what we want.
          log.error('clerk webhook failed', { requestId, svixId, error: (err as Error)?.message });
          send(res, 500, { error: 'webhook-failed', message: 'The event could not be stored; it will be retried.' });
        },
      );
  };
}

async function handle(deps: WebhookDeps, secret: string, req: IncomingMessage, body: Buffer, requestId: string | undefined): Promise<Outcome> {
  const headers = new Headers();
  for (const name of ['svix-id', 'svix-timestamp', 'svix-signature', 'content-type']) {
    const v = header(req, name);
    if (v !== undefined) headers.set(name, v);
  }
  let event: { type: string; data: Record<string, unknown> };
  try {
    // verifyWebhook checks the HMAC over id.timestamp.body and the ±5 minute timestamp window.
    const request = new Request('http://webhook.invalid/webhooks/clerk', { method: 'POST', headers, body: new Uint8Array(body) });
    event = (await verifyWebhook(request, { signingSecret: secret })) as unknown as typeof event;
  } catch (err) {
    throw new VerificationFailed(`Signature verification failed: ${(err as Error)?.message ?? 'unknown error'}`);
  }
  const clerkEvent: ClerkEvent = {
    // Covered by the signature, so it is Svix's id for this delivery and not the caller's choice.
    svixId: header(req, 'svix-id')!.trim(),
    type: typeof event.type === 'string' ? event.type : '',
    data: event.data && typeof event.data === 'object' ? event.data : {},
  };
  const meta = { requestId: requestId ?? null, ip: req.socket.remoteAddress ?? null, userAgent: header(req, 'user-agent') ?? null };
  const effects = await deps.db.transaction(async (tx) => {
    const fresh = await tx.query(
      'INSERT INTO webhook_events (svix_id, type, received_at) VALUES ($1, $2, now()) ON CONFLICT (svix_id) DO NOTHING RETURNING svix_id',
      [clerkEvent.svixId, clerkEvent.type],
    );
    if (fresh.rowCount === 0) return null;
    return deps.sessions.apply(tx, clerkEvent, meta);
  });
  if (effects) deps.sessions.committed(effects);
  const outcome: Outcome = effects ? effects.outcome : 'duplicate';
  deps.log.info('clerk webhook', { requestId, svixId: clerkEvent.svixId, type: clerkEvent.type, outcome });
  return outcome;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > limit) {
        refused = true;
        reject(new BodyRefused(413, `The body is larger than ${limit} bytes.`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!refused) resolve(Buffer.concat(chunks));
    });
    req.on('error', () => {
      if (!refused) reject(new BodyRefused(400, 'The body could not be read.'));
      refused = true;
    });
  });
}

function send(res: ServerResponse, status: number, body: Record<string, unknown>): void {
  res.statusCode = status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.end(JSON.stringify(body));
}
