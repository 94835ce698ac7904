import type { GraphQLSchema } from 'graphql';
import { applyMiddleware } from 'graphql-middleware';
import { allow, and, deny, shield } from 'graphql-shield';
import { forbidden } from '../errors';
import type { GraphQLContext } from '../context';
import { canCancelJob, canReadJob, fieldOf, isAuditorRule, isAuthenticated, recordDenial } from './rules';

/**
 * Object types every field of which is readable by whoever reached the object: access was
 * decided at the root field that led here (job, jobs, auditEvents, createJob, ...), and lists
 * are filtered in SQL.
 */
const OPEN_TYPES = [
  'Viewer', 'Job', 'JobResult', 'TestCase', 'JobEdge', 'JobConnection', 'PageInfo',
  'AuditEvent', 'AuditEventEdge', 'AuditEventConnection',
] as const;

export const ruleTree = {
  Query: {
    viewer: isAuthenticated,
    job: and(isAuthenticated, canReadJob),
    jobs: isAuthenticated,
    auditEvents: and(isAuthenticated, isAuditorRule),
  },
  Mutation: {
    createJob: isAuthenticated,
    cancelJob: and(isAuthenticated, canCancelJob),
  },
  Subscription: {
    jobUpdated: and(isAuthenticated, canReadJob),
  },
  ...Object.fromEntries(OPEN_TYPES.map((t) => [t, allow])),
};

/**
 * The schema with graphql-shield applied. fallbackRule deny: a field nobody wrote a rule for is
 * refused (and, for a signed-in caller, audited). allowExternalErrors: our typed errors (NOT_FOUND, CONFLICT, ...) reach the client
 * instead of being replaced by shield's generic message.
 *
 * Fields of OPEN_TYPES are left unwrapped: shield would only run `allow` for them, and wrapping
 * every leaf field in an async middleware is most of shield's cost on list queries.
 */
export function applyPermissions(schema: GraphQLSchema): GraphQLSchema {
  const generator = shield(ruleTree, {
    fallbackRule: deny,
    allowExternalErrors: true,
    // Reached when a rule answers false (fallbackRule deny: a field nobody decided on). A
    // signed-in caller's refusal goes on the record like every other.
    fallbackError: async (_err, _parent, _args, ctx, info) => {
      await recordDenial(ctx as unknown as GraphQLContext, fieldOf(info), { operation: info.fieldName });
      return forbidden().toGraphQLError();
    },
    debug: false,
  });
  const fieldMiddleware = generator.generate(schema) as Record<string, unknown>;
  for (const t of OPEN_TYPES) delete fieldMiddleware[t];
  return applyMiddleware(schema, fieldMiddleware as never);
}
