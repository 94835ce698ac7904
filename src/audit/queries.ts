import { AUDIT_COLUMNS, auditRowToRecord } from './event';
import type { SqlClient } from '../store/database';
import { isUuid } from '../store/uuid';
import { checkPageSize, decodeCursor, toPage, type Page } from '../store/pagination';
import type { AuditEventRecord } from './event';

export interface AuditFilter {
  jobId?: string | null;
  actorId?: string | null;
  action?: string | null;
  from?: Date | null;
  to?: Date | null;
}

/**
 * The audit trail for reviewers, oldest first by database time (ties broken by the global
 * sequence), keyset-paginated on (occurred_at, seq). Every filter combination, time range
 * included, is one range of one (filter column, occurred_at, seq) index.
 */
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
    where.push(sql.replaceAll('?', `$${params.length}`));
  };
  const cursor = decodeCursor('audit', after);
  // job_id is a uuid column: any other id names no job (as `job(id:)` answers null), not a SQL cast error.
  if (filter.jobId && !isUuid(filter.jobId)) return { edges: [], pageInfo: { hasNextPage: false, endCursor: null } };
  // The leading filter goes in as a one-element array and leads the ORDER BY, so only its
  // (column, occurred_at, seq) index can serve the page: with plain equality the planner may walk
  // the time index filtering on the column, reading everything before a rare actor's first event.
  const lead = filter.jobId ? 'job_id' : filter.actorId ? 'actor_id' : filter.action ? 'action' : null;
  const equals = (column: string, v: string, type: string) =>
    column === lead ? add(`${column} = ANY(?::${type}[])`, [v]) : add(`${column} = ?`, v);
  if (filter.jobId) equals('job_id', filter.jobId, 'uuid');
  if (filter.actorId) equals('actor_id', filter.actorId, 'text');
  if (filter.action) equals('action', filter.action, 'text');
  if (filter.from) add('occurred_at >= ?', filter.from);
  if (filter.to) add('occurred_at < ?', filter.to);
  // The cursor names an event; the page continues after its (occurred_at, seq).
  if (cursor !== null) add('(occurred_at, seq) > (SELECT occurred_at, seq FROM audit_events WHERE seq = ?)', cursor);
  params.push(limit + 1);
  const res = await db.query(
    `SELECT ${AUDIT_COLUMNS} FROM audit_events ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
     ORDER BY ${lead ? `${lead}, ` : ''}occurred_at, seq LIMIT $${params.length}`,
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
