import { isUuid } from '../jobs/service';
import type { SqlClient } from '../store/database';
import { checkPageSize, decodeCursor, toPage, type Page } from '../store/pagination';
import { AUDIT_COLUMNS, auditRowToRecord } from './trail';
import type { AuditEventRecord } from './types';

export interface AuditFilter {
  jobId?: string | null;
  actorId?: string | null;
  action?: string | null;
  from?: Date | null;
  to?: Date | null;
}

/** The audit trail for reviewers, oldest first, keyset-paginated on the global sequence. */
export async function listAuditEvents(
  db: SqlClient,
  filter: AuditFilter,
  first: number | null | undefined,
  after: string | null | undefined,
): Promise<Page<AuditEventRecord>> {
  const limit = checkPageSize(first, 50);
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (sql: string, v: unknown) => {
    params.push(v);
    where.push(sql.replace('?', `$${params.length}`));
  };
  const cursor = decodeCursor('audit', after);
  // job_id is a uuid column: any other id names no job (as `job(id:)` answers null), not a SQL cast error.
  if (filter.jobId && !isUuid(filter.jobId)) return { edges: [], pageInfo: { hasNextPage: false, endCursor: null } };
  if (cursor !== null) add('seq > ?', cursor);
  // The actor (else the action) goes in as a one-element array and leads the ORDER BY, so only
  // its (column, seq) index can serve the page. With plain equality the planner may walk the trail
  // oldest-first filtering on actor, which reads everything before a late-arriving actor's first
  // event (800,000 rows for one page in bench/pagination.ts). A job's few events need no such help.
  const lead = filter.jobId ? null : filter.actorId ? 'actor_id' : filter.action ? 'action' : null;
  const equals = (column: string, v: string) => (column === lead ? add(`${column} = ANY(?::text[])`, [v]) : add(`${column} = ?`, v));
  if (filter.jobId) add('job_id = ?', filter.jobId);
  if (filter.actorId) equals('actor_id', filter.actorId);
  if (filter.action) equals('action', filter.action);
  if (filter.from) add('occurred_at >= ?', filter.from);
  if (filter.to) add('occurred_at < ?', filter.to);
  params.push(limit + 1);
  const res = await db.query(
    `SELECT ${AUDIT_COLUMNS} FROM audit_events ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
     ORDER BY ${lead ? `${lead}, ` : ''}seq ASC LIMIT $${params.length}`,
    params,
  );
  return toPage('audit', res.rows.map(auditRowToRecord), limit);
}

export async function auditTrailForJobs(db: SqlClient, jobIds: readonly string[]): Promise<AuditEventRecord[][]> {
  const res = await db.query(`SELECT ${AUDIT_COLUMNS} FROM audit_events WHERE job_id = ANY($1::uuid[]) ORDER BY seq ASC`, [jobIds]);
  const byJob = new Map<string, AuditEventRecord[]>(jobIds.map((id) => [id, []]));
  for (const row of res.rows) {
    const e = auditRowToRecord(row);
    byJob.get(e.jobId!)?.push(e);
  }
  return jobIds.map((id) => byJob.get(id)!);
}
