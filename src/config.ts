import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import proxyAddr from 'proxy-addr';
import { ConfigError } from './errors';

export type AuthMode = 'jwt-key' | 'jwks' | 'dev';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
export type LogFormat = 'json' | 'pretty';
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];

export interface AuthConfig {
  mode: AuthMode;
  /** PEM public key (CLERK_JWT_KEY), newlines normalised. */
  jwtKey?: string;
  secretKey?: string;
  publishableKey?: string;
  apiUrl: string;
  issuer: string;
  authorizedParties: string[];
  audience?: string;
  clockSkewMs: number;
  /** Dotted path of the custom session claim holding `admin` / `auditor`. */
  roleClaim: string;
  acceptTemplateTokens: boolean;
  allowPendingSessions: boolean;
  acceptM2mTokens: boolean;
  webhookSigningSecret?: string;
  /** Minimum time between JWKS refreshes triggered by an unknown `kid`. */
  jwksMinRefreshIntervalMs: number;
  /** How long "this session and user are still active" is believed without asking the database. */
  sessionCheckCacheMs: number;
}

/**
 * TRUST_PROXY, Express's `trust proxy` without `true`: off, the number of proxies in front of the
 * server, or the addresses/CIDRs (and proxy-addr's `loopback`, `linklocal`, `uniquelocal`) whose
 * X-Forwarded-For is believed.
 */
export type TrustProxy = { kind: 'off' } | { kind: 'hops'; hops: number } | { kind: 'addresses'; addresses: string[] };

export interface Config {
  production: boolean;
  nodeEnv: string;
  host: string;
  port: number;
  corsOrigins: string[];
  maxBodyBytes: number;
  databaseUrl?: string;
  /** PostgreSQL: keep hot statements prepared per connection (off behind an old transaction pooler). */
  databasePreparedStatements: boolean;
  dataDir: string;
  auth: AuthConfig;
  logLevel: LogLevel;
  /** LOG_FORMAT; unset: pretty in development on a terminal, JSON lines otherwise (decided where the logger is made). */
  logFormat?: LogFormat;
  /** METRICS_PORT set: Prometheus metrics on their own listener (off when unset). */
  metrics?: { host: string; port: number };
  worker: { enabled: boolean; concurrency: number; pollMs: number };
  rateLimitPerMinute: number;
  /** Refused tokens and webhook signatures per client address a minute, across HTTP, WebSocket and webhooks; 0 disables. */
  authFailuresPerMinute: number;
  trustProxy: TrustProxy;
  /** Bound on an orderly stop; past it (or on a second signal) the process exits at once. */
  shutdownTimeoutMs: number;
  audit: { checkpointIntervalMs: number; checkpointKeyPem?: string };
  graphql: {
    /** Automatic persisted queries (Apollo's in-memory, per-instance cache). */
    apqEnabled: boolean;
    /** TRUSTED_DOCUMENTS: the client's persisted-documents manifest, sha256 hash -> document. */
    trustedDocuments?: { path: string; documents: Map<string, string> };
    /** Production with a manifest: only its operations run, sent by hash. */
    trustedDocumentsOnly: boolean;
  };
}

type Env = Record<string, string | undefined>;

export const NODE_ENVS: readonly string[] = ['development', 'test', 'production'];

export const DEV_ISSUER = 'https://dev-issuer.jobledger.localhost';
export const CLERK_DEFAULT_API_URL = 'https://api.clerk.com';

/**
 * Reads the process environment, then `.env.local`, then `.env` (earlier wins).
 * Only fills gaps: a variable set in the environment is never overridden by a file.
 */
export function readEnvironment(cwd = process.cwd(), env: Env = process.env): Env {
  const merged: Env = {};
  for (const file of ['.env', '.env.local']) {
    const full = path.join(cwd, file);
    if (fs.existsSync(full)) Object.assign(merged, parseDotenv(fs.readFileSync(full)));
  }
  for (const [k, v] of Object.entries(env)) if (v !== undefined) merged[k] = v;
  return merged;
}

