import path from 'node:path';
import type { Config } from '../config';
import type { Logger } from '../log';
import type { Database } from './database';
import { migrate } from './migrate';

/** Opens the configured database (PostgreSQL when DATABASE_URL is set, else PGlite in DATA_DIR). */
type StoreConfig = Pick<Config, 'databaseUrl' | 'dataDir'> & Partial<Pick<Config, 'databasePreparedStatements'>>;

export async function openDatabase(config: StoreConfig, log?: Logger): Promise<Database> {
  // Only the driver in use is loaded (node-postgres, or the embedded store's thread client).
  if (config.databaseUrl) {
    const { openPostgres } = require('./postgres') as typeof import('./postgres');
    try {
      const db = await openPostgres(config.databaseUrl, {
        preparedStatements: config.databasePreparedStatements,
        onError: (err) => log?.error('database connection error', { error: err.message }),
      });
      db.watchListen((s) => {
        if (s.connected) log?.warn('LISTEN connection restored', { reconnects: s.reconnects });
      });
      return db;
    } catch (err) {
      throw new Error(
        `Cannot connect to PostgreSQL at DATABASE_URL (${describeUrl(config.databaseUrl)}): ${(err as Error).message}. ` +
          'Check that the server is running and the URL is right, or unset DATABASE_URL to use the embedded store.',
      );
    }
  }
  const { openPglite } = require('./pglite') as typeof import('./pglite');
  return openPglite(path.join(config.dataDir, 'pglite'), {
    onLockLost: (err) => log?.error('the embedded store lock was lost: another process may open DATA_DIR now', { error: err.message }),
  });
}

export async function openMigratedDatabase(config: StoreConfig, log?: Logger): Promise<Database> {
  const db = await openDatabase(config, log);
  try {
    const applied = await migrate(db);
    if (applied.length) log?.info('migrations applied', { applied });
  } catch (err) {
    await db.close().catch(() => undefined);
    throw err;
  }
  return db;
}

function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || 5432}${u.pathname}`; // never the password
  } catch {
    return 'unparseable URL';
  }
}
