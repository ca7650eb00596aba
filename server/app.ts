import { createServerAdapter, type ServerAdapter } from '@whatwg-node/server';
import type { Config } from './config.ts';
import type { Database } from './db/client.ts';
import { createGraphQLHandler, GRAPHQL_PATH } from './graphql/yoga.ts';
import { ltiErrorResponse } from './http/error-page.ts';
import type { FetchLike } from './http/limited-fetch.ts';
import type { Logger } from './logger.ts';
import { deleteExpiredLoginStates } from './lti/cleanup.ts';
import type { LtiDeps } from './lti/deps.ts';
import { LtiError } from './lti/errors.ts';
import { handleLaunch } from './lti/launch.ts';
import { handleLogin } from './lti/login.ts';
import { PlatformKeysets } from './lti/platform-keysets.ts';
import { ToolKeys } from './lti/tool-keys.ts';
import { LTI_ROUTE_PREFIX } from './lti/tool-urls.ts';

export interface AppDeps {
  db: Database;
  logger: Logger;
  /** The clock; tests freeze it. */
  now?: () => Date;
  /** Outbound HTTP (platform keysets, token and score endpoints). */
  fetch?: FetchLike;
}

export interface App {
  /** Handles one request in-process (tests) — the same code path as the HTTP server. */
  fetch(request: Request): Promise<Response>;
  /** A Node `http` request listener. */
  nodeHandler: ServerAdapter<object, { handle: (request: Request) => Promise<Response> }>;
  toolKeys: ToolKeys;
  keysets: PlatformKeysets;
  /** Periodic housekeeping (expired logins); returns a function that stops it. */
  startBackgroundJobs(): () => void;
}

/** Our JWKS may be cached this long: key rotation publishes new keys longer than this ahead. */
export const JWKS_MAX_AGE_SECONDS = 300;
const LOGIN_STATE_TTL_MS = 10 * 60_000;
const CLOCK_TOLERANCE_SECONDS = 5;
const CLEANUP_INTERVAL_MS = 60_000;

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' };
const APP_ROUTE = /^\/lti\/apps\/([0-9a-fA-F-]{36})\/(login|launch)$/;

/**
 * Builds the whole server from its configuration and dependencies. It reads no
 * environment and opens no sockets: `main.ts` does that.
 */
export function createApp(config: Config, deps: AppDeps): App {
  const now = deps.now ?? (() => new Date());
  const { prisma } = deps.db;
  const logger = deps.logger;
  const basePath = new URL(config.publicUrl).pathname.replace(/\/$/, '');

  const keysets = new PlatformKeysets({
    fetch: deps.fetch ?? ((url, init) => fetch(url, init)),
    logger: logger.child({ component: 'keysets' }),
  });
  const toolKeys = new ToolKeys(
    prisma,
    {
      rotationLeadMs: config.toolKeyRotationLeadSeconds * 1000,
      retireGraceMs: config.toolKeyRetireGraceSeconds * 1000,
    },
    now,
    logger.child({ component: 'tool-keys' }),
  );
  const lti: LtiDeps = {
    prisma,
    publicUrl: config.publicUrl,
    now,
    logger: logger.child({ component: 'lti' }),
    keysets,
    loginStateTtlMs: LOGIN_STATE_TTL_MS,
    launchCredentialTtlMs: config.launchCredentialTtlSeconds * 1000,
    clockToleranceSeconds: CLOCK_TOLERANCE_SECONDS,
  };
  const graphql = createGraphQLHandler({
    prisma,
    publicUrl: config.publicUrl,
    now,
    logger: logger.child({ component: 'graphql' }),
    toolKeys,
  });

  async function ltiRoute(kind: 'login' | 'launch', appId: string, request: Request): Promise<Response> {
    try {
      return kind === 'login' ? await handleLogin(request, appId, lti) : await handleLaunch(request, appId, lti);
    } catch (err) {
      if (err instanceof LtiError) {
        lti.logger.warn({ route: kind, code: err.code, reason: err.message, appId, ...err.context }, 'lti request refused');
        return ltiErrorResponse(err, err.status === 405 ? { allow: kind === 'login' ? 'GET, POST' : 'POST' } : {});
      }
      lti.logger.error({ route: kind, appId, err }, 'lti request failed');
      return ltiErrorResponse(new LtiError('ERR_LTI_INTERNAL', 'unexpected error'));
    }
  }

  async function handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    // Behind a proxy that keeps PUBLIC_URL's path prefix, routes live under it.
    const pathname = basePath && url.pathname.startsWith(`${basePath}/`) ? url.pathname.slice(basePath.length) : url.pathname;
    if (pathname === GRAPHQL_PATH) return graphql.fetch(request);
    const appRoute = APP_ROUTE.exec(pathname);
    if (appRoute) return ltiRoute(appRoute[2] as 'login' | 'launch', appRoute[1]!.toLowerCase(), request);
    if (pathname === `${LTI_ROUTE_PREFIX}/jwks`) {
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        return new Response(null, { status: 405, headers: { allow: 'GET, HEAD' } });
      }
      return new Response(JSON.stringify(await toolKeys.publishedJwks()), {
        headers: {
          'content-type': 'application/json; charset=utf-8',
          'cache-control': `public, max-age=${JWKS_MAX_AGE_SECONDS}`,
          'access-control-allow-origin': '*',
        },
      });
    }
    if (pathname === '/healthz' && (request.method === 'GET' || request.method === 'HEAD')) {
      return new Response(JSON.stringify({ status: 'ok' }), { headers: JSON_HEADERS });
    }
    return new Response(JSON.stringify({ error: 'not_found' }), { status: 404, headers: JSON_HEADERS });
  }

  function startBackgroundJobs(): () => void {
    const timer = setInterval(() => {
      deleteExpiredLoginStates(prisma, now()).then(
        (count) => count > 0 && logger.debug({ count }, 'expired logins deleted'),
        (err: unknown) => logger.warn({ err }, 'login cleanup failed'),
      );
    }, CLEANUP_INTERVAL_MS);
    timer.unref();
    return () => clearInterval(timer);
  }

  const nodeHandler = createServerAdapter(handle);
  return {
    fetch: (request) => Promise.resolve(nodeHandler.fetch(request)),
    nodeHandler: nodeHandler as never,
    toolKeys,
    keysets,
    startBackgroundJobs,
  };
}
