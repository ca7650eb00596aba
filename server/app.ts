import { timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, RequestListener } from 'node:http';
import { createServerAdapter } from '@whatwg-node/server';
import { JWKS_MAX_AGE_SECONDS, type Config } from './config.ts';
import type { Database } from './db/client.ts';
import { AccessTokens } from './grades/access-tokens.ts';
import { COMPLETIONS_PATH, completionServerError, handleCompletion } from './grades/completion-route.ts';
import { DeliveryWorker, type DeliveryPolicy } from './grades/delivery-worker.ts';
import { createGraphQLHandler, GRAPHQL_PATH } from './graphql/yoga.ts';
import { withBodyWithin } from './http/body-limit.ts';
import { createDashboard } from './http/dashboard.ts';
import { createStaticAssets, projectFile } from './http/static-assets.ts';
import { clientAddress } from './http/client-address.ts';
import { bearerToken } from './http/bearer.ts';
import { ltiErrorResponse } from './http/error-page.ts';
import { createRequestLimits, type LimitedRoute } from './http/request-limits.ts';
import type { FetchLike } from './http/limited-fetch.ts';
import { createOutboundFetch } from './http/outbound-fetch.ts';
import { OutboundPolicy } from './http/outbound-policy.ts';
import type { Logger } from './logger.ts';
import { cachedFor, Metrics } from './metrics.ts';
import { deleteOldRefusals } from './lti/cleanup.ts';
import { LoginStateKey } from './lti/login-state-key.ts';
import type { LtiDeps } from './lti/deps.ts';
import { LtiError, type LtiErrorCode } from './lti/errors.ts';
import { handleLaunch } from './lti/launch.ts';
import { handleLogin } from './lti/login.ts';
import { PlatformKeysets } from './lti/platform-keysets.ts';
import { RegistrationCache } from './lti/registration-cache.ts';
import { RefusalAudit, type RefusalAuditLimits } from './lti/refusal-audit.ts';
import { ToolKeys } from './lti/tool-keys.ts';
import { LTI_ROUTE_PREFIX } from './lti/tool-urls.ts';
import { sha256Hex } from './ids.ts';
import { REQUEST_ID_HEADER, requestIdFor } from './request-id.ts';

export interface AppDeps {
  db: Database;
  logger: Logger;
  /** The clock; tests freeze it. */
  now?: () => Date;
  /**
   * Outbound HTTP (platform keysets, token and score endpoints). Default: the guarded
   * fetch that refuses addresses outside `config.outboundAllowedNetworks` at connect time;
   * an injected fetch replaces that guard (tests simulating platforms in-process).
   */
  fetch?: FetchLike;
  /** Grade delivery timing (tests shorten it). */
  deliveryPolicy?: Partial<DeliveryPolicy>;
  /** Counters for /metrics; main.ts shares it with the database's statement counter. */
  metrics?: Metrics;
  /** Throttle of the refused-launch audit trail (tests lower it). */
  refusalAuditLimits?: Partial<RefusalAuditLimits>;
}

/**
 * What the handler knows besides the request: over HTTP, the Node request (its socket has
 * the peer address); in-process, tests may say which address a request comes from.
 */
export interface RequestContext {
  req?: IncomingMessage;
  clientAddress?: string;
}

export interface App {
  /**
   * Handles one request in-process (tests) — the same code path as the HTTP server.
   * `client.address` stands in for the socket's peer address (default: one "unknown" client).
   */
  fetch(request: Request, client?: { address?: string }): Promise<Response>;
  /** A Node `http` request listener; it times every request (`lti_http_request_duration_seconds`). */
  nodeHandler: RequestListener;
  toolKeys: ToolKeys;
  /** The login state MAC key: read (or, on a new database, created) at start, before serving. */
  loginStateKey: LoginStateKey;
  keysets: PlatformKeysets;
  accessTokens: AccessTokens;
  deliveryWorker: DeliveryWorker;
  metrics: Metrics;
  /** Grade delivery and housekeeping (old launch refusals); resolves the returned stop function when stopped. */
  startBackgroundJobs(): () => Promise<void>;
  /**
   * Hears the other processes' change notices (PostgreSQL; db/change-notices.ts) and drops this
   * process's cached registrations on each. Part of startBackgroundJobs; resolves once listening
   * (or, should the connection fail, once retrying in the background), with the stop function.
   */
  listenForChanges(): Promise<() => Promise<void>>;
}

