/**
 * A test LTI 1.3 platform that behaves like Open edX (or, with `variant: 'canvas'`, like
 * a platform that POSTs login initiations and sends `aud` as an array). It serves its JWKS,
 * auth login, token and AGS scores endpoints over real HTTP on port 0, and mints id_tokens
 * directly for negative tests. Facts it follows: /work/shared/docs/lti-openedx.md.
 *
 * @example
 * const platform = await startTestPlatform();
 * try {
 *   const init = platform.loginInitiation(`${toolUrl}/lti/login`, { targetLinkUri: `${toolUrl}/lti/launch` });
 *   const redirect = await tool.fetch(init.url);               // the tool answers 302 to the auth URL
 *   const form = await platform.authorize(redirect.headers.get('location')!);
 *   await tool.fetch(form.redirectUri, { method: 'POST', body: new URLSearchParams({ id_token: form.idToken, state: form.state }) });
 * } finally {
 *   await platform.close();
 * }
 */
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { createAccessTokenStore } from './platform/access-tokens.ts';
import { AGS_SCOPE, DEFAULT_RESOURCE_LINK_ID, PLATFORM_ALGS, PLATFORM_PATH } from './platform/constants.ts';
import { AuthRequestError } from './platform/errors.ts';
import { createFaultQueues, describeFault, playFault } from './platform/faults.ts';
import { html, json, startHttpServer, type PlatformHandler, type PlatformRequest, type PlatformResponse } from './platform/http.ts';
import { mintIdToken, randomUserId, type IdTokenContext } from './platform/id-token.ts';
import { createKeyRing, toPublicJwks } from './platform/keys.ts';
import { createLineItemRegistry } from './platform/line-items.ts';
import {
  authRequestParams,
  autoSubmitFormHtml,
  buildLoginInitiation,
  checkAuthRequest,
  createMessageHintStore,
  errorPageHtml,
} from './platform/oidc.ts';
import { handleScoreRequest } from './platform/scores-endpoint.ts';
import { fetchKeySet, handleTokenRequest, tokenRequestRecord } from './platform/token-endpoint.ts';
import type {
  AuthorizeOptions,
  AuthorizeResult,
  LaunchOverrides,
  PlatformOptions,
  ScoreAttemptRecord,
  ScoreRecord,
  TestPlatform,
  TokenRequestRecord,
} from './platform/types.ts';

export type {
  AuthorizeOptions,
  AuthorizeResult,
  Fault,
  FaultEndpoint,
  LaunchOverrides,
  LoginInitiationOptions,
  LoginInitiationRequest,
  MintIdTokenOptions,
  PlatformAlg,
  PlatformOptions,
  PlatformRegistration,
  ScoreAttemptRecord,
  ScoreRecord,
  TestPlatform,
  TokenRequestRecord,
} from './platform/types.ts';
/** Error classes thrown by authorize() (AuthRequestError) and used by the token endpoint. */
export { AuthRequestError, TokenRequestError } from './platform/errors.ts';
/** Claim names, scopes, paths and defaults the platform uses. */
export {
  AGS_ENDPOINT_CLAIM,
  AGS_SCOPE,
  CLIENT_ASSERTION_TYPE,
  DEFAULT_CONTEXT_ID,
  DEFAULT_RESOURCE_LINK_ID,
  LTI_CLAIM,
  SCORE_CONTENT_TYPE,
} from './platform/constants.ts';

/** Combines the overrides stored at login initiation with those given to authorize(). */
function mergeLaunchOverrides(stored: LaunchOverrides | undefined, given: AuthorizeOptions): LaunchOverrides {
  const { expectedRedirectUri: _ignored, ...overrides } = given;
  return {
    ...stored,
    ...overrides,
    claims: { ...stored?.claims, ...overrides.claims },
    header: { ...stored?.header, ...overrides.header },
  };
}

