import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateSigningKey, signSessionToken, type SigningKey } from '../../src/auth/devIssuer';

import {
  ClerkApiError,
  TEMPLATE_TOKEN_CATEGORY,
  type ClerkEmulator,
  type ClerkEmulatorOptions,
  type EmulatorJwtTemplate,
  type JwksFailureMode,
  type M2mTokenJson,
  type MachineCredentials,
  type SessionExtras,
  type SessionJson,
} from './types';

export * from './types';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const newId = (prefix: string, len = 27) =>
  prefix + Array.from(crypto.randomBytes(len), (b) => BASE62[b % 62]).join('');
const DAY_MS = 86_400_000;
const MAX_BODY = 1024 * 1024;

interface SessionRecord { json: SessionJson; extras: SessionExtras }
interface TemplateRecord { id: string; template: EmulatorJwtTemplate; createdAt: number }
interface M2mRecord { json: M2mTokenJson; secret: string }

export async function startClerkEmulator(opts: ClerkEmulatorOptions = {}): Promise<ClerkEmulator> {
  const secretKey = opts.secretKey ?? `sk_test_${crypto.randomBytes(24).toString('base64url')}`;
  const issuer = opts.issuer ?? 'https://emulator.clerk.accounts.localhost';
  const ttl = opts.tokenTtlSeconds ?? 60;
  const signingKeys: SigningKey[] = [generateSigningKey()];
  let current = signingKeys[0];
  let jwksFailure: JwksFailureMode = 'none';
  const counts = new Map<string, number>();
  let total = 0;
  const sessions = new Map<string, SessionRecord>();
  const templates = new Map<string, TemplateRecord>();
  const machines = new Map<string, { id: string; scopes: string[] }>(); // by secret key
  const m2mBySecret = new Map<string, M2mRecord>();
  const m2mById = new Map<string, M2mRecord>();
  // Users: created on first reference; email and public metadata as tests or PATCH set them.
  const users = new Map<string, { email: string | null; publicMetadata: Record<string, unknown>; createdAt: number }>();
  let usersFailure: JwksFailureMode = 'none';
  const userRecord = (id: string) => {
    let u = users.get(id);
    if (!u) users.set(id, (u = { email: null, publicMetadata: {}, createdAt: Date.now() }));
    return u;
  };
  const userJson = (id: string) => {
    const u = users.get(id);
    if (!u) throw new ClerkApiError(404, 'resource_not_found', `No user was found with id ${id}`);
    const emailId = u.email ? `idn_${Buffer.from(id).toString('hex').slice(0, 24)}` : null;
    return {
      object: 'user', id, primary_email_address_id: emailId, public_metadata: u.publicMetadata, private_metadata: {}, unsafe_metadata: {},
      email_addresses: u.email ? [{ object: 'email_address', id: emailId, email_address: u.email, verification: null, linked_to: [] }] : [],
      phone_numbers: [], web3_wallets: [], external_accounts: [], created_at: u.createdAt, updated_at: u.createdAt,
    };
  };

  const addTemplate = (t: EmulatorJwtTemplate) =>
    templates.set(t.name, { id: newId('jtmp_'), template: t, createdAt: Date.now() });
  addTemplate({
    name: 'integration',
    claims: { aud: 'jobledger-integration', email: '{{user.primary_email_address}}', session: '{{session.id}}', scope: 'jobs:read' },
  });
  for (const t of opts.templates ?? []) addTemplate(t);

  const findSession = (sid: string): SessionRecord => {
    const s = sessions.get(sid);
    if (!s) throw new ClerkApiError(404, 'resource_not_found', `No session was found with id ${sid}`);
    return s;
  };

  function createSession(userId: string, extras: SessionExtras = {}): SessionJson {
    userRecord(userId);
    const now = Date.now();
    const json: SessionJson = {
      object: 'session', id: newId('sess_'), client_id: newId('client_'), user_id: userId,
      status: extras.status ?? 'active', last_active_organization_id: extras.orgId ?? null,
      actor: extras.actor ?? null, last_active_at: now, expire_at: now + 7 * DAY_MS,
      abandon_at: now + 30 * DAY_MS, created_at: now, updated_at: now,
    };
    sessions.set(json.id, { json, extras });
    return json;
  }

  function revokeSession(sid: string): SessionJson {
    const s = findSession(sid);
    s.json.status = 'revoked';
    s.json.updated_at = Date.now();
    return s.json;
  }

  async function mintToken(sid: string, templateName?: string, o: { expiresInSeconds?: number } = {}): Promise<string> {
    const s = findSession(sid);
    if (s.json.status !== 'active' && s.json.status !== 'pending') {
      // Clerk refuses to mint for an ended session; the exact status code is the emulator's choice.
      throw new ClerkApiError(400, 'session_not_active', `Session ${sid} is ${s.json.status} and cannot issue tokens`);
    }
    const base = { userId: s.json.user_id, sessionId: sid, azp: s.extras.azp ?? opts.authorizedParty };
    if (templateName === undefined) {
      // As with the session token customization docs/clerk.md describes:
      // {"metadata": "{{user.public_metadata}}"} (roles live in public metadata).
      const meta = users.get(s.json.user_id)?.publicMetadata ?? {};
      const claims: Record<string, unknown> = { ...(Object.keys(meta).length ? { metadata: meta } : {}), ...s.extras.claims };
      if (s.json.status === 'pending') claims.sts = 'pending';
      if (s.extras.actor) claims.act = s.extras.actor;
      return signSessionToken(current, issuer, { ...s.extras, ...base, ttlSeconds: o.expiresInSeconds ?? ttl, claims });
    }
    const rec = templates.get(templateName);
    if (!rec) throw new ClerkApiError(404, 'resource_not_found', `No JWT template exists with name: ${templateName}`);
    const ctx = {
      user: { id: s.json.user_id, primary_email_address: s.extras.email },
      session: { id: sid },
      org: { id: s.extras.orgId, role: s.extras.orgRole },
    };
    const claims = resolveShortcodes(rec.template.claims, ctx) as Record<string, unknown>;
    for (const reserved of ['sub', 'iss', 'iat', 'nbf', 'exp', 'jti']) delete claims[reserved];
    // Template tokens carry only the template's claims plus the registered ones: drop session-only claims.
    Object.assign(claims, { sid: undefined, v: undefined, sts: undefined, fva: undefined, jti: newId('', 20) });
    return signSessionToken(current, issuer, {
      ...base,
      ttlSeconds: o.expiresInSeconds ?? rec.template.lifetime ?? 60,
      claims,
      header: { cat: TEMPLATE_TOKEN_CATEGORY },
    });
  }

  function createMachine(o: { scopes?: string[] } = {}): MachineCredentials {
    const creds = { id: newId('mch_'), secretKey: `ak_${crypto.randomBytes(24).toString('base64url')}` };
    machines.set(creds.secretKey, { id: creds.id, scopes: o.scopes ?? [] });
    return creds;
  }

  function createM2mToken(machineId: string, o: { secondsUntilExpiration?: number | null; claims?: Record<string, unknown> | null } = {}): M2mTokenJson {
    const now = Date.now();
    const machine = [...machines.values()].find((m) => m.id === machineId);
    const secs = o.secondsUntilExpiration ?? null;
    const rec: M2mRecord = {
      secret: `mt_${crypto.randomBytes(32).toString('base64url')}`,
      json: {
        object: 'machine_to_machine_token', id: newId('mt_'), subject: machineId, scopes: machine?.scopes ?? [],
        claims: o.claims ?? null, revoked: false, revocation_reason: null, expired: false,
        expiration: secs === null ? null : now + secs * 1000, created_at: now, updated_at: now,
      },
    };
    m2mBySecret.set(rec.secret, rec);
    m2mById.set(rec.json.id, rec);
    return { ...rec.json, token: rec.secret };
  }

  const m2mView = (rec: M2mRecord): M2mTokenJson => ({
    ...rec.json,
    expired: rec.json.expiration !== null && rec.json.expiration <= Date.now(),
  });

  const jwks = () => ({
    keys: signingKeys.map((k) => {
      const jwk = crypto.createPublicKey(k.publicPem).export({ format: 'jwk' });
      return { use: 'sig', kty: 'RSA', kid: k.kid, alg: 'RS256', n: jwk.n, e: jwk.e };
    }),
  });

  function listTemplates(q: URLSearchParams): unknown {
    const all = [...templates.values()].map((r) => ({
      object: 'jwt_template', id: r.id, name: r.template.name, claims: r.template.claims,
      lifetime: r.template.lifetime ?? 60, allowed_clock_skew: 5, custom_signing_key: false,
      signing_algorithm: 'RS256', created_at: r.createdAt, updated_at: r.createdAt,
    }));
    if (q.get('paginated') !== 'true') return all;
    const limit = clampInt(q.get('limit'), 10, 1, 500);
    const offset = clampInt(q.get('offset'), 0, 0, Number.MAX_SAFE_INTEGER);
    return { data: all.slice(offset, offset + limit), total_count: all.length };
  }

  async function route(method: string, path: string, url: URL, body: Record<string, unknown>, caller: string): Promise<[number, unknown]> {
    let m: RegExpMatchArray | null;
    if (method === 'GET' && path === '/v1/jwks') return [200, jwks()];
    if (method === 'GET' && path === '/v1/jwt_templates') return [200, listTemplates(url.searchParams)];
    if (method === 'POST' && path === '/v1/sessions') {
      if (typeof body.user_id !== 'string' || body.user_id === '') {
        throw new ClerkApiError(422, 'form_param_missing', 'user_id must be included.', { param_name: 'user_id' });
      }
      return [200, createSession(body.user_id)];
    }
    if (method === 'GET' && (m = path.match(/^\/v1\/users\/([^/]+)$/))) return [200, userJson(decodeURIComponent(m[1]))];
    if (method === 'PATCH' && (m = path.match(/^\/v1\/users\/([^/]+)\/metadata$/))) {
      const id = decodeURIComponent(m[1]);
      const pub = body.public_metadata;
      if (pub && typeof pub === 'object') Object.assign(userRecord(id).publicMetadata, pub);
      return [200, userJson(id)];
    }
    if (method === 'GET' && (m = path.match(/^\/v1\/sessions\/([^/]+)$/))) return [200, findSession(m[1]).json];
    if (method === 'POST' && (m = path.match(/^\/v1\/sessions\/([^/]+)\/revoke$/))) return [200, revokeSession(m[1])];
    if (method === 'POST' && (m = path.match(/^\/v1\/sessions\/([^/]+)\/tokens(?:\/([^/]+))?$/))) {
      const exp = body.expires_in_seconds;
      if (exp !== undefined && (typeof exp !== 'number' || !Number.isInteger(exp) || exp < 30 || exp > 315_360_000)) {
        throw new ClerkApiError(422, 'form_param_value_invalid', 'expires_in_seconds must be a whole number of at least 30.', { param_name: 'expires_in_seconds' });
      }
      const jwt = await mintToken(m[1], m[2] === undefined ? undefined : decodeURIComponent(m[2]), { expiresInSeconds: exp });
      return [200, { object: 'token', jwt }];
    }
    if (method === 'POST' && path === '/m2m_tokens') {
      if (body.token_format !== undefined && body.token_format !== 'opaque') {
        throw new ClerkApiError(422, 'form_param_value_invalid', 'The emulator only issues opaque M2M tokens.', { param_name: 'token_format' });
      }
      // Clerk creates tokens for the machine behind the machine secret key; with the instance
      // key the emulator takes `machine_id` from the body instead.
      const machineId = machines.get(caller)?.id ?? (typeof body.machine_id === 'string' ? body.machine_id : undefined);
      if (!machineId) throw new ClerkApiError(422, 'form_param_missing', 'Authenticate with a machine secret key or send machine_id.', { param_name: 'machine_id' });
      const secs = typeof body.seconds_until_expiration === 'number' ? body.seconds_until_expiration : null;
      const claims = body.claims && typeof body.claims === 'object' ? (body.claims as Record<string, unknown>) : null;
      return [200, createM2mToken(machineId, { secondsUntilExpiration: secs, claims })];
    }
    if (method === 'POST' && path === '/m2m_tokens/verify') {
      const rec = typeof body.token === 'string' ? m2mBySecret.get(body.token) : undefined;
      const view = rec && m2mView(rec);
      // Revoked and expired tokens are answered like unknown ones: the SDK does not look at the flags.
      if (!view || view.revoked || view.expired) throw new ClerkApiError(404, 'resource_not_found', 'Machine token not found');
      return [200, view];
    }
    if (method === 'POST' && (m = path.match(/^\/m2m_tokens\/([^/]+)\/revoke$/))) {
      const rec = m2mById.get(m[1]);
      if (!rec) throw new ClerkApiError(404, 'resource_not_found', 'Machine token not found');
      Object.assign(rec.json, { revoked: true, updated_at: Date.now(), revocation_reason: typeof body.revocation_reason === 'string' ? body.revocation_reason : null });
      return [200, m2mView(rec)];
    }
    throw new ClerkApiError(404, 'resource_not_found', `${method} ${path} is not emulated`);
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://emulator.invalid');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    counts.set(path, (counts.get(path) ?? 0) + 1);
    total++;
    const method = req.method ?? 'GET';
    const caller = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
    const machineCall = path.startsWith('/m2m_tokens') && machines.has(caller);
    (async (): Promise<[number, unknown] | null> => {
      if (caller !== secretKey && !machineCall) {
        throw new ClerkApiError(401, 'authentication_invalid', 'The provided Clerk Secret Key is invalid. Make sure that your Clerk Secret Key is correct.');
      }
      if (path === '/v1/jwks' && jwksFailure === '500') throw new ClerkApiError(500, 'internal_clerk_error', 'The emulator was told to fail JWKS requests.');
      if (path === '/v1/jwks' && jwksFailure === 'hang') return null; // held open until close()
      if (path.startsWith('/v1/users/') && usersFailure === '500') throw new ClerkApiError(500, 'internal_clerk_error', 'The emulator was told to fail user requests.');
      if (path.startsWith('/v1/users/') && usersFailure === 'hang') return null; // held open until close()
      const body = method === 'POST' || method === 'PATCH' ? await readJson(req) : {};
      return route(method, path, url, body, caller);
    })().then(
      (result) => result && send(res, result[0], result[1]),
      (err: unknown) => {
        const e = err instanceof ClerkApiError ? err : new ClerkApiError(500, 'internal_clerk_error', String(err));
        const message = e.status === 401 ? 'Invalid authentication' : e.status === 404 ? 'not found' : e.code.replace(/_/g, ' ');
        send(res, e.status, { errors: [{ message, long_message: e.longMessage, code: e.code, meta: e.meta ?? {} }], clerk_trace_id: crypto.randomBytes(16).toString('hex') });
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    secretKey,
    publishableKey: `pk_test_${Buffer.from(`${new URL(issuer).host}$`).toString('base64')}`,
    issuer,
    get currentKey() { return current; },
    keys: () => [...signingKeys],
    rotateKey() {
      current = generateSigningKey();
      signingKeys.push(current);
      return current;
    },
    dropKey(kid) {
      const i = signingKeys.findIndex((k) => k.kid === kid);
      if (i < 0 || signingKeys.length === 1) return false; // the current key must stay publishable
      signingKeys.splice(i, 1);
      if (current.kid === kid) current = signingKeys[signingKeys.length - 1];
      return true;
    },
    requestCount: (path) => (path === undefined ? total : counts.get(path) ?? 0),
    setJwksFailure: (mode) => void (jwksFailure = mode),
    setUsersFailure: (mode) => void (usersFailure = mode),
    setUser(id, u) {
      const rec = userRecord(id);
      if (u.email !== undefined) rec.email = u.email;
      if (u.publicMetadata !== undefined) rec.publicMetadata = { ...u.publicMetadata };
    },
    createSession, revokeSession, mintToken, addTemplate, createMachine, createM2mToken,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections(); // also ends requests held by the 'hang' mode
      }),
  };
}

