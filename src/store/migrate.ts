import fs from 'node:fs';
import path from 'node:path';
import type { Database } from './database';

export const MIGRATIONS_DIR = path.join(__dirname, 'migrations');
// Any fixed 64-bit number: every jobledger instance takes the same advisory lock, so
// instances starting together apply migrations one at a time.
const MIGRATION_LOCK = 7_305_162_874_113;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export function readMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return fs
    .readdirSync(dir)
    .filter((f) => /^\d{4}_[\w-]+\.sql$/.test(f))
    .sort()
    .map((f) => ({ version: Number(f.slice(0, 4)), name: f, sql: fs.readFileSync(path.join(dir, f), 'utf8') }));
}

export class MigrationError extends Error {
  constructor(readonly migration: string, cause: unknown) {
    super(`Migration ${migration} failed: ${(cause as Error)?.message ?? String(cause)}`);
    this.name = 'MigrationError';
  }
}

/**
 * Applies every migration not yet recorded, each in its own transaction, under a
 * transaction-scoped advisory lock. Returns the names applied.
 */
export async function migrate(db: Database, migrations = readMigrations()): Promise<string[]> {
  const applied: string[] = [];
  await db.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`).catch(
    async (err) => {
      // Two instances may race on CREATE TABLE IF NOT EXISTS; the loser sees a unique violation.
      if (!String(err?.message).includes('already exists') && err?.code !== '23505') throw err;
    },
  );
  for (const m of migrations) {
    await db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      const done = await tx.query('SELECT 1 FROM schema_migrations WHERE version = $1', [m.version]);
      if (done.rowCount > 0) return;
      try {
        await tx.exec(m.sql);
      } catch (err) {
        throw new MigrationError(m.name, err);
      }
      await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      applied.push(m.name);
    });
  }
  return applied;
}
