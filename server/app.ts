import { readFileSync } from 'node:fs';
import { createServerAdapter, type ServerAdapter } from '@whatwg-node/server';
import { JWKS_MAX_AGE_SECONDS, type Config } from './config.ts';
import type { Database } from './db/client.ts';
import { AccessTokens } from './grades/access-tokens.ts';
import { COMPLETIONS_PATH, handleCompletion } from './grades/completion-route.ts';
import { DeliveryWorker, type DeliveryPolicy } from './grades/delivery-worker.ts';
import { createGraphQLHandler, GRAPHQL_PATH } from './graphql/yoga.ts';
import { createDashboard } from './http/dashboard.ts';
import { createStaticAssets, projectFile } from './http/static-assets.ts';
import { ltiErrorResponse } from './http/error-page.ts';
import type { FetchLike } from './http/limited-fetch.ts';
import type { Logger } from './logger.ts';
import { Metrics } from './metrics.ts';
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
  /** Grade delivery timing (tests shorten it). */
  deliveryPolicy?: Partial<DeliveryPolicy>;
  /** Counters for /metrics; main.ts shares it with the database's statement counter. */
  metrics?: Metrics;
}

export interface App {
  /** Handles one request in-process (tests) — the same code path as the HTTP server. */
  fetch(request: Request): Promise<Response>;
  /** A Node `http` request listener. */
  nodeHandler: ServerAdapter<object, { handle: (request: Request) => Promise<Response> }>;
  toolKeys: ToolKeys;
  keysets: PlatformKeysets;
  accessTokens: AccessTokens;
  deliveryWorker: DeliveryWorker;
  metrics: Metrics;
  /** Grade delivery and housekeeping (expired logins); resolves the returned stop function when stopped. */
  startBackgroundJobs(): () => Promise<void>;
}

/** The widget's URL carries the release version, so it can be cached for a year. */
export const WIDGET_VERSION = (JSON.parse(readFileSync(projectFile('package.json'), 'utf8')) as { version: string }).version;
export const WIDGET_PATH = `/widget/${WIDGET_VERSION}/lti-completion.js`;
export const DEMO_PATH = '/demo/';

