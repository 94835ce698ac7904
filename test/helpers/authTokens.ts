import { createHmac, createSign } from 'node:crypto';
import http from 'node:http';
import type { GqlResponse } from './server';

export const VIEWER = 'query { viewer { userId sessionId email roles orgId orgRole actorId } }';

export const nowSeconds = () => Math.floor(Date.now() / 1000);

export const b64url = (value: unknown): string =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value), 'utf8').toString('base64url');

/** The decoded header and payload of a compact JWT, for building hostile variants of a real token. */
export function decodeParts(token: string): { header: Record<string, unknown>; payload: Record<string, unknown>; signature: string } {
  const [h, p, signature] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString('utf8')),
    payload: JSON.parse(Buffer.from(p, 'base64url').toString('utf8')),
    signature,
  };
}

export const unsigned = (header: unknown, payload: unknown, signature = ''): string => `${b64url(header)}.${b64url(payload)}.${signature}`;

/** RS256 with an arbitrary header and payload (the dev issuer's signer always sets its own header). */
export function signRs256(privatePem: string, header: Record<string, unknown>, payload: Record<string, unknown> | string): string {
  const input = `${b64url({ ...header, alg: 'RS256' })}.${b64url(payload)}`;
  return `${input}.${createSign('RSA-SHA256').update(input).sign(privatePem).toString('base64url')}`;
}

/** CVE-2015-9235-style confusion: HMAC keyed with the server's public key PEM. */
export function signHs256WithPem(publicPem: string, header: Record<string, unknown>, payload: Record<string, unknown>): string {
  const input = `${b64url({ ...header, alg: 'HS256' })}.${b64url(payload)}`;
  return `${input}.${createHmac('sha256', publicPem).update(input).digest('base64url')}`;
}

// A Node or V8 stack frame, or fields that only a leaked exception would carry.
const LEAK = /\n\s+at\s|\bat\s+\S+\s+\(\S+:\d+:\d+\)|stacktrace|node_modules|\.ts:\d+/i;

/**
 * The contract for a refused token: 401, UNAUTHENTICATED, this exact reason, an RFC 6750
 * invalid_token challenge, and a body that echoes neither the token nor any internals.
 */
export function expectRefused(res: GqlResponse<unknown>, reason: string, token?: string): void {
  const text = JSON.stringify(res.body);
  expect({ status: res.status, reason: res.body.errors?.[0]?.extensions?.reason }).toEqual({ status: 401, reason });
  expect(res.body.errors).toHaveLength(1);
  expect(res.body.errors![0].extensions.code).toBe('UNAUTHENTICATED');
  expect(res.body.data ?? null).toBeNull();
  expect(res.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"(,|$)/);
  expect(res.headers.get('www-authenticate')).toContain(`error_description="${reason}"`);
  if (token) {
    expect(text).not.toContain(token);
    // The signature alone is the secret part; a body quoting only it would be just as bad.
    const sig = token.split('.')[2];
    if (sig && sig.length > 8) expect(text).not.toContain(sig);
  }
  expect(text).not.toMatch(LEAK);
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

/**
 * A POST where a header may be given several values, each sent as its own header line
 * (fetch joins repeated headers into one comma-separated value).
 */
export function rawPost(url: string, headers: Record<string, string | string[]>, body: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
