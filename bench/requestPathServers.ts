/** The two servers bench/requestPath.ts compares; each runs in its own process. */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { ApolloServer } from '@apollo/server';
import { expressMiddleware } from '@as-integrations/express5';
import { verifyToken } from '@clerk/backend';
import { makeExecutableSchema } from '@graphql-tools/schema';
import express from 'express';
import { applyMiddleware } from 'graphql-middleware';
import { allow, and, deny, rule, shield } from 'graphql-shield';
import { principalFromClaims } from '../src/auth/claims';
import { loadOrCreateDevKey, signSessionToken } from '../src/auth/devIssuer';
import { isAuditor } from '../src/auth/principal';
import { loadConfig } from '../src/config';
import { createContext, type GraphQLContext } from '../src/context';
import { forbidden } from '../src/errors';
import { createResolvers } from '../src/graphql/resolvers';
import { SCHEMA_FILE } from '../src/graphql/schema';
import { JobsService } from '../src/jobs/service';
import { createLogger } from '../src/log';
import { startServer } from '../src/server';
import { migrate } from '../src/store/migrate';
import { openPglite } from '../src/store/pglite';
import { JobEvents } from '../src/transport/jobEvents';

const USER = 'user_bench';

export async function serve(mode: 'ours' | 'baseline', portFile: string): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `jobledger-bench-${mode}-`));
  const config = loadConfig({ NODE_ENV: 'development', PORT: '0', DATA_DIR: dataDir, WORKER_ENABLED: 'false', RATE_LIMIT_PER_MINUTE: '1000000', LOG_LEVEL: 'error' });
  const db = await openPglite(undefined);
  await migrate(db);
  const jobs = new JobsService(db);
  const actor = { actorId: USER, actorEmail: null, sessionId: 'sess_bench', tokenIssuedAt: new Date(), impersonatorId: null, requestId: null, ip: null, userAgent: null };
  let jobId = '';
  for (let i = 0; i < 20; i++) jobId = (await jobs.create(actor, { title: `bench job ${i}`, ursDocument: 'URS-001 The system shall be fast.' })).id;
  const key = loadOrCreateDevKey(dataDir);
  const token = await signSessionToken(key, config.auth.issuer, { userId: USER, ttlSeconds: 3600 });

  let url: string;
  if (mode === 'ours') {
    url = (await startServer(config, { db, log: createLogger('error') })).url;
  } else {
    const jobEvents = new JobEvents(db, jobs);
    const base = makeExecutableSchema({ typeDefs: fs.readFileSync(SCHEMA_FILE, 'utf8'), resolvers: createResolvers(jobEvents) as never });
    const authed = rule({ cache: 'contextual' })((_p, _a, ctx: GraphQLContext) => !!ctx.principal);
    const canRead = rule({ cache: 'strict' })(async (_p, args: { id: string }, ctx: GraphQLContext) => {
      const job = await ctx.loaders.job.load(args.id);
      return !job || job.ownerId === ctx.principal?.userId || isAuditor(ctx.principal) ? true : forbidden();
    });
    const open = ['Viewer', 'Job', 'JobResult', 'TestCase', 'JobEdge', 'JobConnection', 'PageInfo', 'AuditEvent', 'AuditEventEdge', 'AuditEventConnection'];
    const schema = applyMiddleware(
      base,
      shield(
        {
          Query: { viewer: authed, job: and(authed, canRead), jobs: authed, auditEvents: authed },
          Mutation: { createJob: authed, cancelJob: and(authed, canRead) },
          Subscription: { jobUpdated: and(authed, canRead) },
          ...Object.fromEntries(open.map((t) => [t, allow])),
        },
        { fallbackRule: deny, allowExternalErrors: true },
      ),
    );
    const apollo = new ApolloServer<GraphQLContext>({ schema });
    await apollo.start();
    const app = express();
    app.use(
      '/graphql',
      express.json(),
      expressMiddleware(apollo, {
        context: async ({ req }) => {
          const tokenIn = req.headers.authorization?.replace(/^Bearer /i, '');
          const claims = tokenIn ? await verifyToken(tokenIn, { jwtKey: key.publicPem, issuer: config.auth.issuer }) : null;
          return createContext({ db, jobs }, claims ? principalFromClaims(claims as never, config.auth) : null, {});
        },
      }),
    );
    const server = http.createServer(app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
  }
  fs.writeFileSync(portFile, JSON.stringify({ url, token, jobId }));
}
