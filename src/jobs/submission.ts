import type { SqlClient } from '../store/database';
import { AppError, badInput, conflict, ErrorCode } from '../errors';
import { JOB_SUMMARY_COLUMNS, jobRowToRecord, type JobRecord } from './types';

// A new job as a client submits it: what is accepted, and how a retried submission finds the
// job its first attempt created.

export const LIMITS = {
  titleChars: 200,
  documentBytes: 1024 * 1024,
  reasonChars: 1000,
  idempotencyKeyChars: 200,
};
/** Idempotency keys are honoured for 24 hours (as Stripe does); after that the key may be reused. */
export const IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60;

export interface CreateJobInput {
  title: string;
  ursDocument: string;
  idempotencyKey?: string | null;
}

/** The input, trimmed and checked; each refusal names its field. */
export function validateCreate(input: CreateJobInput): Required<CreateJobInput> {
  const title = input.title.trim();
  if (title.length === 0 || title.length > LIMITS.titleChars) {
    throw badInput(`title must be 1 to ${LIMITS.titleChars} characters.`, 'title');
  }
  if (input.ursDocument.trim().length === 0) throw badInput('ursDocument must not be empty: paste the URS text.', 'ursDocument');
  if (Buffer.byteLength(input.ursDocument) > LIMITS.documentBytes) {
    throw badInput(`ursDocument must be at most ${LIMITS.documentBytes} bytes (1 MiB). Split the document into several jobs.`, 'ursDocument');
  }
  // Each check names its own field, so a client can point at the right form control.
  if (/\u0000/.test(title)) throw badInput('title must be plain text without NUL characters.', 'title');
  if (/\u0000/.test(input.ursDocument)) {
    throw badInput('ursDocument must be plain text without NUL characters: remove them and submit again.', 'ursDocument');
  }
  const key = input.idempotencyKey ?? null;
  if (key !== null && (key.length === 0 || key.length > LIMITS.idempotencyKeyChars || /[\u0000-\u001f]/.test(key))) {
    throw badInput(`idempotencyKey must be 1 to ${LIMITS.idempotencyKeyChars} printable characters (a UUID works well).`, 'idempotencyKey');
  }
  return { title, ursDocument: input.ursDocument, idempotencyKey: key };
}

/**
 * Reserves (owner, key) for a new job, or returns the job an earlier request with the same key
 * created. A concurrent request with the same key waits on the row lock and then sees it.
 */
export async function claimIdempotencyKey(tx: SqlClient, ownerId: string, key: string, requestHash: string, newJobId: string): Promise<JobRecord | null> {
  const ins = await tx.query(
    `INSERT INTO idempotency_keys (owner_id, key, request_hash, job_id, created_at, expires_at)
     VALUES ($1, $2, $3, $4, now(), now() + make_interval(secs => $5))
     ON CONFLICT (owner_id, key) DO UPDATE SET request_hash = EXCLUDED.request_hash, job_id = EXCLUDED.job_id,
       created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
       WHERE idempotency_keys.expires_at <= now()
     RETURNING job_id`,
    [ownerId, key, requestHash, newJobId, IDEMPOTENCY_TTL_SECONDS],
  );
  if (ins.rowCount > 0) return null;
  const prior = await tx.query<{ request_hash: string; job_id: string }>(
    'SELECT request_hash, job_id FROM idempotency_keys WHERE owner_id = $1 AND key = $2',
    [ownerId, key],
  );
  const row = prior.rows[0];
  if (!row) throw new AppError(ErrorCode.CONFLICT, 'This idempotency key is being used by a concurrent request. Retry.');
  if (row.request_hash !== requestHash) {
    throw conflict('This idempotencyKey was already used with a different title or document. Use a new key for a new job.');
  }
  const job = await tx.query(`SELECT ${JOB_SUMMARY_COLUMNS} FROM jobs WHERE id = $1`, [row.job_id]);
  return jobRowToRecord(job.rows[0]);
}
