import { AppError, ErrorCode } from '../errors';

/**
 * Why a token was refused. The first group comes from `@clerk/backend`; the rest are checks the
 * SDK does not make and we add.
 */
export const AuthReason = {
  tokenExpired: 'token-expired',
  tokenInvalid: 'token-invalid',
  tokenInvalidAlgorithm: 'token-invalid-algorithm',
  tokenInvalidAuthorizedParties: 'token-invalid-authorized-parties',
  tokenInvalidIssuer: 'token-invalid-issuer',
  tokenInvalidSignature: 'token-invalid-signature',
  tokenNotActiveYet: 'token-not-active-yet',
  tokenIatInTheFuture: 'token-iat-in-the-future',
  tokenVerificationFailed: 'token-verification-failed',
  jwkKidMismatch: 'jwk-kid-mismatch',
  // ours
  tokenMalformed: 'token-malformed',
  tokenInvalidAudience: 'token-invalid-audience',
  sessionPending: 'session-pending',
  tokenTypeNotAccepted: 'token-type-not-accepted',
  sessionRevoked: 'session-revoked',
  userBlocked: 'user-blocked',
  orgMembershipChanged: 'org-membership-changed',
  invalidRequest: 'invalid-request',
} as const;
export type AuthReason = (typeof AuthReason)[keyof typeof AuthReason];

const messages: Record<AuthReason, string> = {
  'token-expired': 'The session token has expired. Get a fresh token and retry.',
  'token-invalid': 'The session token is not valid. Send a Clerk session token.',
  'token-invalid-algorithm': 'The session token uses an algorithm that is not accepted (RS256/RS384/RS512 only).',
  'token-invalid-authorized-parties': 'The session token was issued for an origin this server does not accept (azp).',
  'token-invalid-issuer': 'The session token was issued by another Clerk instance (iss).',
  'token-invalid-signature': 'The session token signature does not verify. Get a fresh token from this Clerk instance.',
  'token-not-active-yet': 'The session token is not valid yet (nbf). Check the client clock and retry.',
  'token-iat-in-the-future': 'The session token was issued in the future (iat). Check the client clock and retry.',
  'token-verification-failed': 'The session token could not be verified. Get a fresh token and retry.',
  'jwk-kid-mismatch': 'The session token was signed with a key this server does not know (kid).',
  'token-malformed': 'The Authorization header does not carry a well-formed JWT. Send "Authorization: Bearer <token>".',
  'token-invalid-audience': 'The session token is not meant for this API (aud).',
  'session-pending': 'The session has a pending step (e.g. choosing an organization). Finish signing in and retry.',
  'token-type-not-accepted': 'Only Clerk session tokens are accepted here, not JWT-template or machine tokens.',
  'session-revoked': 'The session has been signed out or revoked. Sign in again.',
  'user-blocked': 'This user has been deleted or blocked.',
  'org-membership-changed': 'Your membership or role in the token\'s organization changed after it was issued. Get a fresh token and retry.',
  'invalid-request': 'Send exactly one Authorization header of the form "Bearer <token>".',
};

/** A token was presented and refused: HTTP 401, nothing executed. */
export class AuthFailure extends AppError {
  constructor(readonly reason: AuthReason) {
    super(ErrorCode.UNAUTHENTICATED, messages[reason], { reason });
    this.name = 'AuthFailure';
  }
  override httpHeaders(): Record<string, string> {
    return { 'www-authenticate': `Bearer error="invalid_token", error_description="${this.reason}"` };
  }
}

/** No key is available to verify with (e.g. the JWKS endpoint is down and nothing is cached). */
export class KeysUnavailable extends AppError {
  constructor(detail: string, reason: 'jwks-unavailable' | 'verification-unavailable' = 'jwks-unavailable') {
    super(ErrorCode.SERVICE_UNAVAILABLE, 'Sign-in verification is temporarily unavailable. Retry in a few seconds.', { reason });
    this.name = 'KeysUnavailable';
    this.detail = detail;
  }
  readonly detail: string;
  override httpHeaders(): Record<string, string> {
    return { 'retry-after': '5' };
  }
}

const known = new Set<string>(Object.values(AuthReason));
export const toAuthReason = (r: unknown): AuthReason =>
  typeof r === 'string' && known.has(r) ? (r as AuthReason) : AuthReason.tokenInvalid;