/** Starts a platform on `host`, port 0. Always `await platform.close()` when done. */
export async function startTestPlatform(options: PlatformOptions = {}): Promise<TestPlatform> {
  const {
    variant = 'openedx',
    alg = 'RS256',
    publishAlg = false,
    host = '127.0.0.1',
    // Late-bound, so fake clocks and stubbed fetch installed after start still apply.
    now = () => Date.now(),
    fetch: fetchImpl = (input, init) => globalThis.fetch(input, init),
  } = options;
  if (!PLATFORM_ALGS.includes(alg)) throw new TypeError(`alg must be one of ${PLATFORM_ALGS.join(', ')}`);
  if (variant !== 'openedx' && variant !== 'canvas') throw new TypeError(`unknown variant "${String(variant)}"`);

  const keys = await createKeyRing(alg);
  let route: PlatformHandler = async () => json(503, { error: 'starting' });
  const server = await startHttpServer(host, (request, signal) => route(request, signal));

  const issuer = server.origin;
  const clientId = randomUUID();
  const deploymentId = variant === 'canvas' ? `${randomInt(1, 100)}:${randomBytes(20).toString('hex')}` : '1';
  const authLoginUrl = `${issuer}${PLATFORM_PATH.authLogin}`;
  const authTokenUrl = `${issuer}${PLATFORM_PATH.token(clientId)}`;
  const keysetUrl = `${issuer}${PLATFORM_PATH.keyset(clientId)}`;

  const hints = createMessageHintStore(now);
  const lineItems = createLineItemRegistry(issuer);
  const tokens = createAccessTokenStore(now);
  const faults = createFaultQueues();
  const usedJtis = new Map<string, number>();
  const lastScoreTimestamps = new Map<string, number>();
  const tokenRequests: TokenRequestRecord[] = [];
  const scores: ScoreRecord[] = [];
  const scoreAttempts: ScoreAttemptRecord[] = [];
  let keysetFetches = 0;
  let toolKeysetUrl: string | undefined;
  let toolLaunchUrl: string | undefined;

  const idTokenContext: IdTokenContext = {
    issuer,
    clientId,
    deploymentId,
    variant,
    keys,
    now,
    lineitemUrl: (resourceLinkId) => lineItems.urlFor(resourceLinkId),
    lineitemsUrl: lineItems.lineitemsUrl,
  };

  async function authorizeParams(params: URLSearchParams, opts: AuthorizeOptions): Promise<AuthorizeResult> {
    const checked = checkAuthRequest(params, {
      clientId,
      redirectUri: opts.expectedRedirectUri ?? toolLaunchUrl,
      hints,
    });
    const idToken = await mintIdToken(idTokenContext, {
      ...mergeLaunchOverrides(checked.pending.launch, opts),
      nonce: checked.nonce,
      sub: checked.pending.sub,
      targetLinkUri: checked.pending.targetLinkUri,
    });
    return { idToken, state: checked.state, redirectUri: checked.redirectUri, nonce: checked.nonce };
  }

  async function serveAuthLogin(request: PlatformRequest): Promise<PlatformResponse> {
    const params = request.method === 'POST' ? new URLSearchParams(request.body) : request.url.searchParams;
    try {
      const form = await authorizeParams(params, {});
      return html(200, autoSubmitFormHtml(form.redirectUri, { id_token: form.idToken, state: form.state }));
    } catch (error) {
      if (error instanceof AuthRequestError) return html(400, errorPageHtml(error.message));
      throw error;
    }
  }

  async function serveToken(request: PlatformRequest, signal: AbortSignal): Promise<PlatformResponse> {
    const record = tokenRequestRecord(request);
    tokenRequests.push(record);
    const fault = faults.take('token');
    const faulty = fault && (await playFault(fault, signal));
    if (fault && faulty) {
      record.error = describeFault(fault, faulty.status);
      return faulty;
    }
    return handleTokenRequest(request, record, {
      clientId,
      tokenUrl: authTokenUrl,
      now,
      fetchToolKeyset: () => fetchKeySet(fetchImpl, toolKeysetUrl),
      usedJtis,
      tokens,
      // Open edX answers lowercase "bearer" (RFC 6749: case-insensitive); others "Bearer".
      tokenType: variant === 'openedx' ? 'bearer' : 'Bearer',
    });
  }

  async function serveScores(request: PlatformRequest, signal: AbortSignal): Promise<PlatformResponse> {
    const url = request.url.toString();
    const lineitem = lineItems.findByScoresUrl(request.url);
    if (!lineitem) {
      const error = 'no line item has this scores URL (path <lineitem path>/scores, same query string)';
      scoreAttempts.push({ url, status: 404, error });
      return json(404, { error });
    }
    const fault = faults.take('scores');
    const faulty = fault && (await playFault(fault, signal));
    if (fault && faulty) {
      scoreAttempts.push({ url, status: faulty.status, error: describeFault(fault, faulty.status) });
      return faulty;
    }
    const result = handleScoreRequest(request, lineitem, { tokens, lastTimestamps: lastScoreTimestamps });
    if (result.score) scores.push(result.score);
    scoreAttempts.push({ url, status: result.response.status, ...(result.error && { error: result.error }) });
    const delayMs = result.score ? (options.scoreAnswerDelayMs?.() ?? 0) : 0;
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    if (result.score) result.score.answeredAt = Date.now();
    return result.response;
  }

  route = async (request, signal) => {
    const { pathname } = request.url;
    const allow = async (methods: string[], serve: () => Promise<PlatformResponse>) =>
      methods.includes(request.method)
        ? serve()
        : json(405, { error: 'method not allowed' }, { allow: methods.join(', ') });
    if (pathname === PLATFORM_PATH.keyset(clientId)) {
      return allow(['GET'], async () => {
        keysetFetches += 1;
        return json(200, toPublicJwks(keys.current(), publishAlg));
      });
    }
    if (pathname === PLATFORM_PATH.authLogin) return allow(['GET', 'POST'], () => serveAuthLogin(request));
    if (pathname === PLATFORM_PATH.token(clientId)) return allow(['POST'], () => serveToken(request, signal));
    if (pathname.startsWith(`${PLATFORM_PATH.lineitems}/`) && pathname.endsWith('/scores')) {
      return allow(['POST'], () => serveScores(request, signal));
    }
    return json(404, { error: 'not found' });
  };

  return {
    issuer,
    clientId,
    deploymentId,
    authLoginUrl,
    authTokenUrl,
    keysetUrl,
    lineitemsUrl: lineItems.lineitemsUrl,
    get kid() {
      return keys.current().kid;
    },
    get keysetFetches() {
      return keysetFetches;
    },
    tokenRequests,
    scores,
    scoreAttempts,
    lineitemUrl: (resourceLinkId) => lineItems.urlFor(resourceLinkId ?? DEFAULT_RESOURCE_LINK_ID),
    registration: () => ({ issuer, clientId, authLoginUrl, authTokenUrl, keysetUrl, deploymentIds: [deploymentId] }),
    loginInitiation(toolLoginUrl, opts) {
      const sub = opts.sub ?? randomUserId();
      const messageHint = opts.messageHint ?? randomBytes(16).toString('hex');
      hints.remember(messageHint, { sub, targetLinkUri: opts.targetLinkUri, launch: opts.launch });
      return buildLoginInitiation({
        variant,
        toolLoginUrl,
        issuer,
        clientId,
        deploymentId,
        targetLinkUri: opts.targetLinkUri,
        sub,
        messageHint,
        extra: opts.extra,
      });
    },
    authorize: async (authRequestUrl, opts = {}) => authorizeParams(authRequestParams(authRequestUrl, authLoginUrl), opts),
    mintIdToken: (opts) => mintIdToken(idTokenContext, opts),
    rotateKey: () => keys.rotate(),
    publicJwks: () => toPublicJwks(keys.current(), publishAlg),
    failNext: (endpoint, ...queued) => faults.push(endpoint, queued),
    setToolKeysetUrl(url) {
      toolKeysetUrl = url;
    },
    setToolLaunchUrl(url) {
      toolLaunchUrl = url;
    },
    issueAccessToken: (scopes = [AGS_SCOPE.lineitemReadonly, AGS_SCOPE.resultReadonly, AGS_SCOPE.score]) =>
      tokens.issue(scopes).token,
    close: () => server.close(),
  };
}
