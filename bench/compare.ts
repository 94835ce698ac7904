/**
 * `npm run bench`: jobledger against the stacks a user would pick instead, in one process tree,
 * targets interleaved (A B C D, A B C D, ...) so machine noise falls on all of them alike.
 *
 *   bare     Apollo Server 5 startStandaloneServer, in-memory data, no auth (the engine's ceiling)
 *   yoga     GraphQL Yoga 5 + plugin-jwt + generic-auth, owner-only, in-memory data (the peer)
 *   embedded jobledger, NODE_ENV=production, PGlite in a fresh DATA_DIR (the default store)
 *   postgres jobledger, NODE_ENV=production, a fresh PostgreSQL database
 *
 * jobledger is seeded over its own API (20 jobs for each of 50 users) and its worker drained
 * before anything is measured; tokens are RS256, really signed, and verified as in production.
 * Every response is checked (status, no `errors`, every node the caller's).
 *
 * Env: BENCH_ROUNDS (2), BENCH_DURATION_S (10), BENCH_CONNECTIONS (50), BENCH_WRITERS (8),
 * BENCH_TARGETS (comma list to run a subset), BENCH_WRITES=0 (reads only), BENCH_NODE_ARGS (flags for the
 * targets' node, e.g. --cpu-prof), BENCH_DATABASE_URL (see lib/postgres.ts), BENCH_LOG_LEVEL
 * (jobledger's LOG_LEVEL, default info as in production: an access line per request),
 * BENCH_METRICS=1 (jobledger with METRICS_PORT set, so the metrics are recorded).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateSigningKey, signSessionToken } from '../src/auth/devIssuer';
import { runLoad, type LoadResult } from './lib/load';
import { admin, median, SERVER_URL, table } from './lib/postgres';
import { startTarget, type Target } from './lib/targets';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const WRITERS = Number(process.env.BENCH_WRITERS ?? 8);
const JOBS_PER_USER = 20;
const ISSUER = 'https://bench.clerk.accounts.dev';
const USERS = Array.from({ length: CONNECTIONS }, (_, i) => `user_bench_${String(i).padStart(3, '0')}`);
const LIST = JSON.stringify({ query: `query { jobs(first: ${JOBS_PER_USER}) { edges { node { id ownerId title status createdAt } } } }` });
const CREATE = JSON.stringify({
  query: 'mutation($input: CreateJobInput!) { createJob(input: $input) { id status } }',
  variables: { input: { title: 'bench write', ursDocument: 'URS-001 The system shall record every change.\nURS-002 The system shall be fast.' } },
});

interface Sample {
  target: string;
  phase: 'read' | 'write';
  load: LoadResult;
  rssMiB: number;
  blockMs: number;
  /** CPU time per passed response: the server process (all threads), and its PostgreSQL backends. */
  cpuMsPerReq: number;
  dbCpuMsPerReq: number;
  /** Bytes the server wrote to stdout/stderr per passing response (its log lines). */
  logBytesPerReq: number;
}

