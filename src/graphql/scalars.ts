import { GraphQLError, GraphQLScalarType, Kind, type ValueNode } from 'graphql';

const badDate = () =>
  new GraphQLError('DateTime must be an ISO-8601 date-time string, e.g. 2026-01-31T12:00:00Z.', {
    extensions: { code: 'BAD_USER_INPUT' },
  });

function parseDate(value: unknown): Date {
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value)) throw badDate();
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw badDate();
  return d;
}

export const DateTimeScalar = new GraphQLScalarType({
  name: 'DateTime',
  description: 'An ISO-8601 UTC date-time with milliseconds, e.g. 2026-01-31T12:00:00.000Z.',
  serialize: (v) => (v instanceof Date ? v.toISOString() : new Date(v as string).toISOString()),
  parseValue: parseDate,
  parseLiteral: (ast) => (ast.kind === Kind.STRING ? parseDate(ast.value) : (() => { throw badDate(); })()),
});

function literalToJson(ast: ValueNode): unknown {
  switch (ast.kind) {
    case Kind.STRING:
    case Kind.BOOLEAN:
      return ast.value;
    case Kind.INT:
    case Kind.FLOAT:
      return Number(ast.value);
    case Kind.LIST:
      return ast.values.map(literalToJson);
    case Kind.OBJECT:
      return Object.fromEntries(ast.fields.map((f) => [f.name.value, literalToJson(f.value)]));
    default:
      return null;
  }
}

export const JsonScalar = new GraphQLScalarType({
  name: 'JSON',
  description: 'Any JSON value.',
  serialize: (v) => v,
  parseValue: (v) => v,
  parseLiteral: literalToJson,
});
