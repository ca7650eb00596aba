import { getOperationAST, parse } from 'graphql';
import { createGraphQLError, createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import { failedGradeCounts, getSchema, type GraphQLContext } from '../../schema/index.ts';
import { authenticateApiToken } from '../auth/api-tokens.ts';
import type { PrismaClient } from '../generated/prisma/client.ts';
import type { ToolKeys } from '../lti/tool-keys.ts';
import { unexpectedErrorLogging, type GraphQLServerContext } from './error-logging.ts';
import { useQueryLimits } from './limits.ts';
import { useCursorCheck } from './cursors.ts';
import { UNAUTHENTICATED_MESSAGE, useAuthenticationFirst } from './authentication.ts';
import type { OutboundPolicy } from '../http/outbound-policy.ts';

export interface GraphQLDeps {
  prisma: PrismaClient;
  publicUrl: string;
  now: () => Date;
  toolKeys: ToolKeys;
  /** Which addresses registration URLs may point at (checked when saved). */
  outboundPolicy: OutboundPolicy;
  /** A grade was queued again (retry mutation): deliver it soon. */
  onGradeQueued: () => void;
  /**
   * A mutation ran (it may have changed an app or a registration): this process forgets the
   * registrations it cached for logins and launches, so the owner's change applies here at once.
   */
  onMutationDone?: () => void;
}

export const GRAPHQL_PATH = '/graphql';

/** Calls `done` after every executed mutation, whatever its result (a failure may have written too). */
function afterMutations(done: () => void): Plugin {
  return {
    onExecute({ args }) {
      if (getOperationAST(args.document, args.operationName)?.operation !== 'mutation') return;
      return { onExecuteDone: () => done() };
    },
  };
}

/**
 * The GraphQL endpoint. Every request needs `Authorization: Bearer <api token>`;
 * without a valid one the answer is HTTP 401 before any field runs. Each request comes with
 * its logger (`fetch(request, { logger })`): resolvers find it in the context.
 */
export function createGraphQLHandler(deps: GraphQLDeps): YogaServerInstance<GraphQLServerContext, GraphQLContext> {
  const { prisma, publicUrl, now, toolKeys, outboundPolicy, onGradeQueued } = deps;
  const errorLogging = unexpectedErrorLogging();
  const authentication = useAuthenticationFirst((request) => authenticateApiToken(prisma, request.headers.get('authorization'), now()));
  return createYoga<GraphQLServerContext, GraphQLContext>({
    schema: getSchema(),
    graphqlEndpoint: GRAPHQL_PATH,
    // GraphiQL loads from a CDN; this server serves nothing from third parties.
    graphiql: false,
    landingPage: false,
    // Anything that is not an expected error is reported as "Unexpected error." and logged
    // with the request's logger (error-logging.ts).
    maskedErrors: errorLogging.maskedErrors,
    // Size, tokens, depth, aliases and cost of each document (server/graphql/limits.ts);
    // cursors checked before anything runs (server/graphql/cursors.ts).
    plugins: [authentication.plugin, useQueryLimits(), useCursorCheck(), errorLogging.plugin, ...(deps.onMutationDone ? [afterMutations(deps.onMutationDone)] : [])],
    // Yoga's logger is one for all requests, so its lines could not carry a reqId.
    logging: false,
    context: async ({ request, logger }): Promise<GraphQLContext> => {
      // Authenticated before parsing (authentication.ts); the check stays here too, so no
      // operation can ever run without an owner.
      const viewer = authentication.viewerOf(request);
      if (!viewer) {
        throw createGraphQLError(UNAUTHENTICATED_MESSAGE, {
          extensions: {
            code: 'UNAUTHENTICATED',
            http: { status: 401, headers: { 'WWW-Authenticate': 'Bearer realm="graphql"' } },
          },
        });
      }
      return { prisma, viewer, publicUrl, now, logger, toolKeys, outboundPolicy, onGradeQueued, failedGradeCount: failedGradeCounts(prisma) };
    },
  });
}
