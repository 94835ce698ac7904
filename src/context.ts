import { randomUUID } from 'node:crypto';
import DataLoader from 'dataloader';
import { auditTrailForJobs } from './audit/review';
import type { AuditActor, AuditEventRecord } from './audit/types';
import type { Principal } from './auth/principal';
import type { JobsService } from './jobs/service';
import type { JobRecord } from './jobs/types';
import type { Database } from './store/database';

export interface RequestMeta {
  requestId: string;
  ip: string | null;
  userAgent: string | null;
}

export interface Services {
  db: Database;
  jobs: JobsService;
}

export interface GraphQLContext extends Services {
  principal: Principal | null;
  requestId: string;
  meta: RequestMeta;
  loaders: {
    job: DataLoader<string, JobRecord | null>;
    auditTrail: DataLoader<string, AuditEventRecord[]>;
    ursDocument: DataLoader<string, string | null>;
    result: DataLoader<string, JobRecord['result'] & object | null>;
  };
  /** Job ids whose denied access was already audited in this operation (one event per job per request). */
  deniedAudited: Set<string>;
}

/** The one context builder, used for HTTP requests and WebSocket subscriptions alike. */
export function createContext(services: Services, principal: Principal | null, meta: Partial<RequestMeta>): GraphQLContext {
  const requestId = meta.requestId ?? randomUUID();
  return {
    ...services,
    principal,
    requestId,
    meta: { requestId, ip: meta.ip ?? null, userAgent: meta.userAgent ?? null },
    loaders: {
      job: new DataLoader((ids) => services.jobs.getMany(ids)),
      auditTrail: new DataLoader((ids) => auditTrailForJobs(services.db, ids)),
      ursDocument: new DataLoader((ids) => services.jobs.documents(ids)),
      result: new DataLoader((ids) => services.jobs.results(ids)),
    },
    deniedAudited: new Set(),
  };
}

/** Who to record in the audit trail for this context's principal. */
export function auditActorOf(ctx: Pick<GraphQLContext, 'principal' | 'meta'>): AuditActor {
  const p = ctx.principal;
  if (!p) throw new Error('auditActorOf called without a principal');
  return {
    actorId: p.userId,
    actorEmail: p.email,
    sessionId: p.sessionId,
    tokenIssuedAt: p.issuedAt,
    impersonatorId: p.impersonatorId,
    requestId: ctx.meta.requestId,
    ip: ctx.meta.ip,
    userAgent: ctx.meta.userAgent ? ctx.meta.userAgent.slice(0, 512) : null,
  };
}
