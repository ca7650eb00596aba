import SchemaBuilder from '@pothos/core';
import ErrorsPlugin from '@pothos/plugin-errors';
import PrismaPlugin from '@pothos/plugin-prisma';
import RelayPlugin from '@pothos/plugin-relay';
import { GraphQLError, Kind } from 'graphql';
import { Prisma } from '../server/generated/prisma/client.ts';
import type PrismaTypes from '../server/generated/pothos-types.ts';
import { getDatamodel } from '../server/generated/pothos-types.ts';
import type { GraphQLContext } from './context.ts';

export const builder = new SchemaBuilder<{
  Context: GraphQLContext;
  PrismaTypes: PrismaTypes;
  Scalars: { DateTime: { Input: Date; Output: Date } };
  DefaultFieldNullability: false;
  DefaultEdgesNullability: false;
  DefaultNodeNullability: false;
}>({
  // Fields are non-null unless they say otherwise: clients get honest types.
  defaultFieldNullability: false,
  plugins: [ErrorsPlugin, PrismaPlugin, RelayPlugin],
  prisma: {
    // The client is per server instance (dependency injection), so it comes from context.
    client: (ctx) => ctx.prisma,
    dmmf: getDatamodel(),
    exposeDescriptions: false,
    filterConnectionTotalCount: true,
    // A forgotten `...query` spread means N+1 queries; fail loudly in development and tests.
    onUnusedQuery: process.env.NODE_ENV === 'production' ? null : 'error',
  },
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    nodeQueryOptions: {
      description: 'Fetches any object you own by its global ID; null when it does not exist or is not yours.',
      // Node loaders use findUniqueOrThrow scoped to the viewer: "not found" is an answer
      // (null), not an error. Anything else still surfaces (masked).
      resolve: async (_root, { id }, _ctx, _info, resolveNode) => {
        try {
          return await resolveNode(id);
        } catch (err) {
          if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2025') return null;
          throw err;
        }
      },
    },
    nodesQueryOptions: false,
    edgesFieldOptions: { nullable: false },
    nodeFieldOptions: { nullable: false },
  },
  errors: { defaultTypes: [] },
});

builder.scalarType('DateTime', {
  description: 'An instant, serialised as an ISO 8601 string in UTC with milliseconds.',
  serialize: (value) => value.toISOString(),
  parseValue: (value) => parseDateTime(value),
  parseLiteral: (ast) => {
    if (ast.kind !== Kind.STRING) throw new GraphQLError('DateTime must be a string');
    return parseDateTime(ast.value);
  },
});

function parseDateTime(value: unknown): Date {
  const date = typeof value === 'string' ? new Date(value) : new Date(Number.NaN);
  if (Number.isNaN(date.getTime())) throw new GraphQLError('DateTime must be an ISO 8601 string');
  return date;
}

builder.queryType({});
builder.mutationType({});

/** Default and largest page sizes for every connection. */
export const PAGE = { defaultSize: 20, maxSize: 100 } as const;
