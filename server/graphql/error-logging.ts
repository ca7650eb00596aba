import type { GraphQLError } from 'graphql';
import { maskError, type Plugin, type YogaServerOptions } from 'graphql-yoga';
import type { Logger } from '../logger.ts';

/** What app.ts passes with each GraphQL request: its logger (`reqId`, `component: 'graphql'`). */
export interface GraphQLServerContext {
  logger: Logger;
}

type MaskedErrors = Exclude<YogaServerOptions<GraphQLServerContext, object>['maskedErrors'], boolean | undefined>;

/**
 * Unexpected errors (the ones answered as "Unexpected error.") logged with the request's
 * logger, so they carry its reqId. Yoga's own logging is one logger for all requests; it is
 * turned off (createYoga `logging: false`), and this takes over its one useful line.
 *
 * `maskedErrors` masks as yoga does and remembers each masked error's original; the plugin
 * logs the original of every unexpected error in the answer, which every path (parsing,
 * context, execution) goes through with the request's server context.
 */
export function unexpectedErrorLogging(): { maskedErrors: MaskedErrors; plugin: Plugin<object, GraphQLServerContext> } {
  const originals = new WeakMap<Error, unknown>();
  return {
    maskedErrors: {
      // Never yoga's development mode, whatever NODE_ENV says: it would add the original
      // error's message and stack (a Prisma error's SQL) to the answer's extensions.
      isDev: false,
      maskError(error, message) {
        const masked = maskError(error, message, false);
        if (masked !== error) originals.set(masked, error);
        return masked;
      },
    },
    plugin: {
      onResultProcess({ result, serverContext }) {
        // Subscriptions and incremental delivery (async iterables) are not served here.
        if (Symbol.asyncIterator in result) return;
        for (const { errors } of Array.isArray(result) ? result : [result]) {
          for (const error of (errors ?? []) as readonly GraphQLError[]) {
            if (error.extensions?.['unexpected'] !== true) continue;
            serverContext.logger.error({ err: originals.get(error) ?? error }, 'graphql error');
          }
        }
      },
    },
  };
}
