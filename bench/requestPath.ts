/**
 * Request-path throughput: jobledger's server against "the usual Apollo + shield stack" built
 * from the same schema, resolvers and database in the same run:
 *   - baseline: verifyToken on every request, graphql-shield over every field with the `strict`
 *     cache for argument-dependent rules (what shield's docs suggest), no validation limits;
 *   - ours: startServer as shipped (verified-token cache, shield only where a rule decides,
 *     graphql-armor limits, rate limiter, request ids).
 * Each server runs in its own child process; the parent drives load with keep-alive fetches.
 * Usage: npx tsx bench/requestPath.ts [seconds-per-round=4] [concurrency=16]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { serve } from './requestPathServers';

const [, , modeArg, portFile] = process.argv;
if (modeArg === '--serve-ours' || modeArg === '--serve-baseline') {
  void serve(modeArg === '--serve-ours' ? 'ours' : 'baseline', portFile);
} else {
  void main();
}

async function startChild(mode: 'ours' | 'baseline', dir: string): Promise<{ child: ChildProcess; url: string; token: string; jobId: string }> {
  const file = path.join(dir, `${mode}.json`);
  const child = spawn(process.execPath, ['--import', 'tsx', __filename, `--serve-${mode}`, file], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, CLERK_TELEMETRY_DISABLED: '1' } });
  for (let i = 0; i < 300 && !fs.existsSync(file); i++) await new Promise((r) => setTimeout(r, 100));
  if (!fs.existsSync(file)) throw new Error(`${mode} server did not start`);
  return { child, ...JSON.parse(fs.readFileSync(file, 'utf8')) };
}

async function load(url: string, token: string, body: string, seconds: number, concurrency: number): Promise<number> {
  const until = Date.now() + seconds * 1000;
  let done = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < until) {
        const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body });
        const json = (await res.json()) as { errors?: unknown };
        if (res.status !== 200 || json.errors) throw new Error(`bad response ${res.status} ${JSON.stringify(json).slice(0, 200)}`);
        done++;
      }
    }),
  );
  return done / seconds;
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 4);
  const concurrency = Number(process.argv[3] ?? 16);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobledger-bench-'));
  const servers = { ours: await startChild('ours', dir), baseline: await startChild('baseline', dir) };
  try {
    const queries = {
      'jobs list (20 jobs, audit trail)': () => JSON.stringify({ query: '{ jobs(first: 20) { edges { cursor node { id title status createdAt updatedAt auditTrail { action actorId occurredAt } } } pageInfo { hasNextPage } } }' }),
      'job by id': (jobId: string) => JSON.stringify({ query: 'query($id: ID!) { job(id: $id) { id title status ownerId } }', variables: { id: jobId } }),
      viewer: () => JSON.stringify({ query: '{ viewer { userId roles } }' }),
    };
    console.log(`request path: ${seconds}s x 2 rounds per server and query, ${concurrency} concurrent keep-alive clients, one process per server`);
    for (const [name, make] of Object.entries(queries)) {
      const rates: Record<string, number[]> = { ours: [], baseline: [] };
      for (let round = 0; round < 2; round++) {
        for (const mode of round % 2 === 0 ? (['baseline', 'ours'] as const) : (['ours', 'baseline'] as const)) {
          const s = servers[mode];
          rates[mode].push(await load(s.url, s.token, make(s.jobId), seconds, concurrency));
        }
      }
      const avg = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
      const o = avg(rates.ours);
      const b = avg(rates.baseline);
      console.log(`  ${name.padEnd(34)} baseline ${b.toFixed(0).padStart(6)} req/s   jobledger ${o.toFixed(0).padStart(6)} req/s   ratio ${(o / b).toFixed(2)}x`);
    }
  } finally {
    for (const s of Object.values(servers)) s.child.kill('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
