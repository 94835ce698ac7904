import { bearerFromHeaders } from '../auth/bearer';
import { AuthFailure, KeysUnavailable } from '../auth/errors';
import type { TokenVerifier } from '../auth/verify';
import { AppError, tooManyRefusals } from '../errors';
import type { Logger } from '../log';
import { addressKey, type AddressOf } from './clientAddress';
import type { FailureBudget } from './rateLimits';
import { metrics } from '../metrics';
import { sendError, type Middleware } from './respond';

/**
 * Verifies the bearer token before GraphQL sees the request. A present but invalid token ends
 * the request here with 401: nothing is parsed or executed. No token means an anonymous
 * caller, and the authorization rules decide.
 *
 * Refused tokens count against the client address (the failure budget shared with WebSocket and
 * webhooks): past it that address gets 429 without another signature check, so invalid tokens
 * cannot be used to burn CPU or probe the verifier for free.
 */
export function authenticate(verifier: TokenVerifier, log: Logger, failures: FailureBudget, addressOf: AddressOf): Middleware {
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
    const clientKey = addressKey(addressOf(req));
    const blocked = failures.blocked(clientKey);
    if (blocked) {
      metrics.rateLimited('failed-token');
      return sendError(req, res, tooManyRefusals(failures.perMinute, blocked));
    }
    verifier.verify(token).then(
      (principal) => {
        req.principal = principal;
        next();
      },
      async (err: unknown) => {
        if (err instanceof AuthFailure) {
          metrics.authFailure(err.reason);
          log.info('token refused', { requestId: req.requestId, reason: err.reason });
          const over = await failures.refuse(clientKey);
          if (over) metrics.rateLimited('failed-token');
          return sendError(req, res, over ? tooManyRefusals(failures.perMinute, over) : err);
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
