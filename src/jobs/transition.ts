import type { AuditActor } from '../audit/event';
import { appendEvent, NOW_MS } from '../audit/trail';
import { prepared, type Prepared, type SqlClient } from '../store/database';
import { isUuid } from '../store/uuid';
import { auditSnapshot, JOB_SUMMARY_COLUMNS, JOB_UPDATED_CHANNEL, jobRowToRecord, jobStream, jobStreamSql, type JobRecord, type JobStatus } from './types';

export interface Change {
  actor: AuditActor;
  action: string;
  reason?: string;
  error?: string;
  result?: unknown;
  workerId?: string;
}

/**
 * A status change as one statement: the row to move is picked and locked by `pick` (a SELECT of
 * id, status and error ... FOR UPDATE), updated, and returned with what it was before, its audit
 * stream's head and a notification queued for commit. With the event's INSERT that is two
 * statements where lock, update, head, insert and notify were five: the worker makes two of
 * these per job.
 *
 * The head is read in the statement's snapshot, which can be older than the lock. It is still
 * the head: every event of a job's stream is appended under the job's row lock together with a
 * status change, and a change committed after the snapshot makes the row fail `pick` or `guard`
 * (re-checked on the locked row), so no row comes back. (The unique key on stream, stream_seq
 * would refuse a stale head anyway.)
 */
function moveSql(pick: string, opts: { guard?: string; document?: boolean } = {}): Prepared {
  const head = (col: string) => `(SELECT e.${col} FROM audit_events e WHERE e.stream = ${jobStreamSql('j.id')} ORDER BY e.stream_seq DESC LIMIT 1)`;
  return prepared(`UPDATE jobs j SET status = $1, updated_at = ${NOW_MS},
       error = COALESCE($2, j.error), result = COALESCE($3::jsonb, j.result),
       attempts = j.attempts + CASE WHEN $1 = 'RUNNING' THEN 1 ELSE 0 END,
       claimed_by = CASE WHEN $1 = 'RUNNING' THEN $4 ELSE j.claimed_by END,
       claimed_at = CASE WHEN $1 = 'RUNNING' THEN now() ELSE j.claimed_at END
     FROM (${pick}) old
     WHERE j.id = old.id${opts.guard ? ` AND ${opts.guard}` : ''}
     RETURNING ${JOB_SUMMARY_COLUMNS.split(', ').map((c) => `j.${c}`).join(', ')}${opts.document ? ', j.urs_document' : ''},
       old.status AS before_status, old.error AS before_error,
       ${head('stream_seq')} AS head_seq, ${head('hash')} AS head_hash,
       pg_notify($5, j.id::text) AS notified`);
}

// Delivered at commit, and only if the transaction commits: subscribers watch status changes.
// (New jobs, which only wake workers, are announced after commit instead: notifier.ts.)
const CLAIM = moveSql(`SELECT id, status, error FROM jobs WHERE status = 'PENDING' ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED`, { document: true });
const MOVE_BY_ID = moveSql('SELECT id, status, error FROM jobs WHERE id = $6 FOR UPDATE', { guard: 'old.status = ANY($7::text[])' });

/** Moves the oldest PENDING job (SKIP LOCKED: several workers share the queue) to RUNNING, with its document. */
export async function claimOldest(tx: SqlClient, change: Change): Promise<JobRecord | null> {
  return move(tx, CLAIM, 'RUNNING', change, []);
}

/** Moves the job to `status` if it is in one of `from` (after waiting for its row lock); null otherwise. */
export async function moveJob(tx: SqlClient, id: string, from: readonly JobStatus[], status: JobStatus, change: Change): Promise<JobRecord | null> {
  if (!isUuid(id)) return null;
  return move(tx, MOVE_BY_ID, status, change, [id, from]);
}

async function move(tx: SqlClient, sql: Prepared, status: JobStatus, change: Change, pickParams: unknown[]): Promise<JobRecord | null> {
  const res = await tx.query<Record<string, unknown> & { before_status: JobStatus; before_error: string | null; head_seq: number | null; head_hash: string | null }>(sql, [
    status,
    change.error ?? null,
    change.result === undefined ? null : JSON.stringify(change.result),
    change.workerId ?? null,
    JOB_UPDATED_CHANNEL,
    ...pickParams,
  ]);
  const row = res.rows[0];
  if (!row) return null;
  const after = jobRowToRecord(row);
  // Title and document never change (the jobs_guard_update trigger), so `before` differs in these two.
  const before = { ...after, status: row.before_status, error: row.before_error };
  await appendEvent(tx, {
    stream: jobStream(after.id),
    mode: 'held',
    head: row.head_hash === null ? null : { streamSeq: Number(row.head_seq), hash: row.head_hash },
    action: change.action,
    occurredAt: after.updatedAt,
    actor: change.actor,
    jobId: after.id,
    reason: change.reason ?? null,
    before: auditSnapshot(before),
    after: { ...auditSnapshot(after), ...(status === 'COMPLETED' ? { testCaseCount: countTestCases(after.result) } : {}) },
  });
  return after;
}

const countTestCases = (result: unknown): number | null =>
  Array.isArray((result as { testCases?: unknown[] } | null)?.testCases) ? (result as { testCases: unknown[] }).testCases.length : null;
