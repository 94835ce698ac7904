import { createHash, randomUUID } from 'node:crypto';
import { appendEvent } from '../audit/trail';
import { AuditAction, type AuditActor } from '../audit/types';
import { canonicalJson } from '../audit/canonical';
import { AppError, badInput, conflict, ErrorCode, forbidden, notFound } from '../errors';
import { type Database, type SqlClient } from '../store/database';
import { checkPageSize, decodeCursor, toPage, type Page } from '../store/pagination';
import { FirstPageCache } from './firstPages';
import { ChangeNotifier } from './notifier';
import { auditSnapshot, JOB_COLUMNS, JOB_LIST_COLUMNS, JOB_SUMMARY_COLUMNS, JOB_UPDATED_CHANNEL, jobRowToRecord, jobStream, type JobRecord, type JobStatus } from './types';

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

// Database time at millisecond precision: the same instant goes into the row, the audit event
// and its hashed canonical form, and JavaScript Dates hold milliseconds.
const NOW_MS = "date_trunc('milliseconds', now())";

/**
 * Every state change of a job and its audit event happen in one transaction: if the audit
 * append fails, the change is rolled back. Authorization has already happened (graphql-shield);
 * the service re-checks ownership where it acts, because it is also called by the worker and CLI.
 */
export class JobsService {
  private readonly createdJobs: ChangeNotifier;
  /** Only where no other process writes the database: see firstPages.ts. */
  private readonly firstPages: FirstPageCache | null;

  constructor(private readonly db: Database) {
    // New jobs are announced after commit, in batches: see notifier.ts for why.
    this.createdJobs = new ChangeNotifier(db, JOB_UPDATED_CHANNEL);
    this.firstPages = db.exclusive ? new FirstPageCache() : null;
  }

  /** Every committed change to a job ends here, before the caller answers its client. */
  private changed<T extends JobRecord | null>(job: T): T {
    if (job) this.firstPages?.changed(job.ownerId);
    return job;
  }

  async create(actor: AuditActor, input: CreateJobInput): Promise<JobRecord> {
    const { title, ursDocument, idempotencyKey } = validateCreate(input);
    const requestHash = createHash('sha256').update(canonicalJson({ title, ursDocument })).digest('hex');
    let fresh = false;
    const job = await this.db.transaction(async (tx) => {
      const id = randomUUID();
      if (idempotencyKey) {
        const existing = await claimIdempotencyKey(tx, actor.actorId, idempotencyKey, requestHash, id);
        if (existing) return existing;
      }
      const res = await tx.query(
        `INSERT INTO jobs (id, owner_id, title, urs_document, status, created_at, updated_at)
         VALUES ($1, $2, $3, $4, 'PENDING', ${NOW_MS}, ${NOW_MS}) RETURNING ${JOB_SUMMARY_COLUMNS}`,
        [id, actor.actorId, title, ursDocument],
      );
      const job = { ...jobRowToRecord(res.rows[0]), ursDocument };
      await appendEvent(tx, {
        stream: jobStream(id),
        mode: 'new',
        action: AuditAction.jobCreated,
        occurredAt: job.createdAt,
        actor,
        jobId: id,
        after: {
          ...auditSnapshot(job),
          ursDocumentSha256: createHash('sha256').update(ursDocument).digest('hex'),
          ursDocumentBytes: Buffer.byteLength(ursDocument),
          idempotencyKey: idempotencyKey ?? null,
        },
      });
      fresh = true;
      return job;
    });
    // An idempotent replay changed nothing, so there is nothing to announce.
    if (fresh) {
      this.changed(job);
      this.createdJobs.changed(job.id);
    }
    return job;
  }

  async cancel(actor: AuditActor, id: string, reasonRaw: string, opts: { asAdmin: boolean }): Promise<JobRecord> {
    const reason = reasonRaw.trim();
    if (reason.length === 0 || reason.length > LIMITS.reasonChars) {
      throw badInput(`reason must be 1 to ${LIMITS.reasonChars} characters: say why the job is cancelled.`, 'reason');
    }
    const after = await this.db.transaction(async (tx) => {
      const before = await lockJob(tx, id);
      if (!before) throw notFound(`No job with id ${id}.`);
      if (before.ownerId !== actor.actorId && !opts.asAdmin) throw forbidden('Only the job owner or an admin can cancel this job.');
      if (before.status !== 'PENDING' && before.status !== 'RUNNING') {
        throw conflict(`The job is ${before.status}; only PENDING or RUNNING jobs can be cancelled.`);
      }
      return transition(tx, before, 'CANCELLED', { actor, action: AuditAction.jobCancelled, reason });
    });
    return this.changed(after);
  }

