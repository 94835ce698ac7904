import crypto from 'node:crypto';
import { loadOrCreateDevKey, signSessionToken, type SigningKey } from '../auth/devIssuer';
import type { Config } from '../config';

/** Mint from Clerk's Backend API (a real instance, or the local emulator). */
export interface ClerkApiSource {
  apiUrl: string;
  secretKey: string;
}

/** Mint from the local development issuer (a test server's `auth.devKey`, or DATA_DIR's key). */
export interface DevIssuerSource {
  devKey: SigningKey;
  issuer: string;
  /** `azp` to put in tokens (the first CLERK_AUTHORIZED_PARTIES entry). */
  azp?: string;
}

export type TokenSource = Config | ClerkApiSource | DevIssuerSource;

export interface MintOptions {
  /** Clerk user id; a new session is created for it. Not needed with `sessionId`. */
  user?: string;
  /** Mint for this existing session instead of creating one. */
  sessionId?: string;
  /** JWT template name (Clerk only). */
  template?: string;
  /** Lifetime: the dev issuer's `exp`, or Clerk's `expires_in_seconds` (Clerk requires >= 30). */
  ttlSeconds?: number;
  /** Local issuer only: Clerk takes the email from the user's record. */
  email?: string;
  /** Local issuer: a claim. Clerk: set in the user's public metadata before minting. */
  role?: 'admin' | 'auditor';
}

export interface MintedToken {
  token: string;
  /** The session the token belongs to (a created one with `user`, else `sessionId`). */
  sessionId: string | null;
  source: 'clerk' | 'dev';
}

export interface JwtTemplateSummary {
  id: string;
  name: string;
  lifetime: number | null;
  claims: Record<string, unknown>;
}

/** Clerk refused or could not be reached; the message says what to check. */
export class ClerkTokenError extends Error {
  constructor(message: string, readonly status?: number, readonly code?: string) {
    super(message);
    this.name = 'ClerkTokenError';
  }
}

type Resolved = { kind: 'clerk'; api: ClerkApiSource } | { kind: 'dev'; dev: DevIssuerSource };

function resolve(source: TokenSource): Resolved {
  if ('devKey' in source) return { kind: 'dev', dev: source };
  if ('secretKey' in source && 'apiUrl' in source && !('auth' in source)) return { kind: 'clerk', api: source };
  const auth = (source as Config).auth;
  // With CLERK_SECRET_KEY the server verifies Clerk's tokens (also beside CLERK_JWT_KEY), so mint there.
  if (auth.secretKey) return { kind: 'clerk', api: { apiUrl: auth.apiUrl, secretKey: auth.secretKey } };
  if (auth.mode === 'dev') {
    return { kind: 'dev', dev: { devKey: loadOrCreateDevKey((source as Config).dataDir), issuer: auth.issuer, azp: auth.authorizedParties[0] } };
  }
  throw new ClerkTokenError(
    'CLERK_JWT_KEY is set without CLERK_SECRET_KEY: the server accepts only your Clerk instance\'s tokens, and minting them needs CLERK_SECRET_KEY. ' +
      'Set it (Clerk dashboard -> API keys), or unset CLERK_JWT_KEY to use the local development issuer.',
  );
}

/**
 * One token, from wherever the configured server takes tokens from: the local development
 * issuer, or Clerk's Backend API (create a session for `user`, then mint its token, optionally
 * through a JWT template). `npm run token` and jest suites both call this.
 */
export async function mintToken(source: TokenSource, opts: MintOptions): Promise<string> {
  return (await mintTokenDetailed(source, opts)).token;
}

export async function mintTokenDetailed(source: TokenSource, opts: MintOptions): Promise<MintedToken> {
  const r = resolve(source);
  if (!opts.user && !opts.sessionId) throw new ClerkTokenError('Say whose token: a user id (--user) or an existing session id (--session).');
  if (r.kind === 'dev') {
    if (opts.template) {
      throw new ClerkTokenError('JWT templates (--template) are a Clerk feature: set CLERK_SECRET_KEY (and CLERK_API_URL for the emulator) to mint one.');
    }
    if (!opts.user) throw new ClerkTokenError('The local issuer has no session records: give --user with --session.');
    const sessionId = opts.sessionId ?? `sess_${crypto.randomBytes(12).toString('hex')}`;
    const token = await signSessionToken(r.dev.devKey, r.dev.issuer, {
      userId: opts.user, sessionId, email: opts.email, role: opts.role, ttlSeconds: opts.ttlSeconds, azp: r.dev.azp,
    });
    return { token, sessionId, source: 'dev' };
  }
  if (opts.email !== undefined) {
    throw new ClerkTokenError(
      '--email only applies to the local issuer. With Clerk, the email comes from the user\'s record ' +
        '(and reaches the token only through the instance\'s session token customisation; see docs/clerk.md).',
    );
  }
  if (opts.role !== undefined && !opts.user) throw new ClerkTokenError('--role needs --user: it sets that user\'s public metadata in Clerk.');
  const client = clerkBackend(r.api);
  // As with real Clerk: the role lives in the user's public metadata, and the session token
  // carries it when the instance adds {"metadata": "{{user.public_metadata}}"} (docs/clerk.md).
  if (opts.role !== undefined) await client.setPublicMetadata(opts.user!, { role: opts.role });
  const sessionId = opts.sessionId ?? (await client.createSession(opts.user!)).id;
  const token = await client.sessionToken(sessionId, { template: opts.template, expiresInSeconds: opts.ttlSeconds });
  return { token, sessionId, source: 'clerk' };
}