async function main(): Promise<void> {
  const key = generateSigningKey();
  const tokens = await Promise.all(USERS.map((userId) => signSessionToken(key, ISSUER, { userId, ttlSeconds: 4 * 3600 })));
  const adminToken = await signSessionToken(key, ISSUER, { userId: 'user_bench_admin', role: 'admin', ttlSeconds: 4 * 3600 });
  const wanted = (process.env.BENCH_TARGETS ?? 'bare,yoga,embedded,postgres').split(',');
  const common = { NODE_ENV: 'production', BENCH_USERS: USERS.join(','), BENCH_JOBS_PER_USER: String(JOBS_PER_USER) };
  const jobledgerEnv = (extra: Record<string, string>) => ({
    ...common,
    HOST: '127.0.0.1',
    PORT: '0',
    CLERK_JWT_KEY: key.publicPem,
    CLERK_ISSUER: ISSUER,
    // The limiter runs on every request as in production; its threshold is set above the load.
    RATE_LIMIT_PER_MINUTE: '1000000',
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info',
    ...(process.env.BENCH_METRICS === '1' ? { METRICS_PORT: '0' } : {}),
    DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'jobledger-bench-data-')),
    ...extra,
  });

  const targets: Target[] = [];
  const databaseOf = new Map<string, string>();
  const cleanups: (() => Promise<void>)[] = [];
  try {
    console.log(`machine: ${os.cpus().length} x ${os.cpus()[0]?.model}, node ${process.version}`);
    // jobledger runs as production runs it: the compiled build (npm run start:prod).
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: path.join(__dirname, '..'), stdio: 'inherit' });
    if (wanted.includes('bare')) targets.push(await startTarget('bare', 'bench/peers/apolloStandalone.ts', [], common));
    if (wanted.includes('yoga')) targets.push(await startTarget('yoga', 'bench/peers/yogaJwt.ts', [], { ...common, BENCH_PUBLIC_PEM: key.publicPem, BENCH_ISSUER: ISSUER }));
    if (wanted.includes('embedded')) targets.push(await startTarget('embedded', 'dist/src/cli.js', ['serve'], jobledgerEnv({})));
    if (wanted.includes('postgres')) {
      const url = await freshDatabase(cleanups);
      if (url) targets.push(await startTarget('postgres', 'dist/src/cli.js', ['serve'], jobledgerEnv({ DATABASE_URL: url })));
      if (url) databaseOf.set('postgres', new URL(url).pathname.slice(1));
    }
    const ours = targets.filter((t) => t.name === 'embedded' || t.name === 'postgres');
    for (const t of ours) {
      const s = Date.now();
      await seed(t, tokens, adminToken);
      const longest = (from: number, to: number) => Math.max(0, ...t.probes(from, to).map((p) => p.block));
      console.log(
        `${t.name}: seeded ${USERS.length * JOBS_PER_USER} jobs over the API and drained the worker in ${((Date.now() - s) / 1000).toFixed(1)} s; ` +
          `longest event-loop block before listening ${longest(t.startedAt, t.listenedAt)} ms (loading and setting up), ` +
          // (a probe sample covers the 250 ms before it: those straddling the start of listening count as before)
          `from listening through seeding ${longest(t.listenedAt + 250, Date.now())} ms`,
      );
    }

    const headersFor = (i: number) => ({ authorization: `Bearer ${tokens[i % tokens.length]}`, 'x-bench-user': USERS[i % USERS.length] });
    const checkList = (i: number, status: number, body: string) =>
      status === 200 && !body.includes('"errors"') && body.split(`"ownerId":"${USERS[i % USERS.length]}"`).length - 1 === JOBS_PER_USER;
    const checkCreate = (_i: number, status: number, body: string) => status === 200 && !body.includes('"errors"') && body.includes('"createJob":{"id":"');

    const samples: Sample[] = [];
    const measure = async (t: Target, phase: Sample['phase'], durationS: number, record: boolean) => {
      const from = Date.now();
      const db = databaseOf.get(t.name);
      const cpu0 = t.cpuMs();
      const dbCpu0 = db ? t.cpuMs(db) : NaN;
      const bytes0 = t.outputBytes();
      const load =
        phase === 'read'
          ? await runLoad({ url: t.url, connections: CONNECTIONS, durationS, body: LIST, headersFor, check: checkList })
          : await runLoad({ url: t.url, connections: WRITERS, durationS, body: CREATE, headersFor, check: checkCreate });
      const probes = t.probes(from, Date.now());
      const passed = Math.max(1, load.ok);
      const sample = {
        target: t.name,
        phase,
        load,
        rssMiB: Math.max(0, ...probes.map((p) => p.rss)) / 2 ** 20,
        blockMs: Math.max(0, ...probes.map((p) => p.block)),
        cpuMsPerReq: (t.cpuMs() - cpu0) / passed,
        dbCpuMsPerReq: db ? (t.cpuMs(db) - dbCpu0) / passed : NaN,
        logBytesPerReq: (t.outputBytes() - bytes0) / passed,
      };
      if (record) samples.push(sample);
      const flag = load.bad ? `  ${load.bad} BAD, first: ${load.firstBad}` : '';
      const cpu = `cpu ${sample.cpuMsPerReq.toFixed(2)}${db ? ` + db ${sample.dbCpuMsPerReq.toFixed(2)}` : ''} ms/req`;
      console.log(`  ${phase} ${t.name.padEnd(8)} ${load.reqPerSec.toFixed(0).padStart(6)} req/s  p50 ${load.p50} ms  p99 ${load.p99} ms  max ${load.max} ms  rss ${sample.rssMiB.toFixed(0)} MiB  block ${sample.blockMs} ms  ${cpu}  log ${sample.logBytesPerReq.toFixed(0)} B/req${flag}`);
    };

    console.log(`\nwarm-up (3 s each, not counted)`);
    for (const t of targets) await measure(t, 'read', 3, false);
    for (let r = 1; r <= ROUNDS; r++) {
      console.log(`\nread round ${r}/${ROUNDS}: ${CONNECTIONS} connections, ${DURATION_S} s each`);
      for (const t of targets) await measure(t, 'read', DURATION_S, true);
    }
    for (let r = 1; r <= (process.env.BENCH_WRITES === '0' ? 0 : ROUNDS); r++) {
      console.log(`\nwrite round ${r}/${ROUNDS}: createJob, ${WRITERS} connections, ${DURATION_S} s each`);
      for (const t of ours) await measure(t, 'write', DURATION_S, true);
    }
    report(samples);
  } finally {
    for (const t of targets) await t.stop();
    for (const c of cleanups) await c();
  }
}

