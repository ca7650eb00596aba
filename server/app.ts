import { createServerAdapter, type ServerAdapter } from '@whatwg-node/server';
import type { Config } from './config.ts';
import type { Database } from './db/client.ts';
import { createGraphQLHandler, GRAPHQL_PATH } from './graphql/yoga.ts';
import type { Logger } from './logger.ts';

export interface AppDeps {
  db: Database;
  logger: Logger;
  /** The clock; tests freeze it. */
  now?: () => Date;
}

export interface App {
  /** Handles one request in-process (tests) — the same code path as the HTTP server. */
  fetch(request: Request): Promise<Response>;
  /** A Node `http` request listener. */
  nodeHandler: ServerAdapter<object, { handle: (request: Request) => Promise<Response> }>;
}

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' };

/**
 * Builds the whole server from its configuration and dependencies. It reads no
 * environment and opens no sockets: `main.ts` does that.
 */
export function createApp(config: Config, deps: AppDeps): App {
  const now = deps.now ?? (() => new Date());
  const graphql = createGraphQLHandler({
    prisma: deps.db.prisma,
    publicUrl: config.publicUrl,
    now,
    logger: deps.logger.child({ component: 'graphql' }),
  });

  async function handle(request: Request): Promise<Response> {
    const { pathname } = new URL(request.url);
    if (pathname === GRAPHQL_PATH) return graphql.fetch(request);
    if (pathname === '/healthz' && (request.method === 'GET' || request.method === 'HEAD')) {
      return new Response(JSON.stringify({ status: 'ok' }), { headers: JSON_HEADERS });
    }
    return new Response(JSON.stringify({ error: 'not_found' }), { status: 404, headers: JSON_HEADERS });
  }

  const nodeHandler = createServerAdapter(handle);
  return { fetch: (request) => Promise.resolve(nodeHandler.fetch(request)), nodeHandler: nodeHandler as never };
}