/**
 * Validates the whole configuration at once and throws a ConfigError listing every problem.
 * Pure: everything comes from `env`. There is no fallback that weakens authentication.
 */
export function loadConfig(env: Env): Config {
  const problems: string[] = [];
  const str = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const int = (name: string, dflt: number, min: number, max: number): number => {
    const raw = str(name);
    if (raw === undefined) return dflt;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${name} must be a whole number from ${min} to ${max} (got "${raw}").`);
      return dflt;
    }
    return n;
  };
  const bool = (name: string, dflt: boolean): boolean => {
    const raw = str(name);
    if (raw === undefined) return dflt;
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off)$/i.test(raw)) return false;
    problems.push(`${name} must be true or false (got "${raw}").`);
    return dflt;
  };
  const list = (name: string): string[] =>
    (str(name) ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const url = (name: string, value: string | undefined): void => {
    if (value === undefined) return;
    try {
      new URL(value);
    } catch {
      problems.push(`${name} must be an absolute URL (got "${value}").`);
    }
  };

  const nodeEnv = str('NODE_ENV') ?? 'development';
  // Exactly these: "prod" or "Production" must not quietly start a development server (and its
  // development token issuer) where production was meant.
  if (!NODE_ENVS.includes(nodeEnv)) {
    problems.push(`NODE_ENV must be one of ${NODE_ENVS.join(', ')} (got "${nodeEnv}"). Use production for a deployment.`);
  }
  const production = nodeEnv === 'production';

  const jwtKeyRaw = str('CLERK_JWT_KEY');
  const jwtKey = jwtKeyRaw === undefined ? undefined : normalisePem(jwtKeyRaw);
  if (jwtKey !== undefined && !/^-----BEGIN PUBLIC KEY-----\n[\s\S]+\n-----END PUBLIC KEY-----\n?$/.test(jwtKey)) {
    problems.push('CLERK_JWT_KEY must be the PEM public key from the Clerk dashboard (-----BEGIN PUBLIC KEY----- ...).');
  }
  const secretKey = str('CLERK_SECRET_KEY');
  if (secretKey !== undefined && !/^sk_(test|live)_\S+$/.test(secretKey)) {
    problems.push('CLERK_SECRET_KEY must look like sk_test_... or sk_live_... (the Backend API secret key).');
  }
  const mode: AuthMode = jwtKey ? 'jwt-key' : secretKey ? 'jwks' : 'dev';
  if (mode === 'dev' && production) {
    problems.push(
      'NODE_ENV=production needs Clerk keys: set CLERK_JWT_KEY (PEM public key) or CLERK_SECRET_KEY, and CLERK_ISSUER. The development token issuer is never used in production.',
    );
  }
  const issuer = str('CLERK_ISSUER');
  url('CLERK_ISSUER', issuer);
  if (mode !== 'dev' && issuer === undefined) {
    problems.push('CLERK_ISSUER is required with Clerk keys: set it to your Frontend API URL (e.g. https://your-app.clerk.accounts.dev).');
  }
  const apiUrl = str('CLERK_API_URL') ?? CLERK_DEFAULT_API_URL;
  url('CLERK_API_URL', apiUrl);
  const authorizedParties = list('CLERK_AUTHORIZED_PARTIES');
  for (const p of authorizedParties) url('CLERK_AUTHORIZED_PARTIES', p);
  const acceptM2mTokens = bool('CLERK_ACCEPT_M2M_TOKENS', false);
  if (acceptM2mTokens && secretKey === undefined) {
    problems.push('CLERK_ACCEPT_M2M_TOKENS=true needs CLERK_SECRET_KEY: machine tokens are verified by the Backend API.');
  }

  const host = str('HOST') ?? '127.0.0.1';
  const port = int('PORT', 4000, 0, 65535);
  const logLevel = (str('LOG_LEVEL') ?? (nodeEnv === 'test' ? 'warn' : 'info')) as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) {
    problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')} (got "${logLevel}").`);
  }
  const logFormat = str('LOG_FORMAT') as LogFormat | undefined;
  if (logFormat !== undefined && logFormat !== 'json' && logFormat !== 'pretty') {
    problems.push(`LOG_FORMAT must be json or pretty (got "${logFormat}").`);
  }
  const metricsPort = str('METRICS_PORT') === undefined ? undefined : int('METRICS_PORT', 0, 0, 65535);
  const metricsHost = str('METRICS_HOST');
  if (metricsHost !== undefined && metricsPort === undefined) {
    problems.push('METRICS_HOST is set but METRICS_PORT is not: set METRICS_PORT to serve /metrics (it is off without it).');
  }
  if (metricsPort !== undefined && metricsPort !== 0 && metricsPort === port) {
    problems.push(`METRICS_PORT must differ from PORT (both ${port}): metrics have a listener of their own, which the balancer does not forward.`);
  }
  const databaseUrl = str('DATABASE_URL');
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push('DATABASE_URL must be a PostgreSQL URL (postgres://user@host:5432/db).');
  }
  const corsOrigins = list('CORS_ORIGINS');
  for (const o of corsOrigins) url('CORS_ORIGINS', o);

  const rateLimitPerMinute = int('RATE_LIMIT_PER_MINUTE', 600, 0, 1_000_000);
  const trustProxy = readTrustProxy(str('TRUST_PROXY'), problems);

  const trustedPath = str('TRUSTED_DOCUMENTS');
  const trustedDocuments = trustedPath === undefined ? undefined : readTrustedDocuments(path.resolve(trustedPath), problems);

  const config: Config = {
    production,
    nodeEnv,
    host,
    port,
    corsOrigins,
    maxBodyBytes: int('MAX_BODY_BYTES', 2 * 1024 * 1024, 1024, 64 * 1024 * 1024),
    databaseUrl,
    databasePreparedStatements: bool('DATABASE_PREPARED_STATEMENTS', true),
    dataDir: path.resolve(str('DATA_DIR') ?? './.data'),
    auth: {
      mode,
      jwtKey,
      secretKey,
      publishableKey: str('CLERK_PUBLISHABLE_KEY'),
      apiUrl,
      issuer: issuer ?? DEV_ISSUER,
      authorizedParties,
      audience: str('CLERK_JWT_AUDIENCE'),
      clockSkewMs: int('CLERK_CLOCK_SKEW_MS', 5000, 0, 300_000),
      roleClaim: str('CLERK_ROLE_CLAIM') ?? 'metadata.role',
      acceptTemplateTokens: bool('CLERK_ACCEPT_TEMPLATE_TOKENS', false),
      allowPendingSessions: bool('CLERK_ALLOW_PENDING_SESSIONS', false),
      acceptM2mTokens,
      webhookSigningSecret: str('CLERK_WEBHOOK_SIGNING_SECRET'),
      jwksMinRefreshIntervalMs: int('CLERK_JWKS_MIN_REFRESH_MS', 30_000, 0, 3_600_000),
      sessionCheckCacheMs: int('SESSION_CHECK_CACHE_MS', 5_000, 0, 3_600_000),
    },
    logLevel,
    logFormat,
    metrics: metricsPort === undefined ? undefined : { host: metricsHost ?? host, port: metricsPort },
    worker: {
      enabled: bool('WORKER_ENABLED', true),
      concurrency: int('WORKER_CONCURRENCY', 2, 1, 64),
      pollMs: int('WORKER_POLL_MS', 1000, 10, 60_000),
    },
    rateLimitPerMinute,
    authFailuresPerMinute: int('RATE_LIMIT_AUTH_FAILURES_PER_MINUTE', rateLimitPerMinute, 0, 1_000_000),
    trustProxy,
    shutdownTimeoutMs: int('SHUTDOWN_TIMEOUT_MS', 10_000, 100, 600_000),
    audit: {
      checkpointIntervalMs: int('AUDIT_CHECKPOINT_INTERVAL_MS', 10_000, 0, 86_400_000),
      checkpointKeyPem: str('AUDIT_CHECKPOINT_KEY') === undefined ? undefined : normalisePem(str('AUDIT_CHECKPOINT_KEY')!),
    },
    graphql: {
      apqEnabled: bool('APQ_ENABLED', true),
      trustedDocuments,
      trustedDocumentsOnly: production && trustedDocuments !== undefined,
    },
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/**
 * Express's `trust proxy` values, checked here so that a typo stops start-up instead of silently
 * recording the balancer's address (or, worse, believing every client's X-Forwarded-For).
 * `true` is refused: trusting every hop lets any client choose the address it is recorded and
 * rate-limited under.
 */
function readTrustProxy(raw: string | undefined, problems: string[]): TrustProxy {
  const how = 'give the number of proxies in front of the server (e.g. 1), or their addresses or CIDRs, comma-separated (e.g. 10.0.0.0/8,loopback)';
  if (raw === undefined || /^(false|off|0)$/i.test(raw)) return { kind: 'off' };
  if (/^(true|yes|on|all|\*)$/i.test(raw)) {
    problems.push(`TRUST_PROXY=${raw} would believe every X-Forwarded-For, so any client could choose the address it is recorded and rate-limited under: ${how}.`);
    return { kind: 'off' };
  }
  if (/^\d+$/.test(raw)) {
    const hops = Number(raw);
    if (hops <= 32) return { kind: 'hops', hops };
    problems.push(`TRUST_PROXY must be a number of proxies from 0 to 32 (got "${raw}"), or addresses.`);
    return { kind: 'off' };
  }
  const addresses = raw.split(',').map((s) => s.trim()).filter(Boolean);
  try {
    if (addresses.length === 0) throw new Error('no address');
    proxyAddr.compile(addresses);
    return { kind: 'addresses', addresses };
  } catch (err) {
    problems.push(`TRUST_PROXY: ${(err as Error).message} (got "${raw}"); ${how}. loopback, linklocal and uniquelocal name those ranges.`);
    return { kind: 'off' };
  }
}

/** A PEM pasted into an env var often arrives with literal `\n` sequences or stray quotes. */
export function normalisePem(raw: string): string {
  let pem = raw.trim().replace(/^["']|["']$/g, '').replace(/\\n/g, '\n').replace(/\r/g, '');
  if (!pem.endsWith('\n')) pem += '\n';
  return pem;
}

/**
 * A persisted-documents manifest as @graphql-codegen/client-preset writes it: a JSON object of
 * sha256 -> document. Every hash is checked against its document, so a hand-edited or
 * mismatched manifest stops the server at start-up rather than refusing clients later.
 */
function readTrustedDocuments(file: string, problems: string[]): { path: string; documents: Map<string, string> } | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : 'not readable JSON';
    problems.push(`TRUSTED_DOCUMENTS must name the client's persisted-documents manifest (${file}: ${why}).`);
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    problems.push(`TRUSTED_DOCUMENTS (${file}) must be a JSON object of sha256 hash -> GraphQL document.`);
    return undefined;
  }
  const documents = new Map<string, string>();
  for (const [key, doc] of Object.entries(parsed)) {
    // client-preset writes `sha256:<hex>` (the GraphQL-over-HTTP document id); bare hex is Apollo's.
    const hash = key.replace(/^sha256:/, '');
    if (typeof doc !== 'string' || !/^[0-9a-f]{64}$/.test(hash) || createHash('sha256').update(doc).digest('hex') !== hash) {
      problems.push(`TRUSTED_DOCUMENTS (${file}): entry "${key.slice(0, 80)}" is not a sha256 hash of its document; regenerate the manifest.`);
      return undefined;
    }
    documents.set(hash, doc);
  }
  if (documents.size === 0) {
    problems.push(`TRUSTED_DOCUMENTS (${file}) holds no documents.`);
    return undefined;
  }
  return { path: file, documents };
}