  async get(id: string): Promise<JobRecord | null> {
    return (await this.getMany([id]))[0];
  }

  async getMany(ids: readonly string[]): Promise<(JobRecord | null)[]> {
    const valid = ids.filter(isUuid);
    const res = valid.length
      ? await this.db.query(`SELECT ${JOB_SUMMARY_COLUMNS} FROM jobs WHERE id = ANY($1::uuid[])`, [valid])
      : { rows: [] };
    const byId = new Map(res.rows.map((r) => [r.id as string, jobRowToRecord(r)]));
    // PostgreSQL prints uuids in lower case; the caller may have asked in upper case.
    return ids.map((id) => byId.get(id.toLowerCase()) ?? null);
  }

  /** The URS documents of these jobs (null for unknown ids), for `Job.ursDocument`. */
  async documents(ids: readonly string[]): Promise<(string | null)[]> {
    const valid = ids.filter(isUuid);
    const res = valid.length
      ? await this.db.query<{ id: string; urs_document: string }>('SELECT id, urs_document FROM jobs WHERE id = ANY($1::uuid[])', [valid])
      : { rows: [] };
    const byId = new Map(res.rows.map((r) => [r.id, r.urs_document]));
    return ids.map((id) => byId.get(id.toLowerCase()) ?? null);
  }

  /** The `result` of these jobs (null for unknown ids or jobs without one), for `Job.result`. */
  async results(ids: readonly string[]): Promise<(JobRecord['result'] & object | null)[]> {
    const valid = ids.filter(isUuid);
    const res = valid.length
      ? await this.db.query<{ id: string; result: JobRecord['result'] }>('SELECT id, result FROM jobs WHERE id = ANY($1::uuid[])', [valid])
      : { rows: [] };
    const byId = new Map(res.rows.map((r) => [r.id, r.result ?? null]));
    return ids.map((id) => byId.get(id.toLowerCase()) ?? null);
  }

  /** Newest first. `ownerId` null lists every job (auditors); the owner filter is in SQL, never after the fetch. */
  async list(opts: { ownerId: string | null; status?: JobStatus | null; first?: number | null; after?: string | null }): Promise<Page<JobRecord>> {
    const limit = checkPageSize(opts.first, 20);
    const cursor = decodeCursor('job', opts.after);
    const owner = opts.ownerId;
    if (this.firstPages && owner !== null && !opts.status && cursor === null) {
      const rows = await this.firstPages.read(owner, limit + 1, (n) => this.query({ ownerId: owner, cursor: null, rows: n }));
      return toPage('job', rows, limit);
    }
    return toPage('job', await this.query({ ownerId: owner, status: opts.status, cursor, rows: limit + 1 }), limit);
  }

  private async query(opts: { ownerId: string | null; status?: JobStatus | null; cursor: string | null; rows: number }): Promise<JobRecord[]> {
    const params: unknown[] = [];
    const where: string[] = [];
    const add = (sql: string, v: unknown) => {
      params.push(v);
      where.push(sql.replace('?', `$${params.length}`));
    };
    // The owner goes in as a one-element array and leads the ORDER BY. With `owner_id = $1` the
    // planner may page by walking the seq index newest-first and filtering on owner, which its
    // statistics call cheap but which reads every newer job when the owner's are all old (half a
    // million rows for one page in bench/pagination.ts). Only the owner indexes deliver rows in
    // (owner_id, seq) order, so this makes every page a bounded index range, at any table size.
    if (opts.ownerId !== null) add('owner_id = ANY(?::text[])', [opts.ownerId]);
    if (opts.status) add('status = ?', opts.status);
    if (opts.cursor !== null) add('seq < ?', opts.cursor);
    params.push(opts.rows);
    const res = await this.db.query(
      `SELECT ${JOB_LIST_COLUMNS} FROM jobs ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
       ORDER BY ${opts.ownerId !== null ? 'owner_id, ' : ''}seq DESC LIMIT $${params.length}`,
      params,
    );
    return res.rows.map(jobRowToRecord);
  }

