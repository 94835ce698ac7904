import type { IncomingMessage } from 'node:http';
import { bearerFromHeaders } from '../auth/bearer';
import { AuthFailure, KeysUnavailable } from '../auth/errors';
import type { TokenVerifier } from '../auth/verify';
import { AppError, rateLimited } from '../errors';
import type { Logger } from '../log';
import { metrics } from '../metrics';
import { sendError, type Middleware } from './respond';

export const clientAddress = (req: IncomingMessage): string | null => req.socket.remoteAddress ?? null;

/**
 * Verifies the bearer token before GraphQL sees the request. A present but invalid token ends
 * the request here with 401: nothing is parsed or executed. No token means an anonymous
 * caller, and the authorization rules decide.
 *
 * Refused tokens count against the client address: past the per-minute limit that address gets
 * 429 without another signature check, so invalid tokens cannot be used to burn CPU or probe
 * the verifier for free.
 */
export function authenticate(verifier: TokenVerifier, log: Logger, failures: FixedWindowLimiter): Middleware {
  return (req, res, next) => {
    let token: string | null;
    try {
      token = bearerFromHeaders(req.headers, req.rawHeaders);
    } catch (err) {
      metrics.authFailure((err as AuthFailure).reason);
      return sendError(req, res, err as AppError);
    }
    if (token === null) {
      req.principal = null;
      return next();
    }
    const clientKey = `ip:${clientAddress(req)}`;
    const blocked = failures.check(clientKey);
    if (blocked) {
      metrics.rateLimited('failed-token');
      return sendError(req, res, rateLimited(failures.perMinute, blocked));
    }
    verifier.verify(token).then(
      (principal) => {
        req.principal = principal;
        next();
      },
      (err: unknown) => {
        if (err instanceof AuthFailure) {
          metrics.authFailure(err.reason);
          failures.hit(clientKey);
          log.info('token refused', { requestId: req.requestId, reason: err.reason });
          return sendError(req, res, err);
        }
        if (err instanceof KeysUnavailable) {
          metrics.authFailure(String(err.extensions.reason));
          log.warn('token verification unavailable', { requestId: req.requestId, detail: err.detail });
          return sendError(req, res, err);
        }
        // Not the token's fault (e.g. the revocation list could not be read): refuse, but say
        // it is temporary rather than telling the client its token is bad.
        log.error('token verification failed unexpectedly', { requestId: req.requestId, error: (err as Error)?.message });
        sendError(req, res, new KeysUnavailable((err as Error)?.message ?? 'unknown', 'verification-unavailable'));
      },
    );
  };
}

/** Fixed one-minute windows per key, per instance; `perMinute` 0 disables. */
export class FixedWindowLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();
  constructor(readonly perMinute: number, private readonly now: () => number = Date.now) {}

  private window(key: string): { start: number; count: number } {
    const now = this.now();
    let w = this.windows.get(key);
    if (!w || now - w.start >= 60_000) {
      if (this.windows.size > 100_000) this.windows.clear();
      w = { start: now, count: 0 };
      this.windows.set(key, w);
    }
    return w;
  }

  /** Seconds until the key may try again when it is over the limit, else 0. */
  check(key: string): number {
    if (this.perMinute === 0) return 0;
    const w = this.window(key);
    return w.count >= this.perMinute ? Math.max(1, Math.ceil((w.start + 60_000 - this.now()) / 1000)) : 0;
  }

  /** Counts one request; returns `check` as it was before counting. */
  hit(key: string): number {
    const blocked = this.check(key);
    if (this.perMinute !== 0) this.window(key).count++;
    return blocked;
  }
}

/**
 * A fixed-window limit per caller (user id, else client address), per instance. Enough to stop
 * one client from starving others; a shared limiter belongs in front of several instances.
 */
export function rateLimit(limiter: FixedWindowLimiter): Middleware {
  return (req, res, next) => {
    const blocked = limiter.hit(req.principal?.userId ?? `ip:${clientAddress(req)}`);
    if (blocked) {
      metrics.rateLimited('request');
      return sendError(req, res, rateLimited(limiter.perMinute, blocked));
    }
    next();
  };
}