/** The instance's JWT templates (Clerk only). */
export async function listTemplates(source: TokenSource): Promise<JwtTemplateSummary[]> {
  const r = resolve(source);
  if (r.kind === 'dev') throw new ClerkTokenError('JWT templates live in a Clerk instance: set CLERK_SECRET_KEY (and CLERK_API_URL for the emulator) to list them.');
  return clerkBackend(r.api).listTemplates();
}

/**
 * For jest suites: a function that mints a fresh token on every call (Clerk tokens live 60 s,
 * so a long suite cannot mint once). With Clerk, one session is created on first use and
 * reused, as a signed-in browser would; with the local issuer, every token shares one `sid`.
 *
 *   const token = createTokenFactory(loadConfig(process.env), { user: 'user_ci' });
 *   await fetch(url, { headers: { authorization: `Bearer ${await token()}` } });
 */
export function createTokenFactory(source: TokenSource, opts: MintOptions): () => Promise<string> {
  const r = resolve(source);
  if (r.kind === 'dev') {
    const fixed = { ...opts, sessionId: opts.sessionId ?? `sess_${crypto.randomBytes(12).toString('hex')}` };
    return () => mintToken(r.dev, fixed);
  }
  if (!opts.user && !opts.sessionId) throw new ClerkTokenError('createTokenFactory needs a user (or a sessionId).');
  let session: Promise<string> | null = opts.sessionId ? Promise.resolve(opts.sessionId) : null;
  return async () => {
    if (!session) {
      const created = clerkBackend(r.api).createSession(opts.user!).then((s) => s.id);
      session = created;
      created.catch(() => (session = null)); // a failed creation is retried on the next call
    }
    return mintToken(r.api, { ...opts, user: undefined, sessionId: await session });
  };
}

/** Plain fetch against the Backend API (the SDK binds fetch at import; this keeps errors ours). */
function clerkBackend(api: ClerkApiSource) {
  const base = api.apiUrl.replace(/\/+$/, '');
  async function call<T>(method: 'GET' | 'POST' | 'PATCH', path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, {
        method,
        headers: { Authorization: `Bearer ${api.secretKey}`, 'Content-Type': 'application/json', Accept: 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(15_000),
      });
    } catch (err) {
      const cause = (err as { cause?: { message?: string } }).cause?.message ?? (err as Error).message;
      throw new ClerkTokenError(`Could not reach the Clerk Backend API at ${base} (${cause}): check CLERK_API_URL and the network.`);
    }
    const text = await res.text();
    let json: any;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (res.ok && json !== null) return json as T;
    const first = json?.errors?.[0] ?? {};
    const said = first.long_message ?? first.message ?? (text.slice(0, 200) || res.statusText);
    const code: string | undefined = first.code;
    const hint =
      res.status === 401 ? ': check CLERK_SECRET_KEY (it must be the secret key of the instance at CLERK_API_URL)'
      : res.status === 403 ? ': creating sessions from the Backend API works on development instances only (sk_test_ keys)'
      : res.status === 404 && path.includes('/tokens/') ? ': no such JWT template or session (list templates with --list-templates)'
      : res.status === 404 && path.startsWith('/v1/users/') ? ': no such user in this Clerk instance'
      : res.status === 404 ? ': no such session'
      : '';
    throw new ClerkTokenError(`Clerk answered ${res.status}${code ? ` (${code})` : ''}${hint}. ${said}`, res.status, code);
  }
  return {
    setPublicMetadata: (userId: string, publicMetadata: Record<string, unknown>) =>
      call<unknown>('PATCH', `/v1/users/${encodeURIComponent(userId)}/metadata`, { public_metadata: publicMetadata }),
    createSession: (userId: string) => call<{ id: string; user_id: string }>('POST', '/v1/sessions', { user_id: userId }),
    async sessionToken(sessionId: string, o: { template?: string; expiresInSeconds?: number }): Promise<string> {
      const path = `/v1/sessions/${encodeURIComponent(sessionId)}/tokens${o.template ? `/${encodeURIComponent(o.template)}` : ''}`;
      const body = o.expiresInSeconds === undefined ? {} : { expires_in_seconds: o.expiresInSeconds };
      const res = await call<{ jwt?: unknown }>('POST', path, body);
      if (typeof res.jwt !== 'string') throw new ClerkTokenError(`Clerk's answer to POST ${path} carried no jwt.`);
      return res.jwt;
    },
    async listTemplates(): Promise<JwtTemplateSummary[]> {
      const out: JwtTemplateSummary[] = [];
      for (let offset = 0; ; ) {
        const page = await call<unknown>('GET', `/v1/jwt_templates?limit=100&offset=${offset}&paginated=true`);
        // Older API versions answer a bare array.
        const data = (Array.isArray(page) ? page : (page as { data?: unknown[] }).data ?? []) as Record<string, unknown>[];
        for (const t of data) {
          out.push({ id: String(t.id), name: String(t.name), lifetime: typeof t.lifetime === 'number' ? t.lifetime : null, claims: (t.claims as Record<string, unknown>) ?? {} });
        }
        const total = Array.isArray(page) ? data.length : Number((page as { total_count?: number }).total_count ?? 0);
        offset += data.length;
        if (Array.isArray(page) || data.length === 0 || offset >= total) return out;
      }
    },
  };
}
