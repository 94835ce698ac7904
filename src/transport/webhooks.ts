import type { IncomingMessage } from 'node:http';
import { verifyWebhook } from '@clerk/backend/webhooks';
import type { Config } from '../config';
import { AppError, ErrorCode, internalError, tooManyRefusals } from '../errors';
import type { Logger } from '../log';
import { metrics } from '../metrics';
import { UnusablePayload, type ClerkEvent, type SessionRevocations } from '../sessions/clerkEvents';
import type { Database } from '../store/database';
import { readBody } from './body';
import { addressKey, type AddressOf } from './clientAddress';
import type { FailureBudget } from './rateLimits';
import { sendError, sendJson } from './respond';
import { notFound, type Handler } from './routes';

const MAX_BODY_BYTES = 1024 * 1024;

export interface WebhookDeps {
  config: Config;
  db: Database;
  sessions: SessionRevocations;
  log: Logger;
  /** Where the request comes from (TRUST_PROXY): the audit trail's `ip` and the failure budget's key. */
  addressOf: AddressOf;
  /** Refused signatures draw on the same budget as refused tokens. */
  failures: FailureBudget;
}

type Outcome = 'applied' | 'duplicate' | 'ignored';

/** Why a delivery was refused, in `extensions.reason` (README, "Errors"). */
export const WebhookReason = {
  notConfigured: 'webhooks-not-configured',
  signatureInvalid: 'webhook-signature-invalid',
  payloadUnusable: 'webhook-payload-unusable',
} as const;

const refused = (message: string, reason: string) => new AppError(ErrorCode.BAD_REQUEST, message, { reason });

/**
 * POST /webhooks/clerk: verifies the Svix signature, de-duplicates the delivery, and hands the
 * event to the sessions module in the same transaction (so a failure rolls back the
 * de-duplication row too and Svix's retry is applied). The body is read raw here: the signature
 * covers the exact bytes, so no JSON parser runs before it. Errors leave in the one error shape
 * (sendError), like every other route's.
 *
 * A refused signature counts against the client address's refused-credential budget; past it the
 * address gets 429 RATE_LIMITED with Retry-After before its body is read (Svix retries later).
 */
export function clerkWebhooks(deps: WebhookDeps): Handler {
  const { config, log } = deps;
  const secret = config.auth.webhookSigningSecret;
  return (req, res) => {
    if (req.method !== 'POST') return notFound(req, res);
    const requestId = req.requestId;
    const svixId = header(req, 'svix-id');
    if (!secret) {
      const message = 'CLERK_WEBHOOK_SIGNING_SECRET is not set: this server cannot verify Clerk webhooks and ignores them.';
      return sendError(req, res, new AppError(ErrorCode.SERVICE_UNAVAILABLE, message, { reason: WebhookReason.notConfigured }));
    }
    const clientKey = addressKey(deps.addressOf(req));
    const blocked = deps.failures.blocked(clientKey);
    if (blocked) {
      metrics.rateLimited('failed-token');
      return sendError(req, res, tooManyRefusals(deps.failures.perMinute, blocked));
    }
    readBody(req, MAX_BODY_BYTES)
      .then((body) => handle(deps, secret, req, body, requestId))
      .then(
        (outcome) => sendJson(res, 200, { status: outcome }),
        async (err: unknown) => {
          if (err instanceof UnusablePayload) err = refused(err.message, WebhookReason.payloadUnusable);
          if (err instanceof AppError) {
            if (err.extensions.reason) log.warn('clerk webhook refused', { requestId, svixId, error: err.message });
            if (err.extensions.reason === WebhookReason.signatureInvalid) {
              const over = await deps.failures.refuse(clientKey);
              if (over) {
                metrics.rateLimited('failed-token');
                return sendError(req, res, tooManyRefusals(deps.failures.perMinute, over));
              }
            }
            return sendError(req, res, err);
          }
          // Not the sender's fault: a non-2xx makes Svix retry later, which is what we want.
          log.error('clerk webhook failed', { requestId, svixId, error: (err as Error)?.message });
          sendError(req, res, internalError());
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
    throw refused(`Signature verification failed: ${(err as Error)?.message ?? 'unknown error'}`, WebhookReason.signatureInvalid);
  }
  const clerkEvent: ClerkEvent = {
    // Covered by the signature, so it is Svix's id for this delivery and not the caller's choice.
    svixId: header(req, 'svix-id')!.trim(),
    type: typeof event.type === 'string' ? event.type : '',
    data: event.data && typeof event.data === 'object' ? event.data : {},
  };
  const meta = { requestId: requestId ?? null, ip: deps.addressOf(req), userAgent: header(req, 'user-agent') ?? null };
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
