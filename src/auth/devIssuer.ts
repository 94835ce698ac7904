import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export const SESSION_TOKEN_CATEGORY = 'cl_B7d4PD111AAA';

export interface SigningKey {
  kid: string;
  privatePem: string;
  publicPem: string;
}

export interface TokenRequest {
  userId: string;
  email?: string;
  role?: 'admin' | 'auditor';
  ttlSeconds?: number;
  sessionId?: string;
  azp?: string;
  orgId?: string;
  orgRole?: string;
  /** Extra or overriding claims (tests use this to build hostile tokens). */
  claims?: Record<string, unknown>;
  header?: Record<string, unknown>;
}

/** An RSA-2048 key (the size @clerk/backend's PEM import expects) with an RFC 7638-style kid. */
export function generateSigningKey(): SigningKey {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  return { kid: kidOf(publicPem), privatePem, publicPem };
}

export function kidOf(publicPem: string): string {
  const jwk = crypto.createPublicKey(publicPem).export({ format: 'jwk' });
  const thumb = crypto.createHash('sha256').update(JSON.stringify({ e: jwk.e, kty: jwk.kty, n: jwk.n })).digest('base64url');
  return `ins_dev_${thumb.slice(0, 24)}`;
}

/**
 * The local development issuer's key, created in DATA_DIR on first use and reused after, so
 * tokens printed by `npm run token` keep working across restarts.
 */
export function loadOrCreateDevKey(dataDir: string): SigningKey {
  const dir = path.join(dataDir, 'dev-issuer');
  const privFile = path.join(dir, 'private.pem');
  if (fs.existsSync(privFile)) {
    const privatePem = fs.readFileSync(privFile, 'utf8');
    const publicPem = crypto.createPublicKey(privatePem).export({ type: 'spki', format: 'pem' }).toString();
    return { kid: kidOf(publicPem), privatePem, publicPem };
  }
  const key = generateSigningKey();
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  // wx: two processes starting together must not overwrite each other's key.
  try {
    fs.writeFileSync(privFile, key.privatePem, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return loadOrCreateDevKey(dataDir);
    throw err;
  }
  fs.writeFileSync(path.join(dir, 'public.pem'), key.publicPem);
  return key;
}

/** Signs a token shaped like a Clerk v2 session token. */
export async function signSessionToken(key: SigningKey, issuer: string, req: TokenRequest): Promise<string> {
  const iat = Math.floor(Date.now() / 1000);
  const payload: Record<string, unknown> = {
    sub: req.userId,
    sid: req.sessionId ?? `sess_${crypto.randomBytes(12).toString('hex')}`,
    iss: issuer,
    iat,
    nbf: iat - 10,
    exp: iat + (req.ttlSeconds ?? 3600),
    v: 2,
    sts: 'active',
    fva: [0, -1],
  };
  if (req.azp) payload.azp = req.azp;
  if (req.email) payload.email = req.email;
  if (req.role) payload.metadata = { role: req.role };
  if (req.orgId) payload.o = { id: req.orgId, rol: req.orgRole ?? 'member', per: '' };
  Object.assign(payload, req.claims);
  for (const [k, v] of Object.entries(payload)) if (v === undefined) delete payload[k];
  // Signed here rather than with @clerk/backend's signJwt, which overwrites `iat` with the
  // current time and so silently defeats tests of an `iat` in the future.
  const header = { typ: 'JWT', kid: key.kid, cat: SESSION_TOKEN_CATEGORY, ...req.header, alg: 'RS256' };
  const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  return `${input}.${crypto.createSign('RSA-SHA256').update(input).sign(key.privatePem).toString('base64url')}`;
}
