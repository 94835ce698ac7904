import { randomUUID } from 'node:crypto';
import { sqlStateOf, type SqlClient } from '../store/database';

/**
 * The trail's identity (migration 0007): what tags its entries in the external checkpoint journal.
 * Created with the first checkpoint; null before it (nothing has been journaled then).
 */
export async function trailIdOf(db: SqlClient): Promise<string | null> {
  try {
    const res = await db.query<{ id: string }>('SELECT id::text AS id FROM audit_trail');
    return res.rows[0]?.id ?? null;
  } catch (err) {
    // verify does not migrate: a database from before identities has no such table.
    if (sqlStateOf(err) === '42P01') return null;
    throw err;
  }
}

/** The trail's identity, created now if it has none (two instances racing agree on the winner's). */
export async function ensureTrailId(db: SqlClient): Promise<string> {
  const existing = await trailIdOf(db);
  if (existing) return existing;
  await db.query('INSERT INTO audit_trail (id) VALUES ($1) ON CONFLICT (one_row) DO NOTHING', [randomUUID()]);
  return (await trailIdOf(db))!;
}
