import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { loadOrCreateDevKey, signSessionToken, type TokenRequest } from '../../src/auth/devIssuer';
import { DEV_ISSUER } from '../../src/config';
import { TEST_DATABASE_URL } from './databases';

export const ROOT = path.resolve(__dirname, '..', '..');

/**
 * `node --import tsx` rather than the tsx binary: the binary forks a second node process, and a
 * SIGKILL sent to it would leave the real server running as an orphan.
 */
const NODE_ARGS = ['--import', 'tsx', 'src/cli.ts'];

/** Exactly these variables (plus PATH/HOME): nothing from the developer's shell or .env leaks in. */
export function isolatedEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    CLERK_TELEMETRY_DISABLED: '1',
    CLERK_JWT_KEY: '',
    CLERK_SECRET_KEY: '',
    CLERK_ISSUER: '',
    CLERK_AUTHORIZED_PARTIES: '',
    ...env,
  };
}

const childEnv = (env: Record<string, string>): NodeJS.ProcessEnv => isolatedEnv({ NODE_ENV: 'test', ...env });

const live = new Set<ChildProcess>();

/** SIGKILLs every child still running; afterAll calls it so a failed test leaves no server behind. */
export function killAllChildren(): void {
  for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  live.clear();
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ServerProcess {
  url: string;
  pid: number;
  /** stdout and stderr, interleaved as they arrived. */
  output(): string;
  /** stdout alone (where the server's log lines go). */
  stdout(): string;
  exited: Promise<Exit>;
  kill(signal?: NodeJS.Signals): Promise<Exit>;
}

function track(child: ChildProcess): { output: () => string; stdout: () => string; exited: Promise<Exit> } {
  live.add(child);
  let out = '';
  let stdout = '';
  child.stdout?.on('data', (d) => (stdout += d));
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  const exited = new Promise<Exit>((resolve) =>
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    }),
  );
  return { output: () => out, stdout: () => stdout, exited };
}

/** Starts `cli.ts serve` on port 0 and resolves with the URL from its "listening on" line. */
export async function spawnServer(env: Record<string, string>, timeoutMs = 30_000): Promise<ServerProcess> {
  const child = spawn(process.execPath, NODE_ARGS.concat('serve'), {
    cwd: ROOT,
    env: childEnv({ HOST: '127.0.0.1', PORT: '0', WORKER_ENABLED: 'false', RATE_LIMIT_PER_MINUTE: '0', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const { output, stdout, exited } = track(child);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in ${timeoutMs} ms:\n${output()}`)), timeoutMs);
    const onData = () => {
      const m = /jobledger is listening on (http:\/\/\S+)/.exec(output());
      if (m) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        resolve(m[1]);
      }
    };
    child.stdout?.on('data', onData);
    void exited.then((e) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${e.code ?? e.signal}) before listening:\n${output()}`));
    });
  });
  return {
    url,
    pid: child.pid!,
    output,
    stdout,
    exited,
    kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Runs a cli.ts command to completion; the timeout only stops one that wrongly kept running. */
export async function runCommand(args: string[], env: Record<string, string>, timeoutMs = 25_000): Promise<Exit & { output: string }> {
  const child = spawn(process.execPath, NODE_ARGS.concat(args), { cwd: ROOT, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  const { output, exited } = track(child);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const e = await exited;
  clearTimeout(timer);
  return { ...e, output: output() };
}

/** A token from the development issuer whose key lives in `dataDir` (servers sharing it accept it). */
export function devToken(dataDir: string, userId: string, opts: Omit<TokenRequest, 'userId'> = {}): Promise<string> {
  return signSessionToken(loadOrCreateDevKey(dataDir), DEV_ISSUER, { userId, ...opts });
}

export interface Gql<T = any> {
  status: number;
  body: { data?: T | null; errors?: { message: string; extensions?: Record<string, any> }[] };
}

export async function gql<T = any>(url: string, query: string, variables: Record<string, unknown>, token: string): Promise<Gql<T>> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, body: (await res.json()) as Gql<T>['body'] };
}

/** An empty database (no migrations, unlike createFreshPostgres's template clones). */
export async function createEmptyPostgres(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `jobledger_empty_${randomBytes(6).toString('hex')}`;
  const admin = async (sql: string) => {
    const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const u = new URL(TEST_DATABASE_URL);
  u.pathname = `/${name}`;
  return { url: u.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}
