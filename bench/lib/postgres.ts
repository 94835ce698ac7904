import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrate } from '../../src/store/migrate';
import { openPostgres } from '../../src/store/postgres';

/** The PostgreSQL server benches use: BENCH_DATABASE_URL, TEST_DATABASE_URL, else the local service. */
export const SERVER_URL = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Runs one statement on the server's maintenance database (CREATE / DROP DATABASE). */
export async function admin(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: SERVER_URL, connectionTimeoutMillis: 3000 });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/**
 * Runs `fn` against a new, migrated database that is dropped afterwards (also on Ctrl-C).
 * Without a reachable PostgreSQL it says so and returns: a bench is not a test that can fail.
 */
export async function withBenchDatabase(label: string, fn: (url: string) => Promise<void>): Promise<void> {
  const host = new URL(SERVER_URL).host;
  try {
    await admin('SELECT 1');
  } catch (err) {
    console.log(`${label}: skipped, PostgreSQL at ${host} is unreachable (${(err as Error).message}). Set BENCH_DATABASE_URL or start the service.`);
    return;
  }
  const name = `jobledger_bench_${randomBytes(5).toString('hex')}`;
  const u = new URL(SERVER_URL);
  u.pathname = `/${name}`;
  const drop = () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  const onSigint = () => void drop().finally(() => process.exit(130));
  process.once('SIGINT', onSigint);
  await admin(`CREATE DATABASE ${name}`);
  try {
    const db = await openPostgres(u.toString(), { max: 1 });
    try {
      await migrate(db);
      const version = await db.query<{ v: string }>("SELECT current_setting('server_version') AS v");
      console.log(`${label}: PostgreSQL ${version.rows[0].v} at ${host}, database ${name}`);
    } finally {
      await db.close();
    }
    await fn(u.toString());
  } finally {
    process.off('SIGINT', onSigint);
    await drop();
  }
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export const elapsedMs = (since: bigint): number => Number(process.hrtime.bigint() - since) / 1e6;

/** A fixed-width table, because bench output is read in a terminal and pasted into notes. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
