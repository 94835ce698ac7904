/**
 * `npx tsx bench/logCost.ts`: what one HTTP request's access line and metrics cost, alone.
 *
 * Each variant runs in a child process whose stdout is a pipe this process drains, as a server's
 * stdout is under a process manager. The child writes LINES access lines shaped like the real
 * ones (through createLogger, redaction included) and, for the metrics variants, records each in
 * the request histogram; it then reports its own CPU time once every write has completed. The
 * cost per request is the variant's CPU time minus the `none` variant's (the same loop, lines
 * below the level), divided by LINES.
 *
 * Env: LOG_COST_LINES (100000), LOG_COST_RUNS (3; the median is shown).
 */
import { spawn } from 'node:child_process';
import { createLogger } from '../src/log';
import { metrics } from '../src/metrics';

const LINES = Number(process.env.LOG_COST_LINES ?? 100_000);
const RUNS = Number(process.env.LOG_COST_RUNS ?? 3);
const VARIANTS = ['none', 'async', 'sync', 'async+metrics', 'metrics'] as const;
type Variant = (typeof VARIANTS)[number];

const headers = { host: '127.0.0.1:4000', 'content-type': 'application/json', authorization: 'Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln', 'content-length': '120' };

function child(variant: Variant): void {
  const writes = variant === 'async' || variant === 'sync' || variant === 'async+metrics';
  const log = createLogger(writes ? 'info' : 'warn', { destination: 'stdout', format: 'json', sync: variant === 'sync' });
  if (variant.includes('metrics')) metrics.enable();
  const start = process.cpuUsage();
  for (let i = 0; i < LINES; i++) {
    const fields: Record<string, unknown> = {
      requestId: `req-${i}`,
      method: 'POST',
      route: '/graphql',
      status: 200,
      durationMs: 3.2,
      operation: 'Jobs',
      userId: 'user_bench_001',
    };
    if (i % 50 === 0) fields.req = { headers }; // some lines carry a credential to censor
    log.info('request', fields);
    metrics.request('/graphql', 'Jobs', 'ok', 0.0032);
  }
  process.once('beforeExit', () => {
    const used = process.cpuUsage(start);
    process.stderr.write(`${JSON.stringify({ variant, cpuUs: used.user + used.system })}\n`);
  });
}

function run(variant: Variant): Promise<{ cpuUs: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, ['--import', 'tsx', __filename, 'child', variant], { stdio: ['ignore', 'pipe', 'pipe'] });
    let bytes = 0;
    let err = '';
    c.stdout.on('data', (d: Buffer) => (bytes += d.length));
    c.stderr.on('data', (d: Buffer) => (err += d));
    c.once('exit', (code) => {
      const line = err.split('\n').find((l) => l.startsWith('{"variant"'));
      if (code !== 0 || !line) return reject(new Error(`${variant} exited ${code}: ${err}`));
      resolve({ cpuUs: (JSON.parse(line) as { cpuUs: number }).cpuUs, bytes });
    });
  });
}

async function main(): Promise<void> {
  const results: Record<string, { cpuUs: number; bytes: number }[]> = {};
  for (let r = 0; r < RUNS; r++) for (const v of VARIANTS) (results[v] ??= []).push(await run(v));
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const base = median(results.none.map((x) => x.cpuUs));
  console.log(`${LINES} access lines per run, median of ${RUNS} runs; cost = CPU time above the 'none' variant, per line`);
  for (const v of VARIANTS) {
    const cpu = median(results[v].map((x) => x.cpuUs));
    const bytes = median(results[v].map((x) => x.bytes)) / LINES;
    console.log(`  ${v.padEnd(14)} ${(cpu / 1000).toFixed(0).padStart(6)} ms CPU  ${((cpu - base) / LINES).toFixed(2).padStart(6)} us/line  ${bytes.toFixed(0)} B/line`);
  }
}

if (process.argv[2] === 'child') child(process.argv[3] as Variant);
else
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
