import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { migrate, MigrationError, readMigrations, type Migration } from '../src/store/migrate';
import { openPostgres } from '../src/store/postgres';
import { JobsService } from '../src/jobs/service';
import { createFreshPostgres } from './helpers/databases';
import { createEmptyPostgres, killAllChildren, runCommand, spawnServer } from './helpers/processes';
import { describeStore } from './helpers/stores';

// Inserts a row each time it runs: a second application would show as a second row.
const PROBE: Migration = { version: 9001, name: '9001_probe.sql', sql: 'CREATE TABLE IF NOT EXISTS probe (n int); INSERT INTO probe VALUES (1);' };
const PASSWORD = 'Sup3r-Secret-Pw';

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobledger-startup-'));
const drops: (() => Promise<void>)[] = [];
const emptyDb = async () => {
  const fresh = await createEmptyPostgres();
  drops.push(fresh.drop);
  return fresh.url;
};
const countOf = async (url: string, sql: string): Promise<number> => {
  const db = await openPostgres(url, { max: 1 });
  try {
    return (await db.query<{ n: number }>(sql)).rows[0].n;
  } finally {
    await db.close();
  }
};
const appliedIn = (output: string): string[] => /Applied: (.*)/.exec(output)?.[1].split(', ') ?? [];

describeStore('postgres', () => {
  afterAll(async () => {
    killAllChildren();
    for (const drop of drops) await drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  // Read per test: the migration set is whatever is on disk when the child processes start.
  let REAL: Migration[];
  beforeEach(() => {
    REAL = readMigrations();
  });

  test('five connections migrating one empty database at once all succeed and apply each migration once', async () => {
    // Three rounds, because the race on creating schema_migrations only sometimes happens.
    for (let round = 0; round < 3; round++) {
      const url = await emptyDb();
      const dbs = await Promise.all(Array.from({ length: 5 }, () => openPostgres(url, { max: 1 })));
      try {
        const results = await Promise.all(dbs.map((db) => migrate(db, [...REAL, PROBE])));
        expect(results.flat().sort()).toEqual([...REAL, PROBE].map((m) => m.name).sort());
        expect(await countOf(url, 'SELECT count(*)::int AS n FROM probe')).toBe(1);
        expect(await countOf(url, 'SELECT count(*)::int AS n FROM schema_migrations')).toBe(REAL.length + 1);
      } finally {
        await Promise.all(dbs.map((db) => db.close()));
      }
    }
  }, 60_000);

  test('three `migrate` processes started together share the work; a fourth finds nothing to do', async () => {
    const url = await emptyDb();
    const runs = await Promise.all(Array.from({ length: 3 }, () => runCommand(['migrate'], { DATABASE_URL: url, DATA_DIR: dataDir })));
    for (const r of runs) expect({ code: r.code, output: r.output }).toEqual({ code: 0, output: expect.stringMatching(/Applied: |Database is up to date\./) });
    expect(runs.flatMap((r) => appliedIn(r.output)).sort()).toEqual(REAL.map((m) => m.name).sort());
    expect(await countOf(url, 'SELECT count(*)::int AS n FROM schema_migrations')).toBe(REAL.length);
    const again = await runCommand(['migrate'], { DATABASE_URL: url, DATA_DIR: dataDir });
    expect(again.code).toBe(0);
    expect(again.output).toContain('Database is up to date.');
  }, 60_000);

  test('an unreachable DATABASE_URL stops `serve` and `migrate` with a message naming it, never the password', async () => {
    const env = { DATABASE_URL: `postgres://jobledger:${PASSWORD}@127.0.0.1:1/jobledger`, DATA_DIR: dataDir };
    const serve = await spawnServer(env).then(
      (s) => s.kill('SIGKILL').then(() => 'it started'),
      (err: Error) => err.message,
    );
    expect(serve).toMatch(/server exited \(1\) before listening/);
    expect(serve).toContain('DATABASE_URL');
    expect(serve).toContain('127.0.0.1:1');
    expect(serve).not.toContain(PASSWORD);
    const mig = await runCommand(['migrate'], env);
    expect(mig.code).toBe(1);
    expect(mig.output).toContain('DATABASE_URL');
    expect(mig.output).not.toContain(PASSWORD);
  }, 60_000);

  test('a failing migration is reported by name, rolled back entirely, and applies once fixed', async () => {
    const url = await emptyDb();
    const db = await openPostgres(url, { max: 2 });
    try {
      const broken: Migration = { version: 9002, name: '9002_broken.sql', sql: 'CREATE TABLE half_done (id int); SELECT 1/0;' };
      const err = await migrate(db, [...REAL, broken]).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(MigrationError);
      expect((err as MigrationError).migration).toBe('9002_broken.sql');
      expect((err as Error).message).toMatch(/9002_broken\.sql.*division by zero/);
      // Nothing of the failed migration remains, and the ones before it stay applied.
      expect((await db.query("SELECT to_regclass('half_done') AS t")).rows[0].t).toBeNull();
      const versions = (await db.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version')).rows.map((r) => r.version);
      expect(versions).toEqual(REAL.map((m) => m.version));
      const fixed = await migrate(db, [...REAL, { ...broken, sql: 'CREATE TABLE half_done (id int);' }]);
      expect(fixed).toEqual(['9002_broken.sql']);
    } finally {
      await db.close();
    }
  }, 60_000);

  test('`serve` on a database a migration cannot apply to exits non-zero naming the migration', async () => {
    const url = await emptyDb();
    // A password in the URL (trust authentication ignores a made-up one) must not reach the output.
    const u = new URL(url);
    u.password ||= PASSWORD;
    const secret = decodeURIComponent(u.password);
    const db = await openPostgres(url, { max: 1 });
    await db.query('CREATE TABLE jobs (something_else int)'); // a stray table from another application
    await db.close();
    const message = await spawnServer({ DATABASE_URL: u.toString(), DATA_DIR: dataDir }).then(
      (s) => s.kill('SIGKILL').then(() => 'it started'),
      (err: Error) => err.message,
    );
    expect(message).toMatch(/server exited \(1\) before listening/);
    expect(message).toContain(`Migration ${REAL[0].name} failed`);
    expect(message).toContain('already exists');
    expect(message).not.toContain(secret);
    expect(await countOf(url, "SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'audit_events'")).toBe(0);
  }, 60_000);

  test.each([
    [true, 'kept prepared on the connection'],
    [false, 'parsed and planned each time'],
  ])('preparedStatements %s: the frequent statements are %s, with the same results', async (preparedStatements) => {
    const fresh = await createFreshPostgres();
    drops.push(fresh.drop);
    // One connection, so the statements the service ran and the catalog query share a session.
    const db = await openPostgres(fresh.url, { max: 1, preparedStatements });
    try {
      const jobs = new JobsService(db);
      const created = await jobs.create({ actorId: 'user_p', actorEmail: null, sessionId: null, tokenIssuedAt: null, impersonatorId: null, requestId: null, ip: null, userAgent: null }, { title: 'p', ursDocument: 'URS-001 x' });
      for (let i = 0; i < 3; i++) expect((await jobs.list({ ownerId: 'user_p', first: 5 })).edges.map((e) => e.node.id)).toEqual([created.id]);
      const kept = await db.query<{ name: string }>("SELECT name FROM pg_prepared_statements WHERE name LIKE 'jl\\_%'");
      if (preparedStatements) expect(kept.rows.length).toBeGreaterThanOrEqual(3); // the jobs INSERT, the event INSERT, the list
      else expect(kept.rows).toEqual([]);
    } finally {
      await db.close();
    }
  });
});
