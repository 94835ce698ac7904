/**
 * The in-memory job data both peers serve: 20 completed jobs per user, shaped like jobledger's
 * `Job` so the same query selects the same fields everywhere.
 */
import { randomUUID } from 'node:crypto';

export interface MemJob {
  id: string;
  ownerId: string;
  title: string;
  status: 'COMPLETED';
  ursDocument: string;
  createdAt: Date;
  updatedAt: Date;
}

export function memoryJobs(users: string[], perUser: number): Map<string, MemJob[]> {
  const byOwner = new Map<string, MemJob[]>();
  const start = Date.now() - 3_600_000;
  for (const ownerId of users) {
    const jobs: MemJob[] = [];
    for (let i = perUser - 1; i >= 0; i--) {
      const at = new Date(start + i * 1000);
      jobs.push({ id: randomUUID(), ownerId, title: `bench job ${i}`, status: 'COMPLETED', ursDocument: 'URS-001 The system shall be fast.', createdAt: at, updatedAt: at });
    }
    byOwner.set(ownerId, jobs);
  }
  return byOwner;
}

/** A Relay connection over an owner's list, newest first, cursors by index. */
export function connection(jobs: MemJob[], first: number) {
  const slice = jobs.slice(0, first);
  return {
    edges: slice.map((node, i) => ({ cursor: Buffer.from(`job:${i}`).toString('base64url'), node })),
    pageInfo: { hasNextPage: jobs.length > first, endCursor: slice.length ? Buffer.from(`job:${slice.length - 1}`).toString('base64url') : null },
  };
}

/** The slice of the schema the peers implement: what the bench's query needs, nothing more. */
export const PEER_TYPE_DEFS = /* GraphQL */ `
  scalar DateTime
  enum JobStatus { PENDING RUNNING COMPLETED FAILED CANCELLED }
  type Job { id: ID! ownerId: ID! title: String! status: JobStatus! ursDocument: String! createdAt: DateTime! updatedAt: DateTime! }
  type JobEdge { cursor: String! node: Job! }
  type PageInfo { hasNextPage: Boolean! endCursor: String }
  type JobConnection { edges: [JobEdge!]! pageInfo: PageInfo! }
  type Query { jobs(first: Int = 20, after: String, status: JobStatus): JobConnection! }
`;

export const dateTimeSerialize = (v: unknown): string => (v instanceof Date ? v.toISOString() : String(v));
