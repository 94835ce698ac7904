import type { GraphQLResolveInfo } from 'graphql';
import { rule } from 'graphql-shield';
import { isAdmin, isAuditor } from '../auth/principal';
import { auditActorOf, type GraphQLContext } from '../context';
import { AppError, ErrorCode, forbidden } from '../errors';
import { isUuid } from '../store/uuid';

export const notSignedIn = () =>
  new AppError(ErrorCode.UNAUTHENTICATED, 'Sign in first: send a Clerk session token as "Authorization: Bearer <token>".', {
    reason: 'token-missing',
  });

// Rules are cached per request ("contextual") when they depend only on the caller, and not at
// all when they depend on arguments: shield's "strict" cache hashes every parent object and
// costs more than the check. The job itself is cached by the request's DataLoader.

export const isAuthenticated = rule({ cache: 'contextual' })((_p, _a, ctx: GraphQLContext) => (ctx.principal ? true : notSignedIn()));

export const isAuditorRule = rule({ cache: 'contextual' })(async (_p, _a, ctx: GraphQLContext, info: GraphQLResolveInfo) => {
  if (isAuditor(ctx.principal)) return true;
  await recordDenial(ctx, fieldOf(info), { operation: 'read' });
  return forbidden('Only auditors and admins can read the audit trail.');
});

/** Owner, auditor or admin may read a job. An unknown id passes: the resolver answers null. */
export const canReadJob = rule({ cache: 'no_cache' })(async (_p, args: { id: string }, ctx: GraphQLContext, info: GraphQLResolveInfo) => {
  const job = await ctx.loaders.job.load(args.id);
  if (!job || job.ownerId === ctx.principal?.userId || isAuditor(ctx.principal)) return true;
  await recordDenial(ctx, fieldOf(info), { operation: 'read', target: args.id });
  return forbidden('This job belongs to another user. Only its owner, auditors and admins can read it.');
});

/** Owner or admin may cancel. An unknown id passes: the service answers NOT_FOUND. */
export const canCancelJob = rule({ cache: 'no_cache' })(async (_p, args: { id: string }, ctx: GraphQLContext, info: GraphQLResolveInfo) => {
  const job = await ctx.loaders.job.load(args.id);
  if (!job || job.ownerId === ctx.principal?.userId || isAdmin(ctx.principal)) return true;
  await recordDenial(ctx, fieldOf(info), { operation: 'cancel', target: args.id });
  return forbidden('Only the job owner or an admin can cancel this job.');
});

/** The schema coordinate of the field being resolved, e.g. `Query.auditEvents`. */
export const fieldOf = (info: Pick<GraphQLResolveInfo, 'parentType' | 'fieldName'>): string => `${info.parentType.name}.${info.fieldName}`;

/**
 * A signed-in caller was refused: put the attempt on the record, once per field, operation and
 * target per request (aliases and list items asking again add nothing). Anonymous callers are
 * not recorded: there is nobody to attribute the attempt to. `target` is the id asked for; a
 * job id goes into the event's job column, anything else into `after.target`.
 */
export async function recordDenial(ctx: GraphQLContext, field: string, what: { operation: string; target?: string | null }): Promise<void> {
  if (!ctx.principal) return;
  const target = what.target ?? '';
  const key = `${field}\u0000${what.operation}\u0000${target}`;
  if (ctx.deniedAudited.has(key)) return;
  ctx.deniedAudited.add(key);
  const jobId = target && isUuid(target) ? target.toLowerCase() : null;
  await ctx.jobs.recordDenied(await auditActorOf(ctx), {
    jobId,
    operation: what.operation,
    field,
    ...(target && !jobId ? { target: target.slice(0, 200) } : {}),
  });
}
