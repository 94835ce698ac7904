/**
 * Audit trail verify and export throughput at 100k and 1M events (PostgreSQL), or 20k and 100k
 * on embedded PGlite when PostgreSQL is unreachable (said so in the output).
 * Each measured phase runs in a child process, so its peak RSS is its own. The database verify
 * runs three ways, to compare: the default (binary COPY, checked on the bytes in Node, with worker
 * threads), the column comparison done in SQL (PGlite's way), and every column read through the
 * driver and compared in Node (the path the other two fall back to for a batch they cannot vouch for).
 * At 100k, "same, COPY from memory" replays the COPY output recorded by an earlier run: Node's
 * side alone, with the database not competing for the CPUs.
 * Each verify phase runs BENCH_RUNS times (default 3); the median run is shown, with every run's rate.
 * Usage: npx tsx bench/auditVerify.ts
 *   BENCH_DATABASE_URL (else TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/postgres) names the server;
 *   a fresh database with a random name is created there and dropped at the end.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createCheckpoint } from '../src/audit/checkpoint/create';
import { signerFromPem } from '../src/audit/checkpoint/key';
import { exportAuditTrail } from '../src/audit/export/write';
import { databaseSource } from '../src/audit/verify/databaseSource';
import type { AuditSource } from '../src/audit/verify/types';
import { exportDirectorySource } from '../src/audit/export/source';
import { verifyAuditTrail } from '../src/audit/verify/verify';
import type { Database } from '../src/store/database';
import { migrate } from '../src/store/migrate';
import { openPglite } from '../src/store/pglite';
import { openPostgres } from '../src/store/postgres';
import { TrailSeeder } from './auditSeed';
import { admin, SERVER_URL } from './lib/postgres';

const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 3));
const SERVER = SERVER_URL;
type Target = { kind: 'postgres'; url: string } | { kind: 'pglite'; dir: string };
const open = (t: Target): Promise<Database> => (t.kind === 'postgres' ? openPostgres(t.url, { max: 2 }) : openPglite(t.dir));
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

interface PhaseResult {
  events: number;
  seconds: number;
  maxRssMb: number;
  /** CPU time of this process (user + system), per event: what Node spends; the rest is the database's. */
  cpuUsPerEvent: number;
  /** CPU time of this phase's PostgreSQL backends per event, when they run on this host (read from /proc). */
  dbCpuUsPerEvent?: number;
  ok: boolean;
  files?: number;
  bytes?: number;
  note?: string;
}

