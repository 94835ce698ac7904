import type { SqlClient } from '../store/database';

export interface QueueStats {
  pending: number;
  running: number;
  /** Seconds since the oldest PENDING job was created; null when none waits. */
  oldestPendingAgeSeconds: number | null;
}

/** The job queue at this moment: three index reads (the pending queue and the status index). */
export async function queueStats(db: SqlClient): Promise<QueueStats> {
  const res = await db.query<{ pending: number; running: number; oldest: number | null }>(
    `SELECT (SELECT count(*)::int FROM jobs WHERE status = 'PENDING') AS pending,
            (SELECT count(*)::int FROM jobs WHERE status = 'RUNNING') AS running,
            (SELECT extract(epoch FROM now() - created_at)::float8 FROM jobs WHERE status = 'PENDING' ORDER BY seq LIMIT 1) AS oldest`,
  );
  const row = res.rows[0];
  return { pending: row.pending, running: row.running, oldestPendingAgeSeconds: row.oldest === null ? null : Math.max(0, row.oldest) };
}
