import type { SigningKey, TokenRequest } from '../../src/auth/devIssuer';

// The emulator's public shapes: Clerk's JSON as the Backend API returns it, and the handle tests use.

/** Header `cat` Clerk puts on JWT-template tokens (session tokens carry cl_B7d4PD111AAA). */
export const TEMPLATE_TOKEN_CATEGORY = 'cl_B7d4PD222AAA';

export type JwksFailureMode = 'none' | '500' | 'hang';

export interface EmulatorJwtTemplate {
  name: string;
  /** Values may use shortcodes: {{user.id}}, {{user.primary_email_address}}, {{session.id}}, {{org.id}}, {{org.role}}. */
  claims: Record<string, unknown>;
  lifetime?: number;
}

export interface ClerkEmulatorOptions {
  secretKey?: string;
  issuer?: string;
  port?: number;
  tokenTtlSeconds?: number;
  authorizedParty?: string;
  templates?: EmulatorJwtTemplate[];
}

/** What a session's tokens carry beyond sub/sid (the emulator has no user records to read them from). */
export type SessionExtras = Pick<TokenRequest, 'email' | 'role' | 'orgId' | 'orgRole' | 'azp' | 'claims'> & {
  status?: 'active' | 'pending';
  actor?: Record<string, unknown>;
};

/** Clerk's SessionJSON (timestamps in ms). */
export interface SessionJson {
  object: 'session'; id: string; client_id: string; user_id: string; status: string;
  last_active_organization_id: string | null; actor: Record<string, unknown> | null;
  last_active_at: number; expire_at: number; abandon_at: number; created_at: number; updated_at: number;
}

/** Clerk's M2MTokenJSON; `token` (the secret) only in the create response. */
export interface M2mTokenJson {
  object: 'machine_to_machine_token'; id: string; token?: string; subject: string; scopes: string[];
  claims: Record<string, unknown> | null; revoked: boolean; revocation_reason: string | null;
  expired: boolean; expiration: number | null; created_at: number; updated_at: number;
}

export interface MachineCredentials {
  id: string;
  /** Sent as `machineSecretKey` / Bearer to create M2M tokens as this machine. */
  secretKey: string;
}

export interface ClerkEmulator {
  url: string;
  secretKey: string;
  /** pk_test_ key whose frontend API is the issuer's host (authenticateRequest insists on one). */
  publishableKey: string;
  issuer: string;
  readonly currentKey: SigningKey;
  /** Every key the JWKS publishes, oldest first. */
  keys(): SigningKey[];
  rotateKey(): SigningKey;
  dropKey(kid: string): boolean;
  /** Requests received for a path (e.g. "/v1/jwks"), or in total; unauthenticated ones included. */
  requestCount(path?: string): number;
  setJwksFailure(mode: JwksFailureMode): void;
  /** Makes GET/PATCH /v1/users/... fail or hang (to test callers that must not wait on Clerk). */
  setUsersFailure(mode: JwksFailureMode): void;
  /** Creates or changes a user record: GET /v1/users/{id} serves it, tokens carry `metadata` = public metadata. */
  setUser(id: string, u: { email?: string | null; publicMetadata?: Record<string, unknown> }): void;
  createSession(userId: string, extras?: SessionExtras): SessionJson;
  revokeSession(sessionId: string): SessionJson;
  mintToken(sessionId: string, template?: string, opts?: { expiresInSeconds?: number }): Promise<string>;
  addTemplate(template: EmulatorJwtTemplate): void;
  createMachine(opts?: { scopes?: string[] }): MachineCredentials;
  createM2mToken(machineId: string, opts?: { secondsUntilExpiration?: number | null; claims?: Record<string, unknown> | null }): M2mTokenJson;
  close(): Promise<void>;
}

/** A Backend API failure in Clerk's error shape; helpers throw it too. */
export class ClerkApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly longMessage: string,
    readonly meta?: Record<string, unknown>,
  ) {
    super(longMessage);
    this.name = 'ClerkApiError';
  }
}