/** Child side: one phase, one JSON line on stdout. */
async function child(phase: string, target: Target, out: string, keyPem: string): Promise<void> {
  const signer = signerFromPem(keyPem);
  // Up to six batches are read side by side on six connections; another serves the boundary probes.
  // Named, so that this phase's backends can be found (and their CPU time read) afterwards.
  const appName = `jobledger-bench-${process.pid}`;
  const url = target.kind === 'postgres' ? `${target.url}?application_name=${appName}` : '';
  const db = phase === 'verify-file' ? null : target.kind === 'postgres' ? await openPostgres(url, { max: 8 }) : await open(target);
  let verifyDb: Database | null = db;
  if (phase === 'verify-db-replay') {
    // Node's side alone: one verify records every COPY's output, the measured one is served from
    // memory (the boundary probes still go to the database; they read only the index).
    const recorded = new Map<string, Buffer>();
    const recording: Database = { ...db!, copyOut: async (sql, o) => (recorded.set(sql, Buffer.from(await db!.copyOut!(sql, o))), recorded.get(sql)!) };
    await verifyAuditTrail(databaseSource(recording, { columns: 'copy', workers: 0 }));
    verifyDb = {
      ...db!,
      copyOut: async (sql, o) => {
        const b = recorded.get(sql)!;
        const into = o?.into && o.into.length >= b.length ? o.into : Buffer.from(new SharedArrayBuffer(b.length));
        into.set(b);
        return into.subarray(0, b.length);
      },
    };
  }
  const dbCpu0 = await backendCpuUs(db, appName);
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  let result: Omit<PhaseResult, 'seconds' | 'maxRssMb' | 'cpuUsPerEvent'>;
  if (phase === 'export') {
    const m = await exportAuditTrail(db!, { outDir: out, publicKey: { keyId: signer.keyId, pem: signer.publicKeyPem } });
    const bytes = m.files.reduce((s, f) => s + fs.statSync(path.join(out, f.name)).size, 0);
    result = { events: m.covered.events, ok: true, files: m.files.length, bytes };
  } else {
    const columns = (
      { 'verify-db': target.kind === 'postgres' ? 'copy' : 'sql', 'verify-db-replay': 'copy', 'verify-db-sql': 'sql', 'verify-db-node': 'node' } as const
    )[phase as 'verify-db'];
    const fromDb = columns ? databaseSource(verifyDb!, { columns }) : null;
    const source: AuditSource = fromDb ?? exportDirectorySource(out);
    const r = await verifyAuditTrail(source, { publicKeyPem: signer.publicKeyPem });
    if (!r.ok) console.error(r.findings.slice(0, 3));
    const s = fromDb?.stats;
    result = { events: r.events, ok: r.ok, note: s ? `checked from COPY ${s.checkedInCopy}, in SQL ${s.checkedInSql}, through the driver ${s.checkedInNode}` : undefined };
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const dbCpu = await backendCpuUs(db, appName);
  await db?.close();
  const maxRssMb = process.resourceUsage().maxRSS / 1024;
  const cpuUsPerEvent = (cpu.user + cpu.system) / Math.max(1, result.events);
  const dbCpuUsPerEvent = dbCpu !== null && dbCpu0 !== null ? (dbCpu - dbCpu0) / Math.max(1, result.events) : undefined;
  process.stdout.write(JSON.stringify({ ...result, seconds, maxRssMb, cpuUsPerEvent, dbCpuUsPerEvent }) + '\n');
}

/**
 * User + system CPU time (µs) of the PostgreSQL backends named `appName`, from /proc: only when
 * the server runs on this host (null otherwise). Backends that have not connected yet count 0.
 */
async function backendCpuUs(db: Database | null, appName: string): Promise<number | null> {
  if (!db || db.kind !== 'postgres') return null;
  const pids = (await db.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [appName])).rows;
  const ticksPerSecond = 100; // USER_HZ: 100 on Linux
  let total = 0;
  for (const { pid } of pids) {
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return null; // not on this host, or not readable
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    total += (Number(fields[11]) + Number(fields[12])) * (1e6 / ticksPerSecond); // utime, stime
  }
  return total;
}

function runPhase(phase: string, target: Target, out: string, keyPem: string): Promise<PhaseResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', __filename, '--phase', phase, JSON.stringify(target), out], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    p.stdin.end(keyPem);
    let text = '';
    p.stdout.on('data', (c) => (text += c));
    p.on('exit', (code) => (code === 0 ? resolve(JSON.parse(text.trim().split('\n').pop()!)) : reject(new Error(`${phase} exited ${code}`))));
  });
}


