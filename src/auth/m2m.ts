import { createClerkClient, type ClerkClient } from '@clerk/backend';
import type { AuthConfig } from '../config';
import type { Logger } from '../log';
import { AuthFailure, AuthReason, KeysUnavailable } from './errors';
import type { Principal } from './principal';
import type { SessionGate, TokenVerifier } from './verify';

/** Clerk's opaque machine-to-machine token prefix (JWT-format M2M tokens are not accepted). */
export const M2M_TOKEN_PREFIX = 'mt_';
const M2M_SHAPE = /^mt_[A-Za-z0-9_-]{8,512}$/;

/** Clerk could not be asked (or refused our secret key): 503 with Retry-After, like a JWKS outage. */
export class MachineVerificationUnavailable extends KeysUnavailable {
  constructor(detail: string) {
    super(detail);
    this.extensions.reason = 'm2m-verification-unavailable';
    this.name = 'MachineVerificationUnavailable';
  }
}

/** What we need from `clerkClient.m2m` (a seam for tests that count calls). */
export interface M2mVerifyApi {
  verify(params: { token: string }): Promise<{
    id: string; subject: string; revoked?: boolean; expired?: boolean; expiration?: number | null; createdAt?: number;
  }>;
}

/**
 * Routes `mt_` tokens to Clerk's Backend API (`POST /m2m_tokens/verify`, the call the SDK's
 * `authenticateRequest({ acceptsToken: 'm2m_token' })` makes) and everything else to the
 * session-token verifier. Opaque M2M tokens cannot be checked locally, so each request carrying
 * one costs a Backend API round trip; session tokens never do.
 */
export function withMachineTokens(
  sessions: TokenVerifier,
  auth: Pick<AuthConfig, 'acceptM2mTokens' | 'secretKey' | 'apiUrl'>,
  opts: { gate?: SessionGate; log?: Logger; api?: M2mVerifyApi } = {},
): TokenVerifier {
  let api = opts.api;
  const machineApi = (): M2mVerifyApi => {
    api ??= (createClerkClient({ secretKey: auth.secretKey, apiUrl: auth.apiUrl, telemetry: { disabled: true } }) as ClerkClient).m2m;
    return api;
  };
  return {
    async verify(token) {
      if (!token.startsWith(M2M_TOKEN_PREFIX)) return sessions.verify(token);
      if (!auth.acceptM2mTokens || !auth.secretKey) throw new AuthFailure(AuthReason.tokenTypeNotAccepted);
      if (!M2M_SHAPE.test(token)) throw new AuthFailure(AuthReason.tokenMalformed);
      let m: Awaited<ReturnType<M2mVerifyApi['verify']>>;
      try {
        m = await machineApi().verify({ token });
      } catch (err) {
        const status = (err as { status?: unknown }).status;
        // Clerk answers 404 for unknown, revoked and expired tokens (and 400/422 for garbage).
        if (status === 404 || status === 400 || status === 422) throw new AuthFailure(AuthReason.tokenInvalid);
        // 401/403 means our CLERK_SECRET_KEY is wrong; anything else is Clerk or the network.
        // Neither is the caller's fault, so not a 401 that would make them discard the token.
        const detail = status === 401 || status === 403
          ? `Clerk refused CLERK_SECRET_KEY while verifying an M2M token (HTTP ${status})`
          : `M2M token verification failed: ${(err as Error)?.message ?? String(err)}${status ? ` (HTTP ${String(status)})` : ''}`;
        opts.log?.error('m2m verification unavailable', { detail });
        throw new MachineVerificationUnavailable(detail);
      }
      // Clerk already refuses these; checked again because a verify answer is our only evidence.
      const now = Date.now();
      if (m.revoked) throw new AuthFailure(AuthReason.tokenInvalid);
      if (m.expired || (typeof m.expiration === 'number' && m.expiration <= now)) throw new AuthFailure(AuthReason.tokenExpired);
      if (typeof m.subject !== 'string' || !m.subject.startsWith('mch_')) throw new AuthFailure(AuthReason.tokenTypeNotAccepted);
      const principal: Principal = {
        kind: 'machine',
        userId: m.subject,
        sessionId: null,
        email: null,
        orgId: null,
        orgRole: null,
        orgPermissions: [],
        roles: ['USER'],
        impersonatorId: null,
        issuedAt: typeof m.createdAt === 'number' ? new Date(m.createdAt) : null,
        expiresAt: typeof m.expiration === 'number' ? new Date(m.expiration) : null,
      };
      // A machine is never a Clerk user, but the blocked list is checked anyway: blocking is by id.
      await opts.gate?.assertActive(principal);
      return principal;
    },
  };
}
