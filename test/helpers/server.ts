import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { signSessionToken, type TokenRequest } from '../../src/auth/devIssuer';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/log';
import { startServer, type RunningServer } from '../../src/server';
import type { Database } from '../../src/store/database';
import { migrate } from '../../src/store/migrate';
import { openPglite } from '../../src/store/pglite';
import { openStore, type StoreUnderTest } from './databases';
import type { StoreKind } from './stores';

process.env.CLERK_TELEMETRY_DISABLED = '1';

export interface TestServer extends RunningServer {
  dataDir: string;
  /** A freshly signed development token (the same issuer `npm run token` uses). */
  token(userId: string, opts?: Omit<TokenRequest, 'userId'>): Promise<string>;
  gql<T = any>(query: string, variables?: Record<string, unknown>, token?: string | null, headers?: Record<string, string>): Promise<GqlResponse<T>>;
  close(): Promise<void>;
}

export interface GqlResponse<T> {
  status: number;
  headers: Headers;
  body: { data?: T | null; errors?: { message: string; extensions: Record<string, any>; path?: string[] }[] };
}

export async function openTestDatabase(): Promise<Database> {
  const db = await openPglite(undefined);
  await migrate(db);
  return db;
}

/**
 * A real server on 127.0.0.1, port 0, with its own data directory. Its database: `db` when
 * given (the caller closes it); else a fresh one of `store` (a new PostgreSQL database from the
 * migrated template, dropped at close); else in-memory PGlite. The worker is off unless asked
 * for, so tests control when jobs move.
 */
export async function startTestServer(env: Record<string, string> = {}, opts: { db?: Database; store?: StoreKind } = {}): Promise<TestServer> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobledger-test-'));
  const config = loadConfig({ NODE_ENV: 'test', PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, WORKER_ENABLED: 'false', RATE_LIMIT_PER_MINUTE: '0', ...env });
  const store: StoreUnderTest | null = opts.db || !opts.store ? null : await openStore(opts.store);
  const db = opts.db ?? store?.db ?? (await openTestDatabase());
  let server: RunningServer;
  try {
    server = await startServer(config, { db, log: createLogger((env.LOG_LEVEL as never) ?? 'silent') });
  } catch (err) {
    await (store ? store.close() : opts.db ? undefined : db.close());
    throw err;
  }
  return {
    ...server,
    dataDir,
    async token(userId, tokenOpts = {}) {
      if (!server.auth.devKey) throw new Error('test server is not using the development issuer');
      return signSessionToken(server.auth.devKey, config.auth.issuer, { userId, ...tokenOpts });
    },
    async gql(query, variables, token, headers = {}) {
      const res = await fetch(server.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
        body: JSON.stringify({ query, variables }),
      });
      const text = await res.text();
      let body;
      try {
        body = JSON.parse(text);
      } catch {
        body = { raw: text };
      }
      return { status: res.status, headers: res.headers, body };
    },
    async close() {
      await server.stop();
      if (store) await store.close();
      else if (!opts.db) await db.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
