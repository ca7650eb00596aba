import { parse } from 'graphql';
import { createGraphQLError, createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import { getSchema, type GraphQLContext } from '../../schema/index.ts';
import { authenticateApiToken } from '../auth/api-tokens.ts';
import type { PrismaClient } from '../generated/prisma/client.ts';
import type { Logger } from '../logger.ts';
import type { ToolKeys } from '../lti/tool-keys.ts';

export interface GraphQLDeps {
  prisma: PrismaClient;
  publicUrl: string;
  now: () => Date;
  logger: Logger;
  toolKeys: ToolKeys;
  /** A grade was queued again (retry mutation): deliver it soon. */
  onGradeQueued: () => void;
}

export const GRAPHQL_PATH = '/graphql';
/**
 * Our documents are small (the dashboard's largest is a few hundred tokens). The cap makes
 * a deeply nested document a syntax error instead of a stack overflow (a 500, found by
 * test/fuzz/graphql.test.ts), and bounds the parsing work of huge ones.
 */
export const MAX_DOCUMENT_TOKENS = 2000;
const limitDocumentTokens: Plugin = {
  onParse: ({ setParseFn }) => setParseFn((source, options) => parse(source, { ...options, maxTokens: MAX_DOCUMENT_TOKENS })),
};

/**
 * The GraphQL endpoint. Every request needs `Authorization: Bearer <api token>`;
 * without a valid one the answer is HTTP 401 before any field runs.
 */
export function createGraphQLHandler(deps: GraphQLDeps): YogaServerInstance<object, GraphQLContext> {
  const { prisma, publicUrl, now, logger, toolKeys, onGradeQueued } = deps;
  return createYoga<object, GraphQLContext>({
    schema: getSchema(),
    graphqlEndpoint: GRAPHQL_PATH,
    // GraphiQL loads from a CDN; this server serves nothing from third parties.
    graphiql: false,
    landingPage: false,
    // Anything that is not an expected error is reported as "Unexpected error." and logged.
    maskedErrors: true,
    plugins: [limitDocumentTokens],
    logging: {
      debug: (...args) => logger.debug({ args }, 'graphql'),
      info: (...args) => logger.info({ args }, 'graphql'),
      warn: (...args) => logger.warn({ args }, 'graphql'),
      error: (...args) => logger.error({ err: args[0] }, 'graphql error'),
    },
    context: async ({ request }): Promise<GraphQLContext> => {
      const viewer = await authenticateApiToken(prisma, request.headers.get('authorization'), now());
      if (!viewer) {
        throw createGraphQLError('A valid API token is required: send `Authorization: Bearer <token>`.', {
          extensions: {
            code: 'UNAUTHENTICATED',
            http: { status: 401, headers: { 'WWW-Authenticate': 'Bearer realm="graphql"' } },
          },
        });
      }
      return { prisma, viewer, publicUrl, now, logger, toolKeys, onGradeQueued };
    },
  });
}
