import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { bearerFromHeaders, DuplicateAuthorization } from '../auth/bearer';
import { AuthFailure, KeysUnavailable } from '../auth/errors';
import type { Principal } from '../auth/principal';
import type { TokenVerifier } from '../auth/verify';
import { AppError, ErrorCode } from '../errors';
import type { Logger } from '../log';

declare module 'express-serve-static-core' {
  interface Request {
    principal?: Principal | null;
    requestId?: string;
  }
}

/** A GraphQL-shaped error body, so clients handle these like any other GraphQL error. */
export function sendError(res: Response, err: AppError, requestId?: string): void {
  if (err instanceof DuplicateAuthorization) {
    res.setHeader('WWW-Authenticate', 'Bearer error="invalid_request"');
    res.status(400);
  } else if (err instanceof AuthFailure) {
    res.setHeader('WWW-Authenticate', `Bearer error="invalid_token", error_description="${err.reason}"`);
    res.status(401);
  } else {
    if (err instanceof KeysUnavailable) res.setHeader('Retry-After', '5');
    res.status(err.httpStatus);
  }
  res.json({ errors: [{ message: err.message, extensions: { ...err.extensions, code: err.code, requestId } }] });
}

/**
 * Verifies the bearer token before GraphQL sees the request. A present but invalid token ends
 * the request here with 401: nothing is parsed or executed. No token means an anonymous
 * caller, and the authorization rules decide.
 *
 * Refused tokens count against the client address: past the per-minute limit that address gets
 * 429 without another signature check, so invalid tokens cannot be used to burn CPU or probe
 * the verifier for free.
 */
export function authenticateHttp(verifier: TokenVerifier, log: Logger, failures: FixedWindowLimiter): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    let token: string | null;
    try {
      token = bearerFromHeaders(req.headers, req.rawHeaders);
    } catch (err) {
      return sendError(res, err as AppError, req.requestId);
    }
    if (token === null) {
      req.principal = null;
      return next();
    }
    const clientKey = `ip:${req.socket.remoteAddress}`;
    const blocked = failures.check(clientKey);
    if (blocked) return sendRateLimited(res, failures.perMinute, blocked, req.requestId);
    verifier.verify(token).then(
      (principal) => {
        req.principal = principal;
        next();
      },
      (err: unknown) => {
        if (err instanceof AuthFailure) {
          failures.hit(clientKey);
          log.info('token refused', { requestId: req.requestId, reason: err.reason });
          return sendError(res, err, req.requestId);
        }
        if (err instanceof KeysUnavailable) {
          log.warn('token verification unavailable', { requestId: req.requestId, detail: err.detail });
          return sendError(res, err, req.requestId);
        }
        // Not the token's fault (e.g. the revocation list could not be read): refuse, but say
        // it is temporary rather than telling the client its token is bad.
        log.error('token verification failed unexpectedly', { requestId: req.requestId, error: (err as Error)?.message });
        sendError(res, new KeysUnavailable((err as Error)?.message ?? 'unknown', 'verification-unavailable'), req.requestId);
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

function sendRateLimited(res: Response, perMinute: number, retryAfter: number, requestId?: string): void {
  res.setHeader('Retry-After', String(retryAfter));
  sendError(
    res,
    new AppError(ErrorCode.RATE_LIMITED, `Too many requests: at most ${perMinute} a minute. Retry after the Retry-After header's seconds.`),
    requestId,
  );
}

/**
 * A fixed-window limit per caller (user id, else client address), per instance. Enough to stop
 * one client from starving others; a shared limiter belongs in front of several instances.
 */
export function rateLimit(limiter: FixedWindowLimiter): RequestHandler {
  return (req, res, next) => {
    const blocked = limiter.hit(req.principal?.userId ?? `ip:${req.socket.remoteAddress}`);
    if (blocked) return sendRateLimited(res, limiter.perMinute, blocked, req.requestId);
    next();
  };
}
