import fs from 'node:fs';
import { makeExecutableSchema } from '@graphql-tools/schema';
import { execute, isIntrospectionType, isObjectType, parse, type GraphQLSchema } from 'graphql';
import { generateSigningKey, signSessionToken } from '../src/auth/devIssuer';
import type { Principal } from '../src/auth/principal';
import { createTokenVerifier, staticKeySource } from '../src/auth/verify';
import { applyPermissions, decisionFor } from '../src/authz/permissions';
import { loadConfig } from '../src/config';
import { createContext } from '../src/context';
import { createResolvers } from '../src/graphql/resolvers';
import { buildSchema, SCHEMA_FILE } from '../src/graphql/schema';
import { JobEvents } from '../src/jobs/events';
import { JobsService } from '../src/jobs/service';
import type { Database } from '../src/store/database';
import { openTestDatabase } from './helpers/server';

// Authorization fails closed: every field of the served schema has a decision written for it,
// and a field nobody decided on meets shield's fallback rule (deny), whatever type it is on.
// The served schema has no undecided field, so no HTTP request reaches the fallback: these
// tests add undecided fields at schema-build time, the way buildSchema assembles the schema,
// and execute against them with really verified tokens.

let db: Database;
let jobs: JobsService;
let key: ReturnType<typeof generateSigningKey>;
const config = loadConfig({ NODE_ENV: 'test', CLERK_ISSUER: 'https://issuer.test' });
beforeAll(async () => {
  db = await openTestDatabase();
  jobs = new JobsService(db);
  key = generateSigningKey();
});
afterAll(async () => {
  await db?.close();
});

const principalOf = async (userId: string, opts: { email?: string; role?: 'auditor' | 'admin' } = {}): Promise<Principal> =>
  createTokenVerifier(config.auth, staticKeySource(key.publicPem)).verify(await signSessionToken(key, config.auth.issuer, { userId, ...opts }));

/** `Type.field` of every field of every object type that has no written decision. */
function undecidedFields(schema: GraphQLSchema): string[] {
  const out: string[] = [];
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || isIntrospectionType(type)) continue;
    for (const field of Object.keys(type.getFields())) if (!decisionFor(type.name, field)) out.push(`${type.name}.${field}`);
  }
  return out;
}

const EXTENSION = `
extend type Query { undecided: String }
extend type Job { internalNote: String }
extend type AuditEvent { rawRow: String }
`;

/** The served schema, with fields added that no rule was written for. */
function extendedSchema(): GraphQLSchema {
  const typeDefs = `${fs.readFileSync(SCHEMA_FILE, 'utf8')}\n${EXTENSION}`;
  const extra = {
    Query: { undecided: () => 'should not be readable' },
    Job: { internalNote: () => 'should not be readable' },
    AuditEvent: { rawRow: () => 'should not be readable' },
  };
  return applyPermissions(makeExecutableSchema({ typeDefs, resolvers: [createResolvers(new JobEvents(db, jobs)) as never, extra] }));
}

async function run(schema: GraphQLSchema, principal: Principal, query: string, variables: Record<string, unknown> = {}, requestId = `req-${Math.random()}`) {
  return execute({ schema, document: parse(query), variableValues: variables, contextValue: createContext({ db, jobs }, principal, { requestId }) });
}

const denials = async (requestId: string) =>
  (await db.query<{ actor_id: string; after: { field: string } }>(`SELECT actor_id, after FROM audit_events WHERE action = 'access.denied' AND request_id = $1`, [requestId])).rows;

test('every field of every object type in the served schema has a written decision', () => {
  const served = buildSchema(new JobEvents(db, jobs));
  expect(undecidedFields(served)).toEqual([]);
  // The walk sees what it is meant to catch.
  expect(undecidedFields(extendedSchema()).sort()).toEqual(['AuditEvent.rawRow', 'Job.internalNote', 'Query.undecided']);
});

test('a signed-in caller refused by the fallback rule is FORBIDDEN, and the attempt is on the record with the refused field', async () => {
  const principal = await principalOf('user_fallback', { email: 'fb@example.com' });
  const result = await run(extendedSchema(), principal, '{ undecided }', {}, 'req-fallback');

  expect(result.data?.undecided ?? null).toBeNull();
  expect(result.errors?.map((e) => e.extensions.code)).toEqual(['FORBIDDEN']);
  const rows = await db.query<{ actor_id: string; actor_email: string; request_id: string; after: unknown }>(
    `SELECT actor_id, actor_email, request_id, after FROM audit_events WHERE action = 'access.denied' AND request_id = 'req-fallback'`,
  );
  expect(rows.rows).toEqual([
    { actor_id: 'user_fallback', actor_email: 'fb@example.com', request_id: 'req-fallback', after: { operation: 'undecided', field: 'Query.undecided' } },
  ]);
});

test("a field added to Job without a decision is refused to the job's own owner, while the job's decided fields are read", async () => {
  const schema = extendedSchema();
  const owner = await principalOf('user_owner_fb');
  const created = await run(schema, owner, 'mutation { createJob(input: { title: "Mine", ursDocument: "URS-001 The system shall log." }) { id } }');
  expect(created.errors).toBeUndefined();
  const id = (created.data as { createJob: { id: string } }).createJob.id;

  const plain = await run(schema, owner, 'query($id: ID!) { job(id: $id) { id title } }', { id });
  expect(plain.errors).toBeUndefined();
  expect(plain.data).toEqual({ job: { id, title: 'Mine' } });

  const withNote = await run(schema, owner, 'query($id: ID!) { job(id: $id) { id title internalNote } }', { id }, 'req-job-note');
  expect(withNote.data).toEqual({ job: { id, title: 'Mine', internalNote: null } });
  expect(withNote.errors?.map((e) => [e.extensions.code, e.path])).toEqual([['FORBIDDEN', ['job', 'internalNote']]]);
  expect(await denials('req-job-note')).toEqual([{ actor_id: 'user_owner_fb', after: { operation: 'internalNote', field: 'Job.internalNote' } }]);

  // The same through a list: every item's undecided field is refused, and recorded once.
  const listed = await run(schema, owner, '{ jobs { edges { node { id internalNote } } } }', {}, 'req-list-note');
  expect((listed.data as any).jobs.edges).toEqual([{ node: { id, internalNote: null } }]);
  expect(listed.errors?.map((e) => e.extensions.code)).toEqual(['FORBIDDEN']);
  expect(await denials('req-list-note')).toHaveLength(1);
});

test('a field added to AuditEvent without a decision is refused even to an auditor', async () => {
  const auditor = await principalOf('user_qa_fb', { role: 'auditor' });
  const result = await run(extendedSchema(), auditor, '{ auditEvents(first: 2) { edges { node { id action rawRow } } } }', {}, 'req-audit-raw');
  const nodes = (result.data as any).auditEvents.edges.map((e: any) => e.node);
  expect(nodes.length).toBeGreaterThan(0);
  for (const n of nodes) expect(n).toMatchObject({ id: expect.any(String), action: expect.any(String), rawRow: null });
  expect(new Set(result.errors?.map((e) => e.extensions.code))).toEqual(new Set(['FORBIDDEN']));
  expect(await denials('req-audit-raw')).toEqual([{ actor_id: 'user_qa_fb', after: { operation: 'rawRow', field: 'AuditEvent.rawRow' } }]);
});
