/**
 * The peer a user would otherwise pick: GraphQL Yoga 5 with @graphql-yoga/plugin-jwt (RS256,
 * issuer checked) and @envelop/generic-auth protecting every field, serving each caller only
 * their own jobs from memory. Same tokens, same query as jobledger.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { useGenericAuth } from '@envelop/generic-auth';
import { createInlineSigningKeyProvider, extractFromHeader, useJWT } from '@graphql-yoga/plugin-jwt';
import { GraphQLScalarType } from 'graphql';
import { createSchema, createYoga } from 'graphql-yoga';
import { connection, dateTimeSerialize, memoryJobs, PEER_TYPE_DEFS } from './data';

interface Ctx {
  jwt?: { payload?: { sub?: string } };
  currentUser: { id: string };
}

async function main(): Promise<void> {
  const publicPem = process.env.BENCH_PUBLIC_PEM!;
  const data = memoryJobs((process.env.BENCH_USERS ?? '').split(','), Number(process.env.BENCH_JOBS_PER_USER ?? 20));
  const yoga = createYoga({
    schema: createSchema({
      typeDefs: PEER_TYPE_DEFS,
      resolvers: {
        DateTime: new GraphQLScalarType({ name: 'DateTime', serialize: dateTimeSerialize }),
        Query: { jobs: (_p: unknown, args: { first: number }, ctx: Ctx) => connection(data.get(ctx.currentUser.id) ?? [], args.first) },
      },
    }),
    graphiql: false,
    landingPage: false,
    plugins: [
      useJWT({
        signingKeyProviders: [createInlineSigningKeyProvider(publicPem)],
        tokenLookupLocations: [extractFromHeader({ name: 'authorization', prefix: 'Bearer' })],
        tokenVerification: { issuer: process.env.BENCH_ISSUER, algorithms: ['RS256'] },
        reject: { missingToken: true, invalidToken: true },
      }),
      useGenericAuth<{ id: string }, Ctx>({
        mode: 'protect-all',
        resolveUserFn: (ctx) => (ctx.jwt?.payload?.sub ? { id: ctx.jwt.payload.sub } : null),
      }),
    ],
  });
  const server = createServer(yoga);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  console.log(`listening on http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`);
}

void main();
