import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Database } from '../../src/store/database';
import { migrate, readMigrations } from '../../src/store/migrate';
import { openPglite } from '../../src/store/pglite';
import { openPostgres } from '../../src/store/postgres';

/** The PostgreSQL server tests use: TEST_DATABASE_URL, else the local service. */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

let availability: Promise<string | null> | undefined;

/** Null when PostgreSQL is reachable, else why not (printed by the tests that skip). */
export function postgresUnavailableReason(): Promise<string | null> {
  availability ??= (async () => {
    const c = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 3000 });
    try {
      await c.connect();
      await c.query('SELECT 1');
      return null;
    } catch (err) {
      return `PostgreSQL at ${new URL(TEST_DATABASE_URL).host} is unreachable (${(err as Error).message}); set TEST_DATABASE_URL or start the service`;
    } finally {
      await c.end().catch(() => undefined);
    }
  })();
  return availability;
}

function urlFor(dbName: string): string {
  const u = new URL(TEST_DATABASE_URL);
  u.pathname = `/${dbName}`;
  return u.toString();
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/**
 * A migrated template per migration set (named by their hash), created once and reused:
 * CREATE DATABASE ... TEMPLATE copies it in milliseconds, so every test file gets a fresh,
 * migrated database of its own.
 */
async function ensureTemplate(): Promise<string> {
  const hash = createHash('sha256').update(readMigrations().map((m) => m.name + m.sql).join('\n')).digest('hex').slice(0, 12);
  const name = `jobledger_tpl_${hash}`;
  await admin(async (c) => {
    await c.query('SELECT pg_advisory_lock(4242001)');
    try {
      const exists = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
      if (exists.rowCount) return;
      const building = `${name}_building`;
      await c.query(`DROP DATABASE IF EXISTS ${building}`);
      await c.query(`CREATE DATABASE ${building}`);
      const db = await openPostgres(urlFor(building), { max: 1 });
      try {
        await migrate(db);
      } finally {
        await db.close();
      }
      await c.query(`ALTER DATABASE ${building} RENAME TO ${name}`);
      // Templates of older migration sets are dead weight on a developer's server.
      const stale = await c.query<{ datname: string }>(
        "SELECT datname FROM pg_database WHERE datname LIKE 'jobledger\\_tpl\\_%' AND datname NOT LIKE '%\\_building' AND datname <> $1",
        [name],
      );
      for (const { datname } of stale.rows) await c.query(`DROP DATABASE IF EXISTS ${datname}`).catch(() => undefined);
    } finally {
      await c.query('SELECT pg_advisory_unlock(4242001)');
    }
  });
  return name;
}

export interface FreshPostgres {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** A new database with a random name, migrated, dropped by `drop()`. */
export async function createFreshPostgres(): Promise<FreshPostgres> {
  const template = await ensureTemplate();
  const name = `jobledger_test_${randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name} TEMPLATE ${template}`));
  return {
    url: urlFor(name),
    name,
    drop: () => admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}

export interface StoreUnderTest {
  kind: 'pglite' | 'postgres';
  db: Database;
  /** For PostgreSQL, the URL of this test's database (other processes can join it). */
  url?: string;
  close(): Promise<void>;
}

export async function openStore(kind: 'pglite' | 'postgres'): Promise<StoreUnderTest> {
  if (kind === 'pglite') {
    const db = await openPglite(undefined);
    await migrate(db);
    return { kind, db, close: () => db.close() };
  }
  const fresh = await createFreshPostgres();
  const db = await openPostgres(fresh.url, { max: 12 });
  return {
    kind,
    db,
    url: fresh.url,
    async close() {
      await db.close();
      await fresh.drop();
    },
  };
}
