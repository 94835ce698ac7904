import type { IncomingHttpHeaders } from 'node:http';
import { AuthFailure, AuthReason } from './errors';

/**
 * The bearer token from the Authorization header, or null when there is none. Only the header
 * is read (RFC 6750 §2.1): never a query parameter or a cookie, so tokens do not land in logs
 * or get sent cross-site. The scheme is case-insensitive. Two Authorization headers are an
 * invalid request (the caller maps that to 400).
 */
export function bearerFromHeaders(headers: IncomingHttpHeaders, rawHeaders?: string[]): string | null {
  if (rawHeaders) {
    let count = 0;
    for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i].toLowerCase() === 'authorization') count++;
    if (count > 1) throw new DuplicateAuthorization();
  }
  const value = headers.authorization;
  if (value === undefined) return null;
  return bearerFromValue(value);
}

export function bearerFromValue(value: unknown): string | null {
  if (value === undefined || value === null || value === '') return null;
  if (typeof value !== 'string') throw new AuthFailure(AuthReason.tokenMalformed);
  const m = /^\s*bearer\s+(\S+)\s*$/i.exec(value);
  if (!m) throw new AuthFailure(AuthReason.tokenMalformed);
  return m[1];
}

/** RFC 6750 §3.1 invalid_request: answered with HTTP 400. */
export class DuplicateAuthorization extends AuthFailure {
  constructor() {
    super(AuthReason.invalidRequest);
  }
  override get httpStatus(): number {
    return 400;
  }
  override httpHeaders(): Record<string, string> {
    return { 'www-authenticate': 'Bearer error="invalid_request"' };
  }
}
