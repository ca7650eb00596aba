import SchemaBuilder from '@pothos/core';
import ErrorsPlugin from '@pothos/plugin-errors';
import PrismaPlugin from '@pothos/plugin-prisma';
import RelayPlugin, { decodeGlobalID } from '@pothos/plugin-relay';
import { GraphQLError, isObjectType, Kind, type GraphQLSchema } from 'graphql';
import { Prisma } from '../server/generated/prisma/client.ts';
import type PrismaTypes from '../server/generated/pothos-types.ts';
import { getDatamodel } from '../server/generated/pothos-types.ts';
import type { GraphQLContext } from './context.ts';
import { isPlausibleId } from './ids.ts';

/** Default and largest page sizes for every connection. */
export const PAGE = { defaultSize: 20, maxSize: 100 } as const;
const PAGE_DEFAULT = PAGE.defaultSize;
const PAGE_MAX = PAGE.maxSize;

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
    // A malformed global ID decodes to no type at all instead of throwing before the node
    // resolver runs: node(id) then answers null for it, as its description promises.
    decodeGlobalID: (globalID) => decodeGlobalIDOrNothing(globalID),
    nodeQueryOptions: {
      description:
        'Fetches any object you own by its global ID. Null when it does not exist, is not yours, or the ID is not one ' +
        'this API handed out (malformed, of an unknown type, or holding an impossible id): a bad ID is never an error.',
      args: { id: { description: 'A global ID, e.g. `App.id`.' } },
      resolve: async (_root, { id }, _ctx, info, resolveNode) => {
        // Checked here, before any loader: an id that cannot exist must not reach a query
        // (a NUL makes PostgreSQL fail, which would be an unexpected error).
        if (!isNodeType(info.schema, id.typename) || !isPlausibleId(id.id)) return null;
        // Node loaders use findUniqueOrThrow scoped to the viewer: "not found" is an answer
        // (null), not an error. Anything else still surfaces (masked).
        try {
          return await resolveNode(id);
        } catch (err) {
          if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2025') return null;
          throw err;
        }
      },
    },
    nodesQueryOptions: false,
    nodeTypeOptions: { description: 'An object with a global ID: fetch any of yours again with `node(id)`.' },
    idFieldOptions: {
      description: 'Global ID: opaque (do not parse it), stable, and unique across all types. Use it with `node(id)` and in mutation inputs.',
    },
    edgesFieldOptions: { nullable: false, description: 'The items of this page, in the order of the list, each with its cursor.' },
    nodeFieldOptions: { nullable: false, description: 'The item.' },
    cursorFieldOptions: { description: 'Where this item is in the list: pass it as `after` (or `before`) to page on from it.' },
    pageInfoFieldOptions: { description: 'Whether there are more pages, and the cursors to fetch them.' },
    pageInfoTypeOptions: { description: 'Where a page sits in its list (Relay cursor connections).' },
    hasNextPageFieldOptions: {
      description:
        'Paging forwards (`first`/`after`): whether more items follow this page. Paging backwards (`last` or `before`): ' +
        'true when `before` was given, else false.',
    },
    hasPreviousPageFieldOptions: {
      description:
        'Paging backwards (`last` or `before`): whether more items precede this page. Paging forwards: true when `after` ' +
        'was given, else false.',
    },
    startCursorFieldOptions: { description: "The first edge's cursor (pass it as `before` for the previous page); null for an empty page." },
    endCursorFieldOptions: { description: "The last edge's cursor (pass it as `after` for the next page); null for an empty page." },
    firstArgOptions: {
      description:
        `Page size, from the start of the list (or after \`after\`): 0–${PAGE_MAX}, more counts as ${PAGE_MAX}. ` +
        `Without \`first\` and \`last\`: ${PAGE_DEFAULT}. Not together with \`before\`.`,
    },
    lastArgOptions: {
      description:
        `Page size, from the end of the list (or before \`before\`): 0–${PAGE_MAX}, more counts as ${PAGE_MAX}. ` +
        'Not together with `after`. When `first` is given too, `first` is the page size (still taken from the end).',
    },
    afterArgOptions: {
      description:
        'Start after this cursor (`pageInfo.endCursor`, or an edge\'s `cursor`, from this same list). A cursor this API ' +
        'did not hand out is refused before anything runs: an error with `extensions.code` BAD_CURSOR.',
    },
    beforeArgOptions: {
      description:
        'End before this cursor (`pageInfo.startCursor`, or an edge\'s `cursor`, from this same list), paging backwards. ' +
        'Not together with `after` or `first`. A cursor this API did not hand out is refused like a bad `after`.',
    },
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

builder.queryType({
  description:
    'What you can read. Every request needs an API token; apps, registrations, launches, grades and tokens are only ever your own.',
});
builder.mutationType({
  description:
    'What you can change. Expected failures are members of each result union (see `interface Error`), and then nothing was changed.',
});

/** A global ID's parts, or no type at all (which no resolver knows) when it is malformed. */
function decodeGlobalIDOrNothing(globalID: string): { typename: string; id: string } {
  try {
    return decodeGlobalID(globalID);
  } catch {
    return { typename: '', id: '' };
  }
}

/** An object type implementing Node: one node(id) can load (not Query, an error type or an unknown name). */
function isNodeType(schema: GraphQLSchema, typename: string): boolean {
  const type = typename ? schema.getType(typename) : undefined;
  return isObjectType(type) && type.getInterfaces().some((i) => i.name === 'Node');
}
