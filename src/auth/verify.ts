import { createHash } from 'node:crypto';
import { verifyToken } from '@clerk/backend';
import type { AuthConfig } from '../config';
import { principalFromClaims } from './claims';
import { AuthFailure, AuthReason, toAuthReason } from './errors';
import type { Principal } from './principal';

/** Where verification keys come from: a fixed PEM (CLERK_JWT_KEY, dev issuer) or the JWKS. */
export interface KeySource {
  /** The PEM public key for a token whose header names `kid`; throws AuthFailure or KeysUnavailable. */
  keyFor(kid: string | undefined): Promise<string>;
}

/** Checks that can change after a token was issued: revoked sessions, blocked users. */
export interface SessionGate {
  assertActive(principal: Principal): Promise<void>;
}

export interface TokenVerifier {
  verify(token: string): Promise<Principal>;
}

const SESSION_CATEGORIES = new Set([undefined, 'cl_B7d4PD111AAA', 'cl_I7d4PD111III']);
const TEMPLATE_CATEGORY = 'cl_B7d4PD222AAA';
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

export const staticKeySource = (pem: string): KeySource => ({ keyFor: async () => pem });

export function createTokenVerifier(
  auth: AuthConfig,
  keys: KeySource,
  gate?: SessionGate,
  opts: { cacheSize?: number; now?: () => number } = {},
): TokenVerifier {
  const now = opts.now ?? Date.now;
  // Verified tokens are cached by their SHA-256: the same bytes always verify the same way, so
  // only the time-dependent checks (exp) and the session gate need to run again. This skips the
  // SDK's per-call key import and RSA verification (~170 µs) for a client's repeated requests.
  const cache = new Map<string, { principal: Principal; expMs: number }>();
  const cacheSize = opts.cacheSize ?? 10_000;

  async function verifyUncached(token: string): Promise<Principal> {
    if (!JWT_SHAPE.test(token)) throw new AuthFailure(AuthReason.tokenMalformed);
    const header = decodeHeader(token);
    const key = await keys.keyFor(typeof header.kid === 'string' ? header.kid : undefined);
    let claims: Record<string, unknown>;
    try {
      claims = (await verifyToken(token, {
        jwtKey: key,
        issuer: auth.issuer,
        authorizedParties: auth.authorizedParties.length ? auth.authorizedParties : undefined,
        // aud is checked in assertPolicy instead: the SDK skips a missing aud and reports a wrong
        // one only as token-verification-failed; one check gives one reason for both.
        clockSkewInMs: auth.clockSkewMs,
      })) as unknown as Record<string, unknown>;
    } catch (err) {
      // TokenVerificationError carries a reason; anything else (bad JSON inside a part, a
      // malformed key) is still the token's fault and still a 401, never a 500.
      const reason = (err as { reason?: unknown }).reason;
      throw new AuthFailure(reason === undefined ? AuthReason.tokenMalformed : toAuthReason(reason));
    }
    assertPolicy(header, claims);
    return principalFromClaims(claims, auth);
  }

  // Checks @clerk/backend does not make (it lets these tokens through).
  function assertPolicy(header: Record<string, unknown>, claims: Record<string, unknown>): void {
    const cat = header.cat;
    const isTemplate = cat === TEMPLATE_CATEGORY;
    if (!SESSION_CATEGORIES.has(cat as string | undefined) && !(isTemplate && auth.acceptTemplateTokens)) {
      throw new AuthFailure(AuthReason.tokenTypeNotAccepted);
    }
    if (auth.audience !== undefined) {
      const aud = claims.aud;
      const auds = Array.isArray(aud) ? aud : [aud];
      if (!auds.includes(auth.audience)) throw new AuthFailure(AuthReason.tokenInvalidAudience);
    }
    if (claims.sts === 'pending' && !auth.allowPendingSessions) throw new AuthFailure(AuthReason.sessionPending);
    if (!isTemplate && typeof claims.sid !== 'string') throw new AuthFailure(AuthReason.tokenInvalid);
  }

  return {
    async verify(token) {
      const id = createHash('sha256').update(token).digest('base64url');
      let entry = cache.get(id);
      if (entry && now() >= entry.expMs + auth.clockSkewMs) throw new AuthFailure(AuthReason.tokenExpired);
      if (!entry) {
        const principal = await verifyUncached(token);
        entry = { principal, expMs: principal.expiresAt?.getTime() ?? now() };
        if (cache.size >= cacheSize) cache.delete(cache.keys().next().value!);
        cache.set(id, entry);
      }
      await gate?.assertActive(entry.principal);
      return entry.principal;
    },
  };
}

function decodeHeader(token: string): Record<string, unknown> {
  try {
    const header = JSON.parse(Buffer.from(token.slice(0, token.indexOf('.')), 'base64url').toString('utf8'));
    if (header && typeof header === 'object' && !Array.isArray(header)) return header;
  } catch {
    // fall through
  }
  throw new AuthFailure(AuthReason.tokenMalformed);
}

