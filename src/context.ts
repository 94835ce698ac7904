import { randomUUID } from 'node:crypto';
import DataLoader from 'dataloader';
import { auditTrailForJobs } from './audit/queries';
import type { AuditActor, AuditEventRecord } from './audit/event';
import type { Principal } from './auth/principal';
import type { UserEmailDirectory } from './auth/userEmails';
import type { JobsService } from './jobs/service';
import type { JobRecord } from './jobs/types';
import type { Database } from './store/database';

export interface RequestMeta {
  requestId: string;
  ip: string | null;
  userAgent: string | null;
}

/** What the access log and the metrics learn about a request from GraphQL (errorStatusPlugin fills it). */
export interface Observed {
  /** The resolved operation's name (null: anonymous); absent when none was resolved. */
  operation?: string | null;
  /** `extensions.code` of every error in the response, in order. */
  errorCodes: string[];
}

export interface Services {
  db: Database;
  jobs: JobsService;
  /** Looks up a user's email when the token has none (set when CLERK_SECRET_KEY is). */
  emails?: UserEmailDirectory;
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
  /** The email lookup for this request's principal, started at most once. */
  emailLookup?: Promise<AuditActor>;
  observed: Observed;
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
    observed: { errorCodes: [] },
  };
}

/**
 * Who to record in the audit trail for this context's principal. The email comes from the token
 * when it has one; otherwise (Clerk's default session token has none) from Clerk's Users API
 * when configured, bounded by that lookup's short timeout. When it cannot be learned the actor
 * says why (`emailUnknown`), and the event records that.
 */
export function auditActorOf(ctx: Pick<GraphQLContext, 'principal' | 'meta' | 'emails' | 'emailLookup'>): Promise<AuditActor> {
  const p = ctx.principal;
  if (!p) throw new Error('auditActorOf called without a principal');
  const actor: AuditActor = {
    actorId: p.userId,
    actorEmail: p.email,
    sessionId: p.sessionId,
    tokenIssuedAt: p.issuedAt,
    impersonatorId: p.impersonatorId,
    requestId: ctx.meta.requestId,
    ip: ctx.meta.ip,
    userAgent: ctx.meta.userAgent ? ctx.meta.userAgent.slice(0, 512) : null,
  };
  if (p.email !== null || p.kind !== 'user' || !ctx.emails) return Promise.resolve(actor);
  ctx.emailLookup ??= ctx.emails.lookup(p.userId).then((found) =>
    found.email !== null ? { ...actor, actorEmail: found.email } : { ...actor, emailUnknown: found.unknown },
  );
  return ctx.emailLookup;
}
