import type { UrsResult } from './urs';

export type JobStatus = 'PENDING' | 'RUNNING' | 'COMPLETED' | 'FAILED' | 'CANCELLED';

export interface JobRecord {
  seq: string;
  id: string;
  ownerId: string;
  title: string;
  /** Absent when the job was read without its document (lists, loaders, transitions). */
  ursDocument?: string;
  status: JobStatus;
  /** Absent when the job was read without it (lists): `Job.result` loads it when selected. */
  result?: UrsResult | null;
  error: string | null;
  attempts: number;
  createdAt: Date;
  updatedAt: Date;
}

/**
 * Everything but the document, which may be 1 MiB: loaders and status changes read only this,
 * and `Job.ursDocument` loads the document when a client selects it. Lists also leave out
 * `result` (most of a row's bytes), which `Job.result` loads for the rows that select it.
 */
export const JOB_LIST_COLUMNS = 'seq, id, owner_id, title, status, error, attempts, created_at, updated_at';
export const JOB_SUMMARY_COLUMNS = `${JOB_LIST_COLUMNS}, result`;
export const JOB_COLUMNS = `${JOB_SUMMARY_COLUMNS}, urs_document`;

export function jobRowToRecord(r: Record<string, unknown>): JobRecord {
  return {
    seq: String(r.seq),
    id: r.id as string,
    ownerId: r.owner_id as string,
    title: r.title as string,
    ursDocument: (r.urs_document as string | undefined) ?? undefined,
    status: r.status as JobStatus,
    result: 'result' in r ? ((r.result as UrsResult | null) ?? null) : undefined,
    error: (r.error as string | null) ?? null,
    attempts: Number(r.attempts),
    createdAt: r.created_at as Date,
    updatedAt: r.updated_at as Date,
  };
}

/** The part of a job an audit event records as before/after (the document itself is stored once, in the job). */
export function auditSnapshot(job: JobRecord): Record<string, unknown> {
  return { status: job.status, title: job.title, error: job.error };
}

export const JOB_UPDATED_CHANNEL = 'job_updated';
export const jobStream = (jobId: string) => `job:${jobId}`;
/** jobStream in SQL, for a uuid expression. */
export const jobStreamSql = (idExpr: string) => `'job:' || ${idExpr}::text`;
