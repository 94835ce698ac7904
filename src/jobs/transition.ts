import { appendEvent, NOW_MS } from '../audit/trail';
import type { AuditActor } from '../audit/event';
import type { SqlClient } from '../store/database';
import { isUuid } from '../store/uuid';
import { auditSnapshot, JOB_SUMMARY_COLUMNS, JOB_UPDATED_CHANNEL, jobRowToRecord, jobStream, type JobRecord, type JobStatus } from './types';

/**
 * Moves a locked job to `status` and appends its audit event (before/after) in the caller's
 * transaction; subscribers are notified at commit.
 */
export async function transition(
  tx: SqlClient,
  before: JobRecord,
  status: JobStatus,
  change: { actor: AuditActor; action: string; reason?: string; error?: string; result?: unknown; workerId?: string },
): Promise<JobRecord> {
  const res = await tx.query(
    `UPDATE jobs SET status = $2, updated_at = ${NOW_MS},
       error = COALESCE($3, error), result = COALESCE($4::jsonb, result),
       attempts = attempts + CASE WHEN $2 = 'RUNNING' THEN 1 ELSE 0 END,
       claimed_by = CASE WHEN $2 = 'RUNNING' THEN $5 ELSE claimed_by END,
       claimed_at = CASE WHEN $2 = 'RUNNING' THEN now() ELSE claimed_at END
     WHERE id = $1 RETURNING ${JOB_SUMMARY_COLUMNS}`,
    [before.id, status, change.error ?? null, change.result === undefined ? null : JSON.stringify(change.result), change.workerId ?? null],
  );
  const after = jobRowToRecord(res.rows[0]);
  await appendEvent(tx, {
    stream: jobStream(before.id),
    mode: 'held',
    action: change.action,
    occurredAt: after.updatedAt,
    actor: change.actor,
    jobId: before.id,
    reason: change.reason ?? null,
    before: auditSnapshot(before),
    after: { ...auditSnapshot(after), ...(status === 'COMPLETED' ? { testCaseCount: countTestCases(after.result) } : {}) },
  });
  await notify(tx, before.id);
  return after;
}

const countTestCases = (result: unknown): number | null =>
  Array.isArray((result as { testCases?: unknown[] } | null)?.testCases) ? (result as { testCases: unknown[] }).testCases.length : null;

/** The job, row-locked for the rest of the transaction; null for an unknown or malformed id. */
export async function lockJob(tx: SqlClient, id: string): Promise<JobRecord | null> {
  if (!isUuid(id)) return null;
  const res = await tx.query(`SELECT ${JOB_SUMMARY_COLUMNS} FROM jobs WHERE id = $1 FOR UPDATE`, [id]);
  return res.rows[0] ? jobRowToRecord(res.rows[0]) : null;
}

async function notify(tx: SqlClient, jobId: string): Promise<void> {
  // Delivered at commit, and only if the transaction commits. Status changes, which subscribers
  // watch, notify here; new jobs, which only wake workers, are announced after commit (notifier.ts).
  await tx.query('SELECT pg_notify($1, $2)', [JOB_UPDATED_CHANNEL, jobId]);
}
