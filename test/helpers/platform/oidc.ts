/**
 * The OIDC half of a launch: the login initiation the LMS sends, the message hints it
 * remembers, the checks on the tool's authentication request, and the auto-submitting form.
 */
import { MESSAGE_HINT_TTL_SECONDS } from './constants.ts';
import { AuthRequestError } from './errors.ts';
import type { LaunchOverrides, LoginInitiationRequest } from './types.ts';

/** What the platform remembers about one login initiation, under its lti_message_hint. */
export interface PendingLaunch {
  sub: string;
  targetLinkUri: string;
  launch: LaunchOverrides | undefined;
  expiresAtMs: number;
}

/** lti_message_hint → pending launch, each valid for 600 s (Open edX's cache timeout). */
export interface MessageHintStore {
  remember(hint: string, launch: Omit<PendingLaunch, 'expiresAtMs'>): void;
  /** The pending launch, or undefined if unknown or expired. Hints are reusable, as in Open edX. */
  find(hint: string): PendingLaunch | undefined;
}

export function createMessageHintStore(now: () => number): MessageHintStore {
  const hints = new Map<string, PendingLaunch>();
  return {
    remember(hint, launch) {
      hints.set(hint, { ...launch, expiresAtMs: now() + MESSAGE_HINT_TTL_SECONDS * 1000 });
    },
    find(hint) {
      const pending = hints.get(hint);
      if (!pending) return undefined;
      if (pending.expiresAtMs <= now()) {
        hints.delete(hint);
        return undefined;
      }
      return pending;
    },
  };
}

/** Builds the third-party initiated login request: GET (Open edX) or form POST (Canvas). */
export function buildLoginInitiation(input: {
  variant: 'openedx' | 'canvas';
  toolLoginUrl: string;
  issuer: string;
  clientId: string;
  deploymentId: string;
  targetLinkUri: string;
  sub: string;
  messageHint: string;
  extra: Record<string, string> | undefined;
}): LoginInitiationRequest {
  const params = new URLSearchParams({
    iss: input.issuer,
    client_id: input.clientId,
    [input.variant === 'canvas' ? 'deployment_id' : 'lti_deployment_id']: input.deploymentId,
    target_link_uri: input.targetLinkUri,
    login_hint: input.sub,
    lti_message_hint: input.messageHint,
    ...input.extra,
  });
  if (input.variant === 'canvas') return { method: 'POST', url: input.toolLoginUrl, body: params };
  const url = new URL(input.toolLoginUrl);
  for (const [name, value] of params) url.searchParams.set(name, value);
  return { method: 'GET', url: url.toString() };
}

/** The auth request's parameters the platform keeps after the checks passed. */
export interface CheckedAuthRequest {
  state: string;
  nonce: string;
  redirectUri: string;
  pending: PendingLaunch;
}

function requireParam(params: URLSearchParams, name: string): string {
  const value = params.get(name);
  if (!value) throw new AuthRequestError(name, 'missing');
  return value;
}

function requireExactly(params: URLSearchParams, name: string, expected: string): string {
  const value = requireParam(params, name);
  if (value !== expected) throw new AuthRequestError(name, `expected "${expected}", got "${value}"`);
  return value;
}

function checkScope(params: URLSearchParams): void {
  const scopes = requireParam(params, 'scope').split(' ');
  if (!scopes.includes('openid')) throw new AuthRequestError('scope', `must include "openid", got "${scopes.join(' ')}"`);
}

function checkRedirectUri(params: URLSearchParams, expected: string | undefined): string {
  const redirectUri = requireParam(params, 'redirect_uri');
  if (!URL.canParse(redirectUri)) throw new AuthRequestError('redirect_uri', `not an absolute URL: "${redirectUri}"`);
  if (expected !== undefined && redirectUri !== expected) {
    throw new AuthRequestError('redirect_uri', `expected the registered "${expected}", got "${redirectUri}"`);
  }
  return redirectUri;
}

function checkHints(params: URLSearchParams, hints: MessageHintStore): PendingLaunch {
  const loginHint = requireParam(params, 'login_hint');
  const messageHint = requireParam(params, 'lti_message_hint');
  const pending = hints.find(messageHint);
  if (!pending) throw new AuthRequestError('lti_message_hint', 'unknown or expired (valid 600 s after login initiation)');
  if (pending.sub !== loginHint) {
    throw new AuthRequestError('login_hint', `does not match the login initiation's ("${pending.sub}")`);
  }
  return pending;
}

/**
 * Checks the tool's authentication request, strictly (Open edX itself checks less), and in
 * this order: scope, response_type, response_mode, prompt, client_id, redirect_uri,
 * login_hint/lti_message_hint, state, nonce. Throws AuthRequestError naming the parameter.
 */
export function checkAuthRequest(
  params: URLSearchParams,
  expected: { clientId: string; redirectUri: string | undefined; hints: MessageHintStore },
): CheckedAuthRequest {
  checkScope(params);
  requireExactly(params, 'response_type', 'id_token');
  requireExactly(params, 'response_mode', 'form_post');
  requireExactly(params, 'prompt', 'none');
  requireExactly(params, 'client_id', expected.clientId);
  const redirectUri = checkRedirectUri(params, expected.redirectUri);
  const pending = checkHints(params, expected.hints);
  const state = requireParam(params, 'state');
  const nonce = requireParam(params, 'nonce');
  return { state, nonce, redirectUri, pending };
}

/** Checks that `authRequestUrl` targets the auth login URL and returns its query parameters. */
export function authRequestParams(authRequestUrl: string, authLoginUrl: string): URLSearchParams {
  if (!URL.canParse(authRequestUrl)) throw new AuthRequestError('endpoint', `not a URL: "${authRequestUrl}"`);
  const url = new URL(authRequestUrl);
  if (`${url.origin}${url.pathname}` !== authLoginUrl) {
    throw new AuthRequestError('endpoint', `expected ${authLoginUrl}, got ${url.origin}${url.pathname}`);
  }
  return url.searchParams;
}

function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The page that posts id_token and state to the tool, as the LMS's launch page does. */
export function autoSubmitFormHtml(action: string, fields: Record<string, string>): string {
  const inputs = Object.entries(fields)
    .map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`)
    .join('');
  return [
    '<!doctype html><html><head><meta charset="utf-8"><title>Launching…</title></head><body>',
    `<form id="lti-launch" method="post" action="${escapeHtml(action)}">${inputs}`,
    '<noscript><button type="submit">Continue</button></noscript></form>',
    "<script>document.getElementById('lti-launch').submit();</script>",
    '</body></html>',
  ].join('');
}

/** A small error page for a refused auth request (never a stack trace). */
export function errorPageHtml(message: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>Launch refused</title></head><body><h1>Launch refused</h1><p>${escapeHtml(message)}</p></body></html>`;
}
