import fs from 'node:fs';
import path from 'node:path';
import { makeExecutableSchema } from '@graphql-tools/schema';
import type { GraphQLSchema } from 'graphql';
import { applyPermissions } from '../authz/permissions';
import type { JobEvents } from '../jobs/events';
import { createResolvers } from './resolvers';

export const SCHEMA_FILE = path.join(__dirname, '..', '..', 'schema', 'schema.graphql');

export function buildSchema(jobEvents: JobEvents): GraphQLSchema {
  const typeDefs = fs.readFileSync(SCHEMA_FILE, 'utf8');
  const schema = makeExecutableSchema({ typeDefs, resolvers: createResolvers(jobEvents) as never });
  return applyPermissions(schema);
}
