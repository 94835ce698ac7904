import fs from 'node:fs';
import { makeExecutableSchema } from '@graphql-tools/schema';
import { execute, parse } from 'graphql';
import { generateSigningKey, signSessionToken } from '../src/auth/devIssuer';
import { createTokenVerifier, staticKeySource } from '../src/auth/verify';
import { applyPermissions } from '../src/authz/permissions';
import { loadConfig } from '../src/config';
import { createContext } from '../src/context';
import { SCHEMA_FILE } from '../src/graphql/schema';
import { JobsService } from '../src/jobs/service';
import type { Database } from '../src/store/database';
import { openTestDatabase } from './helpers/server';

// A field nobody wrote a rule for meets shield's fallback rule (deny). Today every field of the
// served schema has a decided rule, so no HTTP request reaches the fallback: this suite adds an
// undecided field at schema-build time and executes against it with a really verified token.

let db: Database;
beforeAll(async () => {
  db = await openTestDatabase();
});
afterAll(async () => {
  await db?.close();
});

test("a signed-in caller refused by the fallback rule is FORBIDDEN, and the attempt is on the record with the refused field", async () => {
  const typeDefs = `${fs.readFileSync(SCHEMA_FILE, 'utf8')}\nextend type Query { undecided: String }`;
  const schema = applyPermissions(makeExecutableSchema({ typeDefs, resolvers: { Query: { undecided: () => 'should not be readable' } } }));

  const config = loadConfig({ NODE_ENV: 'test', CLERK_ISSUER: 'https://issuer.test' });
  const key = generateSigningKey();
  const principal = await createTokenVerifier(config.auth, staticKeySource(key.publicPem)).verify(
    await signSessionToken(key, config.auth.issuer, { userId: 'user_fallback', email: 'fb@example.com' }),
  );
  const jobs = new JobsService(db);
  const result = await execute({ schema, document: parse('{ undecided }'), contextValue: createContext({ db, jobs }, principal, { requestId: 'req-fallback' }) });

  expect(result.data?.undecided ?? null).toBeNull();
  expect(result.errors?.map((e) => e.extensions.code)).toEqual(['FORBIDDEN']);
  const rows = await db.query<{ actor_id: string; actor_email: string; request_id: string; after: unknown }>(
    `SELECT actor_id, actor_email, request_id, after FROM audit_events WHERE action = 'access.denied'`,
  );
  expect(rows.rows).toEqual([
    { actor_id: 'user_fallback', actor_email: 'fb@example.com', request_id: 'req-fallback', after: { operation: 'undecided', field: 'Query.undecided' } },
  ]);
});
