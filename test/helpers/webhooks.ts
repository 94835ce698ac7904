import { createHmac, randomUUID } from 'node:crypto';

/** Signs exactly as Svix (Standard Webhooks) does: HMAC-SHA256 over `id.timestamp.body`, key = base64 after `whsec_`. */
export function svixSignature(secret: string, id: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

/** What to send in place of a well-formed delivery (each part defaults to the proper one; signature null: none). */
export interface Delivery {
  id?: string;
  timestamp?: number;
  body?: string;
  signature?: string | null;
  /** Sent as well (e.g. X-Forwarded-For). */
  headers?: Record<string, string>;
}

/** POSTs a Clerk event to `hookUrl` as Svix would deliver it. */
export async function deliverWebhook(
  hookUrl: string,
  secret: string,
  event: { type: string; data: Record<string, unknown> } | null,
  d: Delivery = {},
): Promise<{ status: number; body: Record<string, unknown>; id: string; requestId: string | null }> {
  const id = d.id ?? `msg_${randomUUID()}`;
  const timestamp = d.timestamp ?? Math.floor(Date.now() / 1000);
  const body = d.body ?? JSON.stringify({ ...event, object: 'event', timestamp: Date.now(), instance_id: 'ins_test' });
  const headers: Record<string, string> = { ...d.headers, 'content-type': 'application/json', 'svix-id': id, 'svix-timestamp': String(timestamp) };
  const signature = d.signature === undefined ? svixSignature(secret, id, timestamp, body) : d.signature;
  if (signature !== null) headers['svix-signature'] = signature;
  const res = await fetch(hookUrl, { method: 'POST', headers, body });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, id, requestId: res.headers.get('x-request-id') };
}