/** The widget's URL carries the release version, so it can be cached for a year. */
export const WIDGET_VERSION = (JSON.parse(readFileSync(projectFile('package.json'), 'utf8')) as { version: string }).version;
export const WIDGET_PATH = `/widget/${WIDGET_VERSION}/lti-completion.js`;
export const DEMO_PATH = '/demo/';

const CLOCK_TOLERANCE_SECONDS = 5;
/**
 * A stale entry only costs a launch its short road (the write re-checks it), and can at most
 * send a login to the platform for a launch that is then refused (login.ts), so a minute is
 * fine. A mutation on this process clears it at once, and on the other processes through their
 * change notices (db/change-notices.ts); the expiry bounds it when a notice is missed.
 */
const REGISTRATION_CACHE = { ttlMs: 60_000, maxEntries: 10_000 };
/** Scrapes within this time share one count of each table gauge (the outbox). */
const TABLE_GAUGE_CACHE_MS = 5_000;

/** A GraphQL request: a document (at most 20,000 characters, server/graphql/limits.ts) and its variables. */
export const MAX_GRAPHQL_BODY_BYTES = 256 * 1024;

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' };
/**
 * Path and query longer than this get 414. An LTI login GET carries a few hints (well under
 * 2 KiB from Open edX); the launch is a POST. Node's header limit (16 KiB,
 * http/node-server.ts) is the outer bound, this the one with a clear answer.
 */
export const MAX_URL_BYTES = 8 * 1024;
const APP_ROUTE = /^\/lti\/apps\/([0-9a-fA-F-]{36})\/(login|launch)$/;

/** The `route` label of `lti_http_request_duration_seconds`: a fixed, small set. */
export const HTTP_ROUTES = ['lti_login', 'lti_launch', 'lti_jwks', 'completions', 'graphql', 'health', 'metrics', 'other'] as const;
export type HttpRoute = (typeof HTTP_ROUTES)[number];

/** Behind a proxy that keeps PUBLIC_URL's path prefix, routes live under it: the path within it. */
function pathWithinBase(path: string, basePath: string): string {
  return basePath && path.startsWith(`${basePath}/`) ? path.slice(basePath.length) : path;
}

/**
 * The route a request's raw target names, from the path as sent (query dropped, PUBLIC_URL's
 * path prefix stripped). Cheap string tests only: this runs for every request.
 */
export function httpRouteOf(target: string | undefined, basePath: string): HttpRoute {
  const raw = target ?? '';
  const query = raw.indexOf('?');
  const path = pathWithinBase(query === -1 ? raw : raw.slice(0, query), basePath);
  const app = APP_ROUTE.exec(path);
  if (app) return app[2] === 'login' ? 'lti_login' : 'lti_launch';
  if (path === COMPLETIONS_PATH) return 'completions';
  if (path === GRAPHQL_PATH) return 'graphql';
  if (path === `${LTI_ROUTE_PREFIX}/jwks`) return 'lti_jwks';
  if (path === '/healthz' || path === '/readyz') return 'health';
  if (path === '/metrics') return 'metrics';
  return 'other';
}

