import { parse } from 'graphql';
import { createGraphQLError, createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import { getSchema, type GraphQLContext } from '../../schema/index.ts';
import { authenticateApiToken } from '../auth/api-tokens.ts';
import type { PrismaClient } from '../generated/prisma/client.ts';
import type { Logger } from '../logger.ts';
import type { ToolKeys } from '../lti/tool-keys.ts';
import { useQueryLimits } from './limits.ts';
import type { OutboundPolicy } from '../http/outbound-policy.ts';

export interface GraphQLDeps {
  prisma: PrismaClient;
  publicUrl: string;
  now: () => Date;
  logger: Logger;
  toolKeys: ToolKeys;
  /** Which addresses registration URLs may point at (checked when saved). */
  outboundPolicy: OutboundPolicy;
  /** A grade was queued again (retry mutation): deliver it soon. */
  onGradeQueued: () => void;
}

export const GRAPHQL_PATH = '/graphql';

/**
 * The GraphQL endpoint. Every request needs `Authorization: Bearer <api token>`;
 * without a valid one the answer is HTTP 401 before any field runs.
 */
export function createGraphQLHandler(deps: GraphQLDeps): YogaServerInstance<object, GraphQLContext> {
  const { prisma, publicUrl, now, logger, toolKeys, outboundPolicy, onGradeQueued } = deps;
  return createYoga<object, GraphQLContext>({
    schema: getSchema(),
    graphqlEndpoint: GRAPHQL_PATH,
    // GraphiQL loads from a CDN; this server serves nothing from third parties.
    graphiql: false,
    landingPage: false,
    // Anything that is not an expected error is reported as "Unexpected error." and logged.
    maskedErrors: true,
    // Size, tokens, depth, aliases and cost of each document (server/graphql/limits.ts).
    plugins: [useQueryLimits()],
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
      return { prisma, viewer, publicUrl, now, logger, toolKeys, outboundPolicy, onGradeQueued };
    },
  });
}
