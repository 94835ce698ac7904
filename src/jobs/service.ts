import { createHash, randomUUID } from 'node:crypto';
import { appendEvent, dbNow } from '../audit/trail';
import { AuditAction, type AuditActor } from '../audit/event';
import { canonicalJson } from '../audit/canonical';
import { badInput, conflict, forbidden, notFound } from '../errors';
import { prepared, type Database, type SqlClient } from '../store/database';
import { checkPageSize, decodeCursor, toPage, type Page } from '../store/pagination';
import { claimIdempotencyKey, CreateBatches, insertJobs, LIMITS, validateCreate, type CreateJobInput } from './create';
import { FirstPageCache } from './firstPages';
import { ChangeNotifier } from './notifier';
import { documentsByIds, jobsByIds, listJobs, resultsByIds, type ListQuery } from './reads';
import { claimOldest, moveJob } from './transition';
import { JOB_LIST_COLUMNS, JOB_SUMMARY_COLUMNS, JOB_UPDATED_CHANNEL, jobRowToRecord, type JobRecord, type JobStatus } from './types';
import { isUuid } from '../store/uuid';

export { IDEMPOTENCY_TTL_SECONDS, LIMITS, type CreateJobInput } from './create';

const LOCK_JOB = prepared(`SELECT ${JOB_SUMMARY_COLUMNS} FROM jobs WHERE id = $1 FOR UPDATE`);

/**
 * Every state change of a job and its audit event happen in one transaction: if the audit
 * append fails, the change is rolled back. Authorization has already happened (graphql-shield);
 * the service re-checks ownership where it acts, because it is also called by the worker and CLI.
 */
export class JobsService {
  private readonly createdJobs: ChangeNotifier;
  /** Only where no other process writes the database: see firstPages.ts. */
  private readonly firstPages: FirstPageCache | null;

  /** Creates without an idempotency key, committed in groups: see create.ts. */
  private readonly creates: CreateBatches;

  constructor(private readonly db: Database) {
    // New jobs are announced after commit, in batches: see notifier.ts for why.
    this.createdJobs = new ChangeNotifier(db, JOB_UPDATED_CHANNEL);
    this.firstPages = db.exclusive ? new FirstPageCache() : null;
    this.creates = new CreateBatches(db, db.kind === 'pglite' ? 1 : 2);
  }

  /** Every committed change to a job ends here, before the caller answers its client. */
  private changed<T extends JobRecord | null>(job: T): T {
    if (job) this.firstPages?.changed(job.ownerId);
    return job;
  }

  async create(actor: AuditActor, input: CreateJobInput): Promise<JobRecord> {
    const { title, ursDocument, idempotencyKey } = validateCreate(input);
    const job = { id: randomUUID(), actor, title, ursDocument, idempotencyKey };
    let fresh = true;
    const created = idempotencyKey
      ? await this.db.transaction(async (tx) => {
          const requestHash = createHash('sha256').update(canonicalJson({ title, ursDocument })).digest('hex');
          const existing = await claimIdempotencyKey(tx, actor.actorId, idempotencyKey, requestHash, job.id);
          if (existing) {
            fresh = false;
            return existing;
          }
          return (await insertJobs(tx, [job]))[0];
        })
      : await this.creates.submit(job);
    // An idempotent replay changed nothing, so there is nothing to announce.
    if (fresh) {
      this.changed(created);
      this.createdJobs.changed(created.id);
    }
    return created;
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
      return (await moveJob(tx, id, ['PENDING', 'RUNNING'], 'CANCELLED', { actor, action: AuditAction.jobCancelled, reason }))!;
    });
    return this.changed(after);
  }

  async get(id: string): Promise<JobRecord | null> {
    return (await this.getMany([id]))[0];
  }

  getMany(ids: readonly string[]): Promise<(JobRecord | null)[]> {
    return jobsByIds(this.db, ids);
  }

  /** The URS documents of these jobs (null for unknown ids), for `Job.ursDocument`. */
  documents(ids: readonly string[]): Promise<(string | null)[]> {
    return documentsByIds(this.db, ids);
  }

  /** The `result` of these jobs (null for unknown ids or jobs without one), for `Job.result`. */
  results(ids: readonly string[]): Promise<(JobRecord['result'] & object | null)[]> {
    return resultsByIds(this.db, ids);
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

  private query(opts: ListQuery): Promise<JobRecord[]> {
    return listJobs(this.db, opts);
  }


  /**
   * A signed-in user asked for something that is not theirs: the attempt itself is audited.
   * `field` names the refused GraphQL field (e.g. `Query.auditEvents`); a target that is not a
   * job id goes into `target` instead of the job column.
   */
  async recordDenied(actor: AuditActor, what: { jobId?: string | null; operation: string; field?: string; target?: string }): Promise<void> {
    await this.db.transaction(async (tx) => {
      await appendEvent(tx, {
        stream: `actor:${actor.actorId}`,
        mode: 'shared',
        action: AuditAction.accessDenied,
        occurredAt: await dbNow(tx),
        actor,
        jobId: what.jobId ?? null,
        after: { operation: what.operation, ...(what.field ? { field: what.field } : {}), ...(what.target ? { target: what.target } : {}) },
      });
    });
  }

  // --- worker side -------------------------------------------------------------------------

  /** Claims the oldest PENDING job; SKIP LOCKED lets several workers (and instances) share the queue. */
  async claimNext(actor: AuditActor, workerId: string): Promise<JobRecord | null> {
    // The claimed job comes with the document the worker is about to process.
    const claimed = await this.db.transaction((tx) => claimOldest(tx, { actor, action: AuditAction.jobStarted, workerId }));
    return this.changed(claimed);
  }

  /** Records a worker's outcome unless the job left RUNNING meanwhile (e.g. it was cancelled). */
  async finish(actor: AuditActor, id: string, outcome: { result: unknown } | { error: string }): Promise<JobRecord | null> {
    const finished = await this.db.transaction((tx) =>
      'error' in outcome
        ? moveJob(tx, id, ['RUNNING'], 'FAILED', { actor, action: AuditAction.jobFailed, error: outcome.error })
        : moveJob(tx, id, ['RUNNING'], 'COMPLETED', { actor, action: AuditAction.jobCompleted, result: outcome.result }),
    );
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

async function lockJob(tx: SqlClient, id: string): Promise<JobRecord | null> {
  if (!isUuid(id)) return null;
  const res = await tx.query(LOCK_JOB, [id]);
  return res.rows[0] ? jobRowToRecord(res.rows[0]) : null;
}


export { isUuid };