const CLOCK_TOLERANCE_SECONDS = 5;

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

  const metrics = deps.metrics ?? new Metrics();
  const outbound: FetchLike = deps.fetch ?? ((url, init) => fetch(url, init));
  // The configured lease and timeout, unless a test passes its own timing.
  const deliveryPolicy: Partial<DeliveryPolicy> = {
    leaseMs: config.gradeDeliveryLeaseSeconds * 1000,
    timeoutMs: config.gradeDeliveryTimeoutSeconds * 1000,
    ...deps.deliveryPolicy,
  };
  const keysets = new PlatformKeysets({
    fetch: outbound,
    logger: logger.child({ component: 'keysets' }),
    nowMs: () => now().getTime(),
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
  const accessTokens = new AccessTokens({
    fetch: outbound,
    ...(deliveryPolicy.timeoutMs ? { timeoutMs: deliveryPolicy.timeoutMs } : {}),
    toolKeys,
    logger: logger.child({ component: 'access-tokens' }),
    nowMs: () => now().getTime(),
  });
  const deliveryWorker = new DeliveryWorker({
    prisma,
    fetch: outbound,
    accessTokens,
    logger: logger.child({ component: 'grades' }),
    now,
    metrics,
    policy: deliveryPolicy,
  });
  metrics.gauges.push(
    { name: 'lti_platform_keyset_fetches_total', help: 'Platform keyset HTTP fetches.', read: () => keysets.fetchCount },
    { name: 'lti_access_token_requests_total', help: 'AGS access token requests.', read: () => accessTokens.requestCount },
    // Shared by all processes: what cleanup and delivery must keep bounded.
    { name: 'lti_login_states', help: 'Login state rows (started logins; expired ones are deleted).', type: 'gauge', read: () => prisma.loginState.count() },
    {
      name: 'lti_grade_outbox_pending',
      help: 'Grades waiting for delivery (PENDING).',
      type: 'gauge',
      read: () => prisma.grade.count({ where: { state: 'PENDING' } }),
    },
  );
  const completionDeps = {
    prisma,
    now,
    logger: logger.child({ component: 'completions' }),
    onGradeQueued: () => deliveryWorker.wake(),
  };
  const assets = createStaticAssets({
    [WIDGET_PATH]: {
      file: projectFile('widget/dist/lti-completion.js'),
      contentType: 'text/javascript; charset=utf-8',
      cacheControl: 'public, max-age=31536000, immutable',
      cors: true,
    },
    [DEMO_PATH]: { file: projectFile('widget/demo/index.html'), contentType: 'text/html; charset=utf-8', cacheControl: 'no-cache' },
    [`${DEMO_PATH}lti-completion.js`]: {
      file: projectFile('widget/dist/lti-completion.js'),
      contentType: 'text/javascript; charset=utf-8',
      cacheControl: 'no-cache',
    },
  });
  const dashboard = createDashboard({ distDir: projectFile('dashboard/dist'), publicUrl: config.publicUrl, widgetPath: WIDGET_PATH });
  const lti: LtiDeps = {
    prisma,
    publicUrl: config.publicUrl,
    now,
    logger: logger.child({ component: 'lti' }),
    keysets,
    loginStateTtlMs: config.loginStateTtlSeconds * 1000,
    launchCredentialTtlMs: config.launchCredentialTtlSeconds * 1000,
    clockToleranceSeconds: CLOCK_TOLERANCE_SECONDS,
  };
  const graphql = createGraphQLHandler({
    prisma,
    publicUrl: config.publicUrl,
    now,
    logger: logger.child({ component: 'graphql' }),
    toolKeys,
    onGradeQueued: () => deliveryWorker.wake(),
  });

  async function ltiRoute(kind: 'login' | 'launch', appId: string, request: Request): Promise<Response> {
    const counter = kind === 'login' ? metrics.logins : metrics.launches;
    try {
      const response = kind === 'login' ? await handleLogin(request, appId, lti) : await handleLaunch(request, appId, lti);
      counter.inc({ outcome: 'ok' });
      return response;
    } catch (err) {
      counter.inc({ outcome: 'refused', code: err instanceof LtiError ? err.code : 'ERR_LTI_INTERNAL' });
      if (err instanceof LtiError) {
        lti.logger.warn({ route: kind, code: err.code, reason: err.message, appId, ...err.context }, 'lti request refused');
        return ltiErrorResponse(err, {
          ...(err.status === 405 ? { allow: kind === 'login' ? 'GET, POST' : 'POST' } : {}),
          // The rest of an oversized body is never read: end the connection after the page.
          ...(err.status === 413 ? { connection: 'close' } : {}),
        });
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
    if (pathname === COMPLETIONS_PATH) {
      try {
        const response = await handleCompletion(request, completionDeps);
        if (request.method === 'POST') metrics.completions.inc({ status: String(response.status) });
        return response;
      } catch (err) {
        logger.error({ err }, 'completion failed');
        return new Response(JSON.stringify({ error: 'server_error', message: 'Try again in a moment.' }), {
          status: 500,
          headers: { 'content-type': 'application/json', 'access-control-allow-origin': '*' },
        });
      }
    }
    if (pathname === DEMO_PATH.slice(0, -1)) {
      // The demo loads ./lti-completion.js: keep its relative URLs working.
      return new Response(null, { status: 308, headers: { location: `${config.publicUrl}${DEMO_PATH}` } });
    }
    const asset = (await assets(pathname, request.method)) ?? (await dashboard(pathname, request.method));
    if (asset) return asset;
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
    if (pathname === '/metrics' && config.metricsToken) {
      if (request.headers.get('authorization') !== `Bearer ${config.metricsToken}`) {
        return new Response('Unauthorized\n', { status: 401, headers: { 'www-authenticate': 'Bearer' } });
      }
      return new Response(await metrics.render(), { headers: { 'content-type': 'text/plain; version=0.0.4' } });
    }
    if (pathname === '/healthz' && (request.method === 'GET' || request.method === 'HEAD')) {
      // Liveness: the process answers. Readiness (below) also needs the database.
      return new Response(JSON.stringify({ status: 'ok' }), { headers: JSON_HEADERS });
    }
    if (pathname === '/readyz' && (request.method === 'GET' || request.method === 'HEAD')) {
      return readiness();
    }
    return new Response(JSON.stringify({ error: 'not_found' }), { status: 404, headers: JSON_HEADERS });
  }

  /** Ready when the database answers and a tool key can sign (a load balancer's check). */
  async function readiness(): Promise<Response> {
    try {
      await prisma.$queryRaw`SELECT 1`;
      await toolKeys.signingKey();
      return new Response(JSON.stringify({ status: 'ready' }), { headers: { ...JSON_HEADERS, 'cache-control': 'no-store' } });
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'not ready');
      return new Response(JSON.stringify({ status: 'unavailable' }), {
        status: 503,
        headers: { ...JSON_HEADERS, 'cache-control': 'no-store' },
      });
    }
  }

  function startBackgroundJobs(): () => Promise<void> {
    deliveryWorker.start();
    const timer = setInterval(() => {
      deleteExpiredLoginStates(prisma, now()).then(
        (count) => count > 0 && logger.debug({ count }, 'expired logins deleted'),
        (err: unknown) => logger.warn({ err }, 'login cleanup failed'),
      );
    }, config.loginCleanupIntervalSeconds * 1000);
    timer.unref();
    return async () => {
      clearInterval(timer);
      await deliveryWorker.stop();
    };
  }

  const nodeHandler = createServerAdapter(handle);
  return {
    fetch: (request) => Promise.resolve(nodeHandler.fetch(request)),
    nodeHandler: nodeHandler as never,
    toolKeys,
    keysets,
    accessTokens,
    deliveryWorker,
    metrics,
    startBackgroundJobs,
  };
}
