import { prepared, type Database } from '../store/database';
import { isUuid } from '../store/uuid';
import { JOB_LIST_COLUMNS, JOB_SUMMARY_COLUMNS, jobRowToRecord, type JobRecord, type JobStatus } from './types';

/**
 * One value per asked id, in the order asked (null for unknown or malformed ids): `select` reads
 * `id` and what `pick` maps to the value. PostgreSQL prints uuids in lower case; the caller may
 * have asked in upper case.
 */
async function byIds<R extends { id: string }, V>(db: Database, select: string, ids: readonly string[], pick: (row: R) => V): Promise<(V | null)[]> {
  const valid = ids.filter(isUuid);
  const res = valid.length ? await db.query<R>(prepared(`SELECT ${select} FROM jobs WHERE id = ANY($1::uuid[])`), [valid]) : { rows: [] as R[] };
  const found = new Map(res.rows.map((r) => [r.id, pick(r)]));
  return ids.map((id) => found.get(id.toLowerCase()) ?? null);
}

/** The jobs without their documents (the request's DataLoader batches these). */
export const jobsByIds = (db: Database, ids: readonly string[]): Promise<(JobRecord | null)[]> =>
  byIds<{ id: string } & Record<string, unknown>, JobRecord>(db, JOB_SUMMARY_COLUMNS, ids, jobRowToRecord);

/** The URS documents of these jobs, for `Job.ursDocument`. */
export const documentsByIds = (db: Database, ids: readonly string[]): Promise<(string | null)[]> =>
  byIds<{ id: string; urs_document: string }, string>(db, 'id, urs_document', ids, (r) => r.urs_document);

/** The `result` of these jobs (null too for jobs without one), for `Job.result`. */
export const resultsByIds = (db: Database, ids: readonly string[]): Promise<(JobRecord['result'] & object | null)[]> =>
  byIds<{ id: string; result: JobRecord['result'] }, JobRecord['result'] & object | null>(db, 'id, result', ids, (r) => r.result ?? null);

export interface ListQuery {
  /** null: every owner's jobs (auditors). */
  ownerId: string | null;
  status?: JobStatus | null;
  /** Rows older than this seq (keyset), or from the newest. */
  cursor: string | null;
  rows: number;
}

/** Newest first, summary columns only; the owner filter is in SQL, never applied after the fetch. */
export async function listJobs(db: Database, opts: ListQuery): Promise<JobRecord[]> {
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
  // One of eight texts (owner, status and cursor each present or not); each plan is fixed by its
  // text, so it stays prepared.
  const res = await db.query(
    prepared(`SELECT ${JOB_LIST_COLUMNS} FROM jobs ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
     ORDER BY ${opts.ownerId !== null ? 'owner_id, ' : ''}seq DESC LIMIT $${params.length}`),
    params,
  );
  return res.rows.map(jobRowToRecord);
}
