import { listAuditEvents } from '../audit/review';
import { isAdmin, isAuditor } from '../auth/principal';
import { notSignedIn } from '../authz/rules';
import { auditActorOf, type GraphQLContext } from '../context';
import { forbidden } from '../errors';
import type { Resolvers } from '../generated/graphql';
import type { JobRecord } from '../jobs/types';
import type { JobEvents } from '../transport/jobEvents';
import { DateTimeScalar, JsonScalar } from './scalars';

/** Thin resolvers: authorization is graphql-shield's, state changes are the jobs service's. */
export function createResolvers(jobEvents: JobEvents): Resolvers {
  return {
    DateTime: DateTimeScalar,
    JSON: JsonScalar,
    Query: {
      viewer: (_p, _a, ctx) => ctx.principal!,
      job: (_p, { id }, ctx) => ctx.loaders.job.load(id),
      jobs: (_p, args, ctx) =>
        ctx.jobs.list({
          ownerId: isAuditor(ctx.principal) ? null : ctx.principal!.userId,
          status: args.status,
          first: args.first,
          after: args.after,
        }),
      auditEvents: (_p, args, ctx) => listAuditEvents(ctx.db, args, args.first, args.after),
    },
    Mutation: {
      createJob: (_p, { input }, ctx) => ctx.jobs.create(auditActorOf(ctx), input),
      cancelJob: async (_p, { id, reason }, ctx) => {
        const job = await ctx.jobs.cancel(auditActorOf(ctx), id, reason, { asAdmin: isAdmin(ctx.principal) });
        ctx.loaders.auditTrail.clear(id);
        return job;
      },
    },
    Subscription: {
      jobUpdated: {
        // graphql-shield guards field resolvers, not `subscribe`: the subscription checks the
        // caller and the job itself before it starts streaming anything.
        subscribe: async (_p, { id }, ctx) => {
          if (!ctx.principal) throw notSignedIn().toGraphQLError();
          const job = await ctx.loaders.job.load(id);
          if (!job) throw forbiddenOrMissing();
          if (job.ownerId !== ctx.principal.userId && !isAuditor(ctx.principal)) {
            await ctx.jobs.recordDenied(auditActorOf(ctx), { jobId: id, operation: 'subscribe' });
            throw forbidden('This job belongs to another user. Only its owner, auditors and admins can follow it.').toGraphQLError();
          }
          return jobEvents.subscribe(job) as AsyncIterable<never>;
        },
        resolve: (job: JobRecord) => job,
      },
    },
    Viewer: {
      userId: (p) => p.userId,
      sessionId: (p) => p.sessionId,
      email: (p) => p.email,
      roles: (p) => p.roles,
      orgId: (p) => p.orgId,
      orgRole: (p) => p.orgRole,
      actorId: (p) => p.impersonatorId,
    },
    Job: {
      ursDocument: async (job, _a, ctx: GraphQLContext) => job.ursDocument ?? (await ctx.loaders.ursDocument.load(job.id)) ?? '',
      result: (job, _a, ctx: GraphQLContext) => (job.result !== undefined ? job.result : ctx.loaders.result.load(job.id)),
      auditTrail: (job, _a, ctx: GraphQLContext) => ctx.loaders.auditTrail.load(job.id),
    },
    AuditEvent: {
      before: (e) => e.before,
      after: (e) => e.after,
    },
  };
}

const forbiddenOrMissing = () =>
  forbidden('No job with this id is visible to you. Check the id, or sign in as its owner.').toGraphQLError();
