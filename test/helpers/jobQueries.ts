import type { GqlResponse, TestServer } from './server';

/** Operations shared by the jobs, authorization and audit-trail suites. */
export const CREATE_JOB = `mutation($input: CreateJobInput!) { createJob(input: $input) { id ownerId title status ursDocument createdAt updatedAt } }`;
export const CANCEL_JOB = `mutation($id: ID!, $reason: String!) { cancelJob(id: $id, reason: $reason) { id status updatedAt } }`;
export const GET_JOB = `query($id: ID!) { job(id: $id) { id ownerId title status error } }`;
export const LIST_JOBS = `query($first: Int, $after: String, $status: JobStatus) {
  jobs(first: $first, after: $after, status: $status) { edges { cursor node { id ownerId title status } } pageInfo { hasNextPage endCursor } }
}`;
export const AUDIT_EVENTS = `query($first: Int, $after: String, $jobId: ID, $actorId: ID, $action: String, $from: DateTime, $to: DateTime) {
  auditEvents(first: $first, after: $after, jobId: $jobId, actorId: $actorId, action: $action, from: $from, to: $to) {
    edges { cursor node { id action actorId jobId occurredAt reason after } } pageInfo { hasNextPage endCursor }
  }
}`;

export const URS = 'URS-001 The system shall record every change.\nURS-002 The system shall export the audit trail.';

/** The single error of a response, failing loudly when there is not exactly one. */
export function onlyError<T>(res: GqlResponse<T>): { message: string; extensions: Record<string, any>; path?: string[] } {
  const errors = res.body.errors ?? [];
  if (errors.length !== 1) throw new Error(`expected exactly one error, got ${JSON.stringify(res.body)}`);
  return errors[0];
}

/** Creates a job through the API and returns its id; any error fails the test. */
export async function createJob(s: TestServer, token: string, title: string, ursDocument = URS, idempotencyKey?: string): Promise<string> {
  const res = await s.gql(CREATE_JOB, { input: { title, ursDocument, ...(idempotencyKey ? { idempotencyKey } : {}) } }, token);
  if (res.body.errors || !res.body.data?.createJob?.id) throw new Error(`createJob failed: ${JSON.stringify(res.body)}`);
  return res.body.data.createJob.id;
}

/** Rows as the database holds them, bypassing the API (what the API claims must match storage). */
export async function jobRow(s: TestServer, id: string): Promise<{ status: string; title: string } | undefined> {
  const res = await s.db.query<{ status: string; title: string }>('SELECT status, title FROM jobs WHERE id = $1', [id]);
  return res.rows[0];
}

export async function countRows(s: TestServer, sql: string, params: unknown[] = []): Promise<number> {
  const res = await s.db.query<{ n: number | string }>(sql, params);
  return Number(res.rows[0].n);
}