async function main(): Promise<void> {
  const { privateKey } = await import('node:crypto').then((c) => c.generateKeyPairSync('ed25519'));
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const signer = signerFromPem(keyPem);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'jobledger-auditbench-'));
  let target: Target;
  let sizes: number[];
  let cleanup = async () => undefined as void;
  try {
    await admin('SELECT 1');
    const name = `jobledger_bench_${randomBytes(5).toString('hex')}`;
    await admin(`CREATE DATABASE ${name}`);
    const u = new URL(SERVER);
    u.pathname = `/${name}`;
    target = { kind: 'postgres', url: u.toString() };
    sizes = [100_000, 1_000_000];
    cleanup = () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    console.log(`audit verify bench: PostgreSQL at ${u.host}, fresh database ${name} (dropped at the end)`);
  } catch (err) {
    target = { kind: 'pglite', dir: path.join(tmp, 'pglite') };
    sizes = [20_000, 100_000];
    console.log(`audit verify bench: PostgreSQL at ${new URL(SERVER).host} is unreachable (${(err as Error).message});`);
    console.log('  falling back to embedded PGlite with 20k and 100k events (PGlite is far slower; not comparable).');
  }
  console.log(`  node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model.trim()})`);
  process.once('SIGINT', () => void cleanup().finally(() => process.exit(130)));
  try {
    const seeder = new TrailSeeder();
    let total = 0;
    for (const size of sizes) {
      let db = await open(target);
      if (total === 0) await migrate(db);
      const t0 = Date.now();
      // Grow in steps, sealing every 50k events as a running checkpointer would.
      let sealS = 0;
      for (let step = total; step < size; ) {
        const n = Math.min(50_000, size - step);
        await seeder.seed(db, n);
        step += n;
        const c0 = Date.now();
        await createCheckpoint(db, signer);
        sealS += (Date.now() - c0) / 1000;
      }
      const seedS = (Date.now() - t0) / 1000 - sealS;
      // A live table is vacuumed by autovacuum; without this the first full read of freshly
      // bulk-loaded rows also pays for setting their hint bits, which is a loading artefact.
      if (target.kind === 'postgres') await db.query('VACUUM ANALYZE audit_events');
      // Write the loaded pages out now, not during the first measured phase (needs superuser or
      // pg_checkpoint; without it the first phase may pay for the flush).
      if (target.kind === 'postgres') await db.query('CHECKPOINT').catch(() => console.log('  (CHECKPOINT not allowed: the first phase may share the CPUs with the flush)'));
      const added = size - total;
      total = size;
      await db.close();
      console.log(`\n${fmt(size)} events: seeded ${fmt(added)} in ${seedS.toFixed(1)} s; checkpoints sealed them in ${sealS.toFixed(2)} s (${fmt(added / sealS)} events/s)`);
      const out = path.join(tmp, `export-${size}`);
      // The replay holds every COPY output in memory (~1 KB an event): at the smaller size only.
      const replay = target.kind === 'postgres' && size === sizes[0] ? ['verify-db-replay'] : [];
      for (const phase of ['verify-db', ...replay, 'verify-db-sql', 'verify-db-node', 'export', 'verify-file']) {
        // Verify phases run RUNS times (the VM is shared and noisy): the median run is shown, with all of them.
        const runs: PhaseResult[] = [];
        for (let i = 0; i < (phase === 'export' ? 1 : RUNS); i++) runs.push(await runPhase(phase, target, out, keyPem));
        const rate = (x: PhaseResult) => x.events / x.seconds;
        const r = [...runs].sort((a, b) => rate(a) - rate(b))[Math.floor(runs.length / 2)];
        const extra = r.files ? `, ${r.files} day files, ${(r.bytes! / 1e6).toFixed(0)} MB` : '';
        const label = {
          'verify-db': 'verify (database, COPY)',
          'verify-db-replay': '  same, COPY from memory',
          'verify-db-sql': 'verify (columns in SQL)',
          'verify-db-node': 'verify (through driver)',
          export: 'export',
          'verify-file': 'verify --file (export)',
        }[phase];
        console.log(
          `  ${label!.padEnd(24)} ${fmt(r.events / r.seconds).padStart(9)} events/s  (${r.seconds.toFixed(2)} s, ` +
            `Node CPU ${r.cpuUsPerEvent.toFixed(1)} µs/event${r.dbCpuUsPerEvent === undefined ? '' : `, database CPU ${r.dbCpuUsPerEvent.toFixed(1)} µs/event`}, peak RSS ${fmt(r.maxRssMb)} MB${extra})${r.ok ? '' : '  NOT INTACT'}`,
        );
        if (runs.length > 1) console.log(`${''.padEnd(27)}median of ${runs.length} runs: ${runs.map((x) => fmt(rate(x))).join(' / ')} events/s`);
        if (r.note) console.log(`${''.padEnd(27)}${r.note}`);
      }
      db = await open(target);
      await db.close();
    }
  } finally {
    await cleanup();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--phase') {
  const [phase, target, out] = process.argv.slice(3);
  let key = '';
  process.stdin.on('data', (c) => (key += c));
  process.stdin.on('end', () => void child(phase, JSON.parse(target), out, key).catch((err) => {
    console.error(err);
    process.exit(1);
  }));
} else {
  void main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