async function freshDatabase(cleanups: (() => Promise<void>)[]): Promise<string | null> {
  try {
    await admin('SELECT 1');
  } catch (err) {
    console.log(`postgres: skipped, PostgreSQL at ${new URL(SERVER_URL).host} is unreachable (${(err as Error).message})`);
    return null;
  }
  const name = `jobledger_bench_${Date.now().toString(36)}`;
  await admin(`CREATE DATABASE ${name}`);
  cleanups.push(() => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  const u = new URL(SERVER_URL);
  u.pathname = `/${name}`;
  return u.toString();
}

async function gql(t: Target, token: string, body: string): Promise<{ data?: Record<string, unknown>; errors?: unknown[] }> {
  const res = await fetch(t.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body });
  const json = (await res.json()) as { data?: Record<string, unknown>; errors?: unknown[] };
  if (!res.ok || json.errors) throw new Error(`${t.name}: HTTP ${res.status} ${JSON.stringify(json).slice(0, 300)}`);
  return json;
}

/** 20 jobs per user through createJob (8 at a time), then waits until the worker has finished them all. */
async function seed(t: Target, tokens: string[], adminToken: string): Promise<void> {
  const work = tokens.flatMap((token) => Array.from({ length: JOBS_PER_USER }, () => token));
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let token = work.pop(); token; token = work.pop()) await gql(t, token, CREATE);
    }),
  );
  const open = JSON.stringify({ query: '{ p: jobs(first: 1, status: PENDING) { edges { cursor } } r: jobs(first: 1, status: RUNNING) { edges { cursor } } }' });
  const deadline = Date.now() + 300_000;
  for (;;) {
    const { data } = await gql(t, adminToken, open);
    const left = (data!.p as { edges: unknown[] }).edges.length + (data!.r as { edges: unknown[] }).edges.length;
    if (left === 0) return;
    if (Date.now() > deadline) throw new Error(`${t.name}: the worker did not drain the seeded jobs in 5 minutes`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function report(samples: Sample[]): void {
  const of = (target: string, phase: Sample['phase']) => samples.filter((s) => s.target === target && s.phase === phase);
  const med = (xs: Sample[], f: (s: Sample) => number) => median(xs.map(f));
  const reads = [...new Set(samples.filter((s) => s.phase === 'read').map((s) => s.target))];
  const bare = of('bare', 'read');
  const yoga = of('yoga', 'read');
  const bareRate = bare.length ? med(bare, (s) => s.load.reqPerSec) : NaN;
  const yogaRate = yoga.length ? med(yoga, (s) => s.load.reqPerSec) : NaN;
  // The server's CPU per passed response (all its threads), plus its PostgreSQL backends' after
  // a `+`: less sensitive to other load on the machine than req/s.
  const cpuCell = (xs: Sample[]) => {
    const own = med(xs, (s) => s.cpuMsPerReq);
    const db = med(xs, (s) => s.dbCpuMsPerReq);
    return Number.isNaN(db) ? own.toFixed(2) : `${own.toFixed(2)} + ${db.toFixed(2)}`;
  };
  const ratio = (x: number, base: number) => (Number.isFinite(base) ? `${(x / base).toFixed(2)}x` : '-');
  console.log(`\n===== list read: jobs(first: ${JOBS_PER_USER}), ${CONNECTIONS} users, median of ${ROUNDS} rounds =====\n`);
  console.log(
    table(
      ['target', 'req/s', 'p50 ms', 'p99 ms', 'max ms', 'RSS MiB', 'block ms', 'CPU ms/req', 'log B/req', 'vs bare', 'vs yoga', 'bad'],
      reads.map((t) => {
        const xs = of(t, 'read');
        const rate = med(xs, (s) => s.load.reqPerSec);
        return [
          t,
          rate.toFixed(0),
          med(xs, (s) => s.load.p50).toFixed(0),
          med(xs, (s) => s.load.p99).toFixed(0),
          String(Math.max(...xs.map((s) => s.load.max))),
          Math.max(...xs.map((s) => s.rssMiB)).toFixed(0),
          String(Math.max(...xs.map((s) => s.blockMs))),
          cpuCell(xs),
          med(xs, (s) => s.logBytesPerReq).toFixed(0),
          ratio(rate, bareRate),
          ratio(rate, yogaRate),
          String(xs.reduce((n, s) => n + s.load.bad, 0)),
        ];
      }),
    ),
  );
  const writes = [...new Set(samples.filter((s) => s.phase === 'write').map((s) => s.target))];
  if (writes.length) {
    console.log(`\n===== createJob with its audit event: ${WRITERS} writers, median of ${ROUNDS} rounds =====\n`);
    console.log(
      table(
        ['target', 'req/s', 'p50 ms', 'p99 ms', 'max ms', 'RSS MiB', 'block ms', 'CPU ms/req', 'log B/req', 'bad'],
        writes.map((t) => {
          const xs = of(t, 'write');
          return [
            t,
            med(xs, (s) => s.load.reqPerSec).toFixed(0),
            med(xs, (s) => s.load.p50).toFixed(0),
            med(xs, (s) => s.load.p99).toFixed(0),
            String(Math.max(...xs.map((s) => s.load.max))),
            Math.max(...xs.map((s) => s.rssMiB)).toFixed(0),
            String(Math.max(...xs.map((s) => s.blockMs))),
            cpuCell(xs),
            med(xs, (s) => s.logBytesPerReq).toFixed(0),
            String(xs.reduce((n, s) => n + s.load.bad, 0)),
          ];
        }),
      ),
    );
  }
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
