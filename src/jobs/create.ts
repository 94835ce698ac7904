import { createHash } from 'node:crypto';
import { AuditAction, type AuditActor } from '../audit/event';
import { appendFirstEvents, NOW_MS } from '../audit/trail';
import { AppError, badInput, conflict, ErrorCode } from '../errors';
import { prepared, type Database, type SqlClient } from '../store/database';
import { auditSnapshot, JOB_SUMMARY_COLUMNS, jobRowToRecord, jobStream, type JobRecord } from './types';

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

/** A validated job about to be inserted; its id is chosen before the insert. */
export interface NewJob {
  id: string;
  actor: AuditActor;
  title: string;
  ursDocument: string;
  idempotencyKey: string | null;
}


const insertJobsSql = (rows: number) =>
  `INSERT INTO jobs (id, owner_id, title, urs_document, status, created_at, updated_at) VALUES ${Array.from(
    { length: rows },
    (_, r) => `($${4 * r + 1}, $${4 * r + 2}, $${4 * r + 3}, $${4 * r + 4}, 'PENDING', ${NOW_MS}, ${NOW_MS})`,
  ).join(', ')} RETURNING ${JOB_SUMMARY_COLUMNS}`;

/**
 * Inserts these jobs and their `job.created` events in the caller's transaction: one statement
 * for the jobs, one for the events, however many there are. Each event starts its job's stream.
 */
export async function insertJobs(tx: SqlClient, jobs: readonly NewJob[]): Promise<JobRecord[]> {
  const res = await tx.query(prepared(insertJobsSql(jobs.length)), jobs.flatMap((j) => [j.id, j.actor.actorId, j.title, j.ursDocument]));
  const byId = new Map(res.rows.map((r) => [r.id as string, jobRowToRecord(r)]));
  const created = jobs.map((j) => ({ ...byId.get(j.id)!, ursDocument: j.ursDocument }));
  await appendFirstEvents(
    tx,
    created.map((job, i) => ({
      stream: jobStream(job.id),
      mode: 'new' as const,
      action: AuditAction.jobCreated,
      occurredAt: job.createdAt,
      actor: jobs[i].actor,
      jobId: job.id,
      after: {
        ...auditSnapshot(job),
        ursDocumentSha256: createHash('sha256').update(job.ursDocument).digest('hex'),
        ursDocumentBytes: Buffer.byteLength(job.ursDocument),
        idempotencyKey: jobs[i].idempotencyKey,
      },
    })),
  );
  return created;
}

/**
 * Group commit for creates without an idempotency key: the creates that arrive while a batch is
 * being written go into the next batch, one transaction for all of them (every job with its own
 * event, committed together). A create that finds nothing in flight is written at once, so a
 * lone create waits for nobody. If a batch fails, each of its jobs is tried again on its own
 * (same id: a job cannot be written twice), so one job's failure is that job's alone.
 */
export class CreateBatches {
  private queue: { job: NewJob; resolve: (j: JobRecord) => void; reject: (e: unknown) => void }[] = [];
  private inFlight = 0;

  constructor(
    private readonly db: Database,
    /** Batches written at the same time: 1 where transactions run one at a time (PGlite). */
    private readonly concurrency: number,
    private readonly maxBatch = 64,
  ) {}

  submit(job: NewJob): Promise<JobRecord> {
    return new Promise((resolve, reject) => {
      this.queue.push({ job, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.concurrency && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      this.inFlight++;
      void this.write(batch).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async write(batch: CreateBatches['queue']): Promise<void> {
    try {
      const created = await this.db.transaction((tx) => insertJobs(tx, batch.map((b) => b.job)));
      batch.forEach((b, i) => b.resolve(created[i]));
      return;
    } catch (err) {
      if (batch.length === 1) return batch[0].reject(err);
    }
    await Promise.all(
      batch.map(async (b) => {
        try {
          const [job] = await this.db.transaction((tx) => insertJobs(tx, [b.job]));
          b.resolve(job);
        } catch (err) {
          b.reject(err);
        }
      }),
    );
  }
}

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
