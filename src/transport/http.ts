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
 */
export function authenticateHttp(verifier: TokenVerifier, log: Logger): RequestHandler {
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
    verifier.verify(token).then(
      (principal) => {
        req.principal = principal;
        next();
      },
      (err: unknown) => {
        if (err instanceof AuthFailure) {
          log.info('token refused', { requestId: req.requestId, reason: err.reason });
          return sendError(res, err, req.requestId);
        }
        if (err instanceof KeysUnavailable) {
          log.warn('token verification unavailable', { requestId: req.requestId, detail: err.detail });
          return sendError(res, err, req.requestId);
        }
        log.error('token verification crashed', { requestId: req.requestId, error: (err as Error)?.message });
        sendError(res, new AuthFailure('token-verification-failed'), req.requestId);
      },
    );
  };
}

/**
 * A fixed-window limit per caller (user id, else client address), per instance. Enough to stop
 * one client from starving others; a shared limiter belongs in front of several instances.
 */
export function rateLimit(perMinute: number): RequestHandler {
  const windows = new Map<string, { start: number; count: number }>();
  return (req, res, next) => {
    if (perMinute === 0) return next();
    const key = req.principal?.userId ?? `ip:${req.ip}`;
    const now = Date.now();
    let w = windows.get(key);
    if (!w || now - w.start >= 60_000) {
      if (windows.size > 100_000) windows.clear();
      w = { start: now, count: 0 };
      windows.set(key, w);
    }
    if (++w.count > perMinute) {
      res.setHeader('Retry-After', String(Math.ceil((w.start + 60_000 - now) / 1000)));
      return sendError(
        res,
        new AppError(ErrorCode.RATE_LIMITED, `Too many requests: at most ${perMinute} a minute. Retry after the Retry-After header's seconds.`),
        req.requestId,
      );
    }
    next();
  };
}