/** The rate-limit family of a request, if it has one (CORS preflights are not counted). */
function limitedRoute(pathname: string, method: string, appRoute: RegExpExecArray | null): LimitedRoute | undefined {
  if (pathname === GRAPHQL_PATH) return 'graphql';
  if (pathname === COMPLETIONS_PATH) return method === 'OPTIONS' ? undefined : 'completion';
  return appRoute ? (appRoute[2] as 'login' | 'launch') : undefined;
}

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
  const outboundPolicy = new OutboundPolicy(config.outboundAllowedNetworks);
  const outbound: FetchLike = deps.fetch ?? createOutboundFetch({ policy: outboundPolicy });
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
    { secret: config.toolKeyEncryptionSecret, previousSecret: config.toolKeyEncryptionSecretPrevious },
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
    logger: logger.child({ job: 'grade-delivery' }),
    now,
    metrics,
    policy: deliveryPolicy,
  });
  // Word to and from the other processes on this database: their registration caches are
  // cleared when a mutation here announces a change, and this one's when theirs do.
  const changeNotices = deps.db.changeNotices(logger.child({ component: 'change-notices' }));
  metrics.collected.push(
    { name: 'lti_platform_keyset_fetches_total', help: 'Platform keyset HTTP fetches.', type: 'counter', read: () => keysets.fetchCount },
    { name: 'lti_access_token_requests_total', help: 'AGS access token requests.', type: 'counter', read: () => accessTokens.requestCount },
    {
      name: 'lti_change_notices_listening',
      help: "1 while this process hears the other processes' change notices (always on PGlite, which has no others), 0 while it does not.",
      type: 'gauge',
      read: () => (changeNotices.listening ? 1 : 0),
    },
    // Shared by all processes: what cleanup and delivery must keep bounded.
    {
      name: 'lti_grade_outbox_pending',
      help: 'Grades waiting for delivery (state PENDING), read from the database at most every few seconds.',
      type: 'gauge',
      read: cachedFor(TABLE_GAUGE_CACHE_MS, () => now().getTime(), () => prisma.grade.count({ where: { state: 'PENDING' } })),
    },
  );
  const refusalAudit = new RefusalAudit({
    prisma,
    now,
    metrics,
    ...(deps.refusalAuditLimits ? { limits: deps.refusalAuditLimits } : {}),
  });
  const metricsTokenHash = config.metricsToken ? sha256(config.metricsToken) : undefined;
  const completionDeps = { prisma, now, onGradeQueued: () => deliveryWorker.wake() };
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
  const registrations = new RegistrationCache(REGISTRATION_CACHE, () => now().getTime());
  const loginStateKey = new LoginStateKey(prisma);
  // The loggers come with each request (ltiRoute).
  const lti: Omit<LtiDeps, 'logger' | 'requestLogger'> = {
    prisma,
    sql: deps.db.sql,
    publicUrl: config.publicUrl,
    now,
    keysets,
    registrations,
    loginStateKey,
    loginStateTtlMs: config.loginStateTtlSeconds * 1000,
    launchCredentialTtlMs: config.launchCredentialTtlSeconds * 1000,
    clockToleranceSeconds: CLOCK_TOLERANCE_SECONDS,
  };
  const graphql = createGraphQLHandler({
    prisma,
    publicUrl: config.publicUrl,
    now,
    toolKeys,
    outboundPolicy,
    onGradeQueued: () => deliveryWorker.wake(),
    onMutationDone: () => {
      registrations.clear();
      void changeNotices.announce();
    },
  });

  const limits = createRequestLimits({
    limits: config.rateLimits,
    nowMs: () => now().getTime(),
    metrics,
  });

  // Each request's loggers are children of these long-lived ones (with its reqId). Never a
  // child of a per-request logger: pino makes the parent the child's prototype, and V8 turning
  // a fresh object into a prototype cost ~30 µs per child (a grandchild), ~6 % of a launch.
  const ltiLogger = logger.child({ component: 'lti' });
  const graphqlLogger = logger.child({ component: 'graphql' });
  const completionsLogger = logger.child({ component: 'completions' });

  const ltiCounter = (kind: 'login' | 'launch') => (kind === 'login' ? metrics.logins : metrics.launches);

  /** A refusal answered before `ltiRoute` (rate limit, URI too long): counted like the rest, not audited. */
  function countLtiRefusal(kind: 'login' | 'launch', code: LtiErrorCode): void {
    ltiCounter(kind).inc({ outcome: 'refused', code });
  }

  async function ltiRoute(kind: 'login' | 'launch', appId: string, request: Request, log: Logger, reqId: string): Promise<Response> {
    const counter = ltiCounter(kind);
    const ltiLog = ltiLogger.child({ reqId });
    try {
      const deps: LtiDeps = { ...lti, logger: ltiLog, requestLogger: log };
      const response = kind === 'login' ? await handleLogin(request, appId, deps) : await handleLaunch(request, appId, deps);
      counter.inc({ outcome: 'ok' });
      return response;
    } catch (err) {
      const code = err instanceof LtiError ? err.code : 'ERR_LTI_INTERNAL';
      counter.inc({ outcome: 'refused', code });
      // Only refusals pay for the audit row; the success path above runs no extra statement.
      const refusalId = await refusalAudit.record(kind, appId, code, err instanceof LtiError ? err.context.registrationId : undefined, log);
      const audit = refusalId ? { refusalId } : {};
      if (err instanceof LtiError) {
        ltiLog.warn({ route: kind, code: err.code, reason: err.message, appId, ...err.context, ...audit }, 'lti request refused');
        return ltiErrorResponse(err, {
          ...(err.status === 405 ? { allow: kind === 'login' ? 'GET, POST' : 'POST' } : {}),
          // The rest of an oversized body is never read: end the connection after the page.
          ...(err.status === 413 ? { connection: 'close' } : {}),
        });
      }
      ltiLog.error({ route: kind, appId, err, ...audit }, 'lti request failed');
      return ltiErrorResponse(new LtiError('ERR_LTI_INTERNAL', 'unexpected error'));
    }
  }

  /** `log` is the request's logger (its reqId): everything that logs for the request gets it, or its component's logger with the reqId. */
  async function handle(request: Request, context: RequestContext, log: Logger, reqId: string): Promise<Response> {
    const url = new URL(request.url);
    const pathname = pathWithinBase(url.pathname, basePath);
    const appRoute = APP_ROUTE.exec(pathname);
    if (url.pathname.length + url.search.length > MAX_URL_BYTES) {
      // Refused before the LTI route, but counted with its refusals all the same.
      if (appRoute) countLtiRefusal(appRoute[2] as 'login' | 'launch', 'ERR_LTI_URI_TOO_LONG');
      return uriTooLong(pathname, log);
    }
    const limited = limitedRoute(pathname, request.method, appRoute);
    if (limited) {
      const address = clientAddress(
        context.clientAddress ?? context.req?.socket.remoteAddress,
        request.headers.get('x-forwarded-for'),
        config.trustProxyHops,
      );
      const refused = limits.refuse(limited, request, address, log);
      if (refused) {
        // Counted per request like every other refusal (the log has one line per episode).
        if (limited === 'login' || limited === 'launch') countLtiRefusal(limited, 'ERR_LTI_RATE_LIMITED');
        else if (limited === 'completion' && request.method === 'POST') metrics.completions.inc({ status: '429' });
        return refused;
      }
    }
    if (pathname === GRAPHQL_PATH) {
      const body = await withBodyWithin(request, MAX_GRAPHQL_BODY_BYTES);
      if ('tooLarge' in body) {
        log.warn({ reason: body.tooLarge }, 'graphql body too large');
        return new Response(
          JSON.stringify({ errors: [{ message: `The request body is over ${MAX_GRAPHQL_BODY_BYTES} bytes.`, extensions: { code: 'BODY_TOO_LARGE' } }] }),
          // The rest of the body is never read: end the connection after the answer.
          { status: 413, headers: { ...JSON_HEADERS, connection: 'close' } },
        );
      }
      return graphql.fetch(body.request, { logger: graphqlLogger.child({ reqId }) });
    }
    if (pathname === COMPLETIONS_PATH) {
      try {
        const response = await handleCompletion(request, { ...completionDeps, logger: completionsLogger.child({ reqId }) });
        if (request.method === 'POST') metrics.completions.inc({ status: String(response.status) });
        return response;
      } catch (err) {
        log.error({ err }, 'completion failed');
        if (request.method === 'POST') metrics.completions.inc({ status: '500' });
        return completionServerError();
      }
    }
    if (pathname === DEMO_PATH.slice(0, -1)) {
      // The demo loads ./lti-completion.js: keep its relative URLs working.
      return new Response(null, { status: 308, headers: { location: `${config.publicUrl}${DEMO_PATH}` } });
    }
    const asset = (await assets(pathname, request.method)) ?? (await dashboard(pathname, request.method));
    if (asset) return asset;
    if (appRoute) return ltiRoute(appRoute[2] as 'login' | 'launch', appRoute[1]!.toLowerCase(), request, log, reqId);
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
    if (pathname === '/metrics' && metricsTokenHash) {
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        return new Response(null, { status: 405, headers: { allow: 'GET, HEAD' } });
      }
      const presented = bearerToken(request.headers.get('authorization'));
      // Equal-length digests compared in constant time: the token does not leak by timing.
      if (presented === undefined || !timingSafeEqual(sha256(presented), metricsTokenHash)) {
        return new Response('Unauthorized\n', { status: 401, headers: { 'www-authenticate': 'Bearer' } });
      }
      return new Response(await metrics.render(), { headers: { 'content-type': 'text/plain; version=0.0.4', 'cache-control': 'no-store' } });
    }
    if (pathname === '/healthz' && (request.method === 'GET' || request.method === 'HEAD')) {
      // Liveness: the process answers. Readiness (below) also needs the database.
      return new Response(JSON.stringify({ status: 'ok' }), { headers: JSON_HEADERS });
    }
    if (pathname === '/readyz' && (request.method === 'GET' || request.method === 'HEAD')) {
      return readiness(log);
    }
    return new Response(JSON.stringify({ error: 'not_found' }), { status: 404, headers: JSON_HEADERS });
  }

  function uriTooLong(pathname: string, log: Logger): Response {
    log.warn({ path: pathname.slice(0, 200) }, 'request URI too long');
    if (pathname.startsWith(`${LTI_ROUTE_PREFIX}/`)) {
      return ltiErrorResponse(new LtiError('ERR_LTI_URI_TOO_LONG', `URI over ${MAX_URL_BYTES} bytes`));
    }
    return new Response(JSON.stringify({ error: 'uri_too_long', message: `Path and query are limited to ${MAX_URL_BYTES} bytes.` }), {
      status: 414,
      headers: JSON_HEADERS,
    });
  }

  /** Ready when the database answers and a tool key can sign (a load balancer's check). */
  async function readiness(log: Logger): Promise<Response> {
    try {
      await prisma.$queryRaw`SELECT 1`;
      await toolKeys.signingKey();
      await loginStateKey.get();
      return new Response(JSON.stringify({ status: 'ready' }), { headers: { ...JSON_HEADERS, 'cache-control': 'no-store' } });
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'not ready');
      return new Response(JSON.stringify({ status: 'unavailable' }), {
        status: 503,
        headers: { ...JSON_HEADERS, 'cache-control': 'no-store' },
      });
    }
  }

  function listenForChanges(): Promise<() => Promise<void>> {
    return changeNotices.listen(() => registrations.clear());
  }

  function startBackgroundJobs(): () => Promise<void> {
    deliveryWorker.start();
    const listening = listenForChanges();
    const cleanupLog = logger.child({ job: 'refusal-cleanup' });
    const timer = setInterval(() => {
      deleteOldRefusals(prisma, now()).then(
        (count) => count > 0 && cleanupLog.debug({ count }, 'old launch refusals deleted'),
        (err: unknown) => cleanupLog.warn({ err }, 'launch refusal cleanup failed'),
      );
    }, config.loginCleanupIntervalSeconds * 1000);
    timer.unref();
    return async () => {
      clearInterval(timer);
      await (await listening)();
      await deliveryWorker.stop();
    };
  }

  /**
   * Every request has an id: on each line logged for it (its own child logger, passed down
   * to everything that logs while handling it) and echoed to the client.
   */
  async function handleWithRequestId(request: Request, context: RequestContext): Promise<Response> {
    const reqId = requestIdFor(request.headers.get(REQUEST_ID_HEADER));
    const log = logger.child({ reqId });
    let response: Response;
    try {
      response = await handle(request, context, log, reqId);
    } catch (err) {
      // The last line of defence: every route answers its own errors, but one that escapes
      // (a bug, or a dependency throwing before a route's handler, e.g. in the rate limiter)
      // must not reach the adapter, whose own 500 shows the error's message and stack.
      log.error({ err }, 'request failed');
      const pathname = pathWithinBase(new URL(request.url).pathname, basePath);
      const appRoute = APP_ROUTE.exec(pathname);
      // Counted like the route's own failures, so these 500s show in the metrics too.
      if (appRoute) countLtiRefusal(appRoute[2] as 'login' | 'launch', 'ERR_LTI_INTERNAL');
      else if (pathname === COMPLETIONS_PATH && request.method === 'POST') metrics.completions.inc({ status: '500' });
      response = unexpectedErrorResponse(pathname, appRoute !== null);
    }
    return withHeader(response, REQUEST_ID_HEADER, reqId);
  }

  const adapter = createServerAdapter<RequestContext>(handleWithRequestId);
  const observeDuration = Object.fromEntries(HTTP_ROUTES.map((route) => [route, metrics.requestDuration.labeled({ route })])) as Record<
    HttpRoute,
    (seconds: number) => void
  >;
  /**
   * Times each request at the socket's edge, adapter included: from the listener call to
   * 'finish' (the answer's last byte handed to the OS). A request whose client goes away
   * first never finishes and is not observed.
   */
  const nodeHandler: RequestListener = (req, res) => {
    const start = performance.now();
    const observe = observeDuration[httpRouteOf(req.url, basePath)];
    res.once('finish', () => observe((performance.now() - start) / 1000));
    void adapter(req, res);
  };
  return {
    fetch: (request, client) => Promise.resolve(adapter.fetch(request, client?.address ? { clientAddress: client.address } : {})),
    nodeHandler,
    toolKeys,
    loginStateKey,
    keysets,
    accessTokens,
    deliveryWorker,
    metrics,
    startBackgroundJobs,
    listenForChanges,
  };
}

/** A 500 that says nothing of the error, in the form the route's clients read. */
function unexpectedErrorResponse(pathname: string, ltiRoute: boolean): Response {
  if (ltiRoute) return ltiErrorResponse(new LtiError('ERR_LTI_INTERNAL', 'unexpected error'));
  if (pathname === COMPLETIONS_PATH) return completionServerError();
  if (pathname === GRAPHQL_PATH) {
    return new Response(
      JSON.stringify({ errors: [{ message: 'Something went wrong on our side. Try again in a moment.', extensions: { code: 'INTERNAL_SERVER_ERROR' } }] }),
      { status: 500, headers: JSON_HEADERS },
    );
  }
  return new Response('Something went wrong on our side. Try again in a moment.\n', {
    status: 500,
    headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' },
  });
}

/** Sets a response header, copying the response when its headers are immutable (e.g. Response.redirect). */
function withHeader(response: Response, name: string, value: string): Response {
  try {
    response.headers.set(name, value);
    return response;
  } catch {
    const headers = new Headers(response.headers);
    headers.set(name, value);
    return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
  }
}
const sha256 = (text: string): Buffer => Buffer.from(sha256Hex(text), 'hex');