  /** A signed-in user asked for something that is not theirs: the attempt itself is audited. */
  async recordDenied(actor: AuditActor, what: { jobId?: string | null; operation: string }): Promise<void> {
    await this.db.transaction(async (tx) => {
      await appendEvent(tx, {
        stream: `actor:${actor.actorId}`,
        mode: 'shared',
        action: AuditAction.accessDenied,
        occurredAt: await dbNow(tx),
        actor,
        jobId: what.jobId ?? null,
        after: { operation: what.operation },
      });
    });
  }

  // --- worker side -------------------------------------------------------------------------

  /** Claims the oldest PENDING job; SKIP LOCKED lets several workers (and instances) share the queue. */
  async claimNext(actor: AuditActor, workerId: string): Promise<JobRecord | null> {
    const claimed = await this.db.transaction(async (tx) => {
      const res = await tx.query(
        `SELECT ${JOB_COLUMNS} FROM jobs WHERE status = 'PENDING' ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED`,
      );
      if (!res.rows[0]) return null;
      const job = jobRowToRecord(res.rows[0]);
      // The worker needs the document it is about to process.
      const running = await transition(tx, job, 'RUNNING', { actor, action: AuditAction.jobStarted, workerId });
      return { ...running, ursDocument: job.ursDocument };
    });
    return this.changed(claimed);
  }

  /** Records a worker's outcome unless the job left RUNNING meanwhile (e.g. it was cancelled). */
  async finish(actor: AuditActor, id: string, outcome: { result: unknown } | { error: string }): Promise<JobRecord | null> {
    const finished = await this.db.transaction(async (tx) => {
      const job = await lockJob(tx, id);
      if (!job || job.status !== 'RUNNING') return null;
      return 'error' in outcome
        ? transition(tx, job, 'FAILED', { actor, action: AuditAction.jobFailed, error: outcome.error })
        : transition(tx, job, 'COMPLETED', { actor, action: AuditAction.jobCompleted, result: outcome.result });
    });
    return this.changed(finished);
  }

  /** RUNNING jobs whose worker vanished (crash, SIGKILL) longer than `leaseSeconds` ago become FAILED. */
  async failAbandoned(actor: AuditActor, leaseSeconds: number): Promise<number> {
    const res = await this.db.query<{ id: string }>(
      `SELECT id FROM jobs WHERE status = 'RUNNING' AND claimed_at < now() - make_interval(secs => $1)`,
      [leaseSeconds],
    );
    let n = 0;
    for (const { id } of res.rows) {
      if (await this.finish(actor, id, { error: 'The worker processing this job stopped before finishing. Submit the job again.' })) n++;
    }
    return n;
  }
}

async function transition(
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

async function lockJob(tx: SqlClient, id: string): Promise<JobRecord | null> {
  if (!isUuid(id)) return null;
  const res = await tx.query(`SELECT ${JOB_SUMMARY_COLUMNS} FROM jobs WHERE id = $1 FOR UPDATE`, [id]);
  return res.rows[0] ? jobRowToRecord(res.rows[0]) : null;
}

/**
 * Reserves (owner, key) for a new job, or returns the job an earlier request with the same key
 * created. A concurrent request with the same key waits on the row lock and then sees it.
 */
async function claimIdempotencyKey(tx: SqlClient, ownerId: string, key: string, requestHash: string, newJobId: string): Promise<JobRecord | null> {
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

function validateCreate(input: CreateJobInput): Required<CreateJobInput> {
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

async function notify(tx: SqlClient, jobId: string): Promise<void> {
  // Delivered at commit, and only if the transaction commits. Status changes, which subscribers
  // watch, notify here; new jobs, which only wake workers, are announced after commit (notifier.ts).
  await tx.query('SELECT pg_notify($1, $2)', [JOB_UPDATED_CHANNEL, jobId]);
}

async function dbNow(tx: SqlClient): Promise<Date> {
  const res = await tx.query<{ now: Date }>(`SELECT ${NOW_MS} AS now`);
  return res.rows[0].now;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (s: string): boolean => UUID.test(s);
