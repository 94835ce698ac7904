import { rule } from 'graphql-shield';
import { isAdmin, isAuditor } from '../auth/principal';
import { auditActorOf, type GraphQLContext } from '../context';
import { AppError, ErrorCode, forbidden } from '../errors';

export const notSignedIn = () =>
  new AppError(ErrorCode.UNAUTHENTICATED, 'Sign in first: send a Clerk session token as "Authorization: Bearer <token>".', {
    reason: 'token-missing',
  });

// Rules are cached per request ("contextual") when they depend only on the caller, and not at
// all when they depend on arguments: shield's "strict" cache hashes every parent object and
// costs more than the check. The job itself is cached by the request's DataLoader.

export const isAuthenticated = rule({ cache: 'contextual' })((_p, _a, ctx: GraphQLContext) => (ctx.principal ? true : notSignedIn()));

export const isAuditorRule = rule({ cache: 'contextual' })((_p, _a, ctx: GraphQLContext) =>
  isAuditor(ctx.principal) ? true : forbidden('Only auditors and admins can read the audit trail.'),
);

/** Owner, auditor or admin may read a job. An unknown id passes: the resolver answers null. */
export const canReadJob = rule({ cache: 'no_cache' })(async (_p, args: { id: string }, ctx: GraphQLContext) => {
  const job = await ctx.loaders.job.load(args.id);
  if (!job || job.ownerId === ctx.principal?.userId || isAuditor(ctx.principal)) return true;
  return denied(ctx, args.id, 'read');
});

/** Owner or admin may cancel. An unknown id passes: the service answers NOT_FOUND. */
export const canCancelJob = rule({ cache: 'no_cache' })(async (_p, args: { id: string }, ctx: GraphQLContext) => {
  const job = await ctx.loaders.job.load(args.id);
  if (!job || job.ownerId === ctx.principal?.userId || isAdmin(ctx.principal)) return true;
  return denied(ctx, args.id, 'cancel');
});

/** A signed-in user reached for someone else's job: refuse, and put the attempt on the record. */
async function denied(ctx: GraphQLContext, jobId: string, operation: string): Promise<AppError> {
  if (ctx.principal && !ctx.deniedAudited.has(`${operation}:${jobId}`)) {
    ctx.deniedAudited.add(`${operation}:${jobId}`);
    await ctx.jobs.recordDenied(auditActorOf(ctx), { jobId, operation });
  }
  return forbidden(
    operation === 'cancel' ? 'Only the job owner or an admin can cancel this job.' : 'This job belongs to another user. Only its owner, auditors and admins can read it.',
  );
}