// The SDK only parses a body as JSON when Content-Type is exactly "application/json"
// (no charset parameter), so the header is written by hand rather than by a framework.
function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

async function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new ClerkApiError(413, 'request_body_too_large', 'The request body is too large.');
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new ClerkApiError(400, 'malformed_request', 'The request body must be a JSON object.');
}

function resolveShortcodes(value: unknown, ctx: Record<string, Record<string, unknown>>): unknown {
  if (Array.isArray(value)) return value.map((v) => resolveShortcodes(v, ctx));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveShortcodes(v, ctx)]));
  }
  if (typeof value !== 'string') return value;
  const lookup = (ref: string): unknown => {
    const [scope, field] = ref.split('.');
    return ctx[scope]?.[field] ?? null;
  };
  const whole = /^\{\{\s*([\w.]+)\s*\}\}$/.exec(value);
  if (whole) return lookup(whole[1]); // a lone shortcode keeps its type (and null when unset)
  return value.replace(/\{\{\s*([\w.]+)\s*\}\}/g, (_, ref: string) => String(lookup(ref) ?? ''));
}

function clampInt(raw: string | null, dflt: number, min: number, max: number): number {
  const n = raw === null ? NaN : Number(raw);
  return Number.isInteger(n) ? Math.min(max, Math.max(min, n)) : dflt;
}
