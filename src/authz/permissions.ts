import type { GraphQLSchema } from 'graphql';
import { applyMiddleware } from 'graphql-middleware';
import { and, deny, rule, shield } from 'graphql-shield';
import type { GraphQLContext } from '../context';
import { forbidden } from '../errors';
import type { Resolvers } from '../generated/graphql';
import { canCancelJob, canReadJob, fieldOf, isAuditorRule, isAuthenticated, recordDenial } from './rules';

/**
 * The decision for a field that is plain data of its parent object: whoever was allowed to reach
 * the object may read it. Objects are reached only through guarded root fields (job, jobs,
 * auditEvents, createJob, ...), and lists are filtered by owner in SQL, so nothing further is
 * checked here. Fields with this decision are left unwrapped by `applyPermissions`: shield would
 * only run an always-true rule for them, and wrapping every leaf of a list in an async middleware
 * is most of shield's cost on list queries.
 */
export const ofAuthorizedParent = rule('of-authorized-parent', { cache: 'no_cache' })(() => true);

/** A shield rule or a logic rule (and, or, ...). */
type ShieldRule = Parameters<typeof and>[number];

type ObjectTypeName = {
  [T in keyof Resolvers]-?: NonNullable<Resolvers[T]> extends { serialize: unknown } ? never : T;
}[keyof Resolvers];

/**
 * One decision for every field of every object type in the schema, written out. The type is
 * derived from the generated resolver types, so a field added to schema/schema.graphql does not
 * compile until someone decides who may read it; a field that slips past (a schema extended at
 * build time) meets `fallbackRule: deny`.
 */
export type RuleTree = {
  [T in ObjectTypeName]: { [F in keyof NonNullable<Resolvers[T]>]-?: ShieldRule };
};

const parent = ofAuthorizedParent;

export const ruleTree: RuleTree = {
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
  // The caller's own principal, reached through Query.viewer.
  Viewer: { userId: parent, sessionId: parent, email: parent, roles: parent, orgId: parent, orgRole: parent, actorId: parent },
  // A job reached through job (owner, auditor, admin), jobs (filtered in SQL), createJob,
  // cancelJob or jobUpdated. Its audit trail is part of it: the owner may read what was done to
  // their own job.
  Job: {
    id: parent, ownerId: parent, title: parent, status: parent, ursDocument: parent, createdAt: parent,
    updatedAt: parent, result: parent, error: parent, auditTrail: parent,
  },
  JobResult: { requirementCount: parent, testCases: parent },
  TestCase: { id: parent, requirementId: parent, requirement: parent, title: parent, steps: parent, expectedResult: parent },
  JobConnection: { edges: parent, pageInfo: parent },
  JobEdge: { cursor: parent, node: parent },
  PageInfo: { hasNextPage: parent, endCursor: parent },
  // Reached through auditEvents (auditors and admins) or a readable job's auditTrail.
  AuditEvent: {
    id: parent, action: parent, occurredAt: parent, actorId: parent, actorEmail: parent, sessionId: parent,
    tokenIssuedAt: parent, impersonatorId: parent, jobId: parent, reason: parent, before: parent, after: parent,
    requestId: parent, ip: parent, userAgent: parent, hash: parent, prevHash: parent,
  },
  AuditEventConnection: { edges: parent, pageInfo: parent },
  AuditEventEdge: { cursor: parent, node: parent },
};

/** The decision written for `Type.field`, or undefined when there is none (shield then denies). */
export function decisionFor(typeName: string, fieldName: string): ShieldRule | undefined {
  const fields = (ruleTree as Record<string, Record<string, ShieldRule> | undefined>)[typeName];
  return fields && Object.prototype.hasOwnProperty.call(fields, fieldName) ? fields[fieldName] : undefined;
}

/**
 * The schema with graphql-shield applied. fallbackRule deny: a field nobody wrote a rule for is
 * refused (and, for a signed-in caller, audited). allowExternalErrors: our typed errors
 * (NOT_FOUND, CONFLICT, ...) reach the client instead of being replaced by shield's generic
 * message.
 *
 * Shield generates a middleware for every field of every object type, the fallback included;
 * only the fields decided `ofAuthorizedParent` are then taken out, one by one. A field nobody
 * decided on keeps its deny wrapper whatever type it is on.
 */
export function applyPermissions(schema: GraphQLSchema): GraphQLSchema {
  const generator = shield(ruleTree as never, {
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
  const middleware = generator.generate(schema) as Record<string, Record<string, unknown>>;
  for (const [typeName, fields] of Object.entries(middleware)) {
    for (const fieldName of Object.keys(fields)) {
      if (decisionFor(typeName, fieldName) === ofAuthorizedParent) delete fields[fieldName];
    }
    if (Object.keys(fields).length === 0) delete middleware[typeName];
  }
  return applyMiddleware(schema, middleware as never);
}
