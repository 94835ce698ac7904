/**
 * The bare baseline: Apollo Server 5 `startStandaloneServer`, in-memory data, no authentication
 * (the caller is named by an unverified `x-bench-user` header so its answer can still be checked).
 * It shows what the GraphQL engine and HTTP layer alone cost on this machine.
 */
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { makeExecutableSchema } from '@graphql-tools/schema';
import { GraphQLScalarType } from 'graphql';
import { connection, dateTimeSerialize, memoryJobs, PEER_TYPE_DEFS } from './data';

interface Ctx {
  user: string;
}

async function main(): Promise<void> {
  const data = memoryJobs((process.env.BENCH_USERS ?? '').split(','), Number(process.env.BENCH_JOBS_PER_USER ?? 20));
  const schema = makeExecutableSchema({
    typeDefs: PEER_TYPE_DEFS,
    resolvers: {
      DateTime: new GraphQLScalarType({ name: 'DateTime', serialize: dateTimeSerialize }),
      Query: { jobs: (_p: unknown, args: { first: number }, ctx: Ctx) => connection(data.get(ctx.user) ?? [], args.first) },
    },
  });
  const server = new ApolloServer<Ctx>({ schema });
  const { url } = await startStandaloneServer(server, {
    listen: { port: 0, host: '127.0.0.1' },
    context: async ({ req }) => ({ user: String(req.headers['x-bench-user'] ?? '') }),
  });
  console.log(`listening on ${url}`);
}

void main();
