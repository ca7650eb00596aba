/**
 * The token endpoint: OAuth 2 client credentials with a JWT client assertion, as Open edX
 * takes it, but checked as strictly as other platforms (iss, sub, aud, exp, jti).
 */
import {
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors,
  jwtVerify,
  type JSONWebKeySet,
  type JWTHeaderParameters,
  type JWTPayload,
} from 'jose';
import { registerTestSecret } from '../test-logger.ts';
import type { AccessTokenStore } from './access-tokens.ts';
import { CLIENT_ASSERTION_TYPE, GRANTABLE_SCOPES, MAX_BODY_BYTES, TOOL_KEYSET_TIMEOUT_MS } from './constants.ts';
import { TokenRequestError } from './errors.ts';
import { json, type PlatformRequest, type PlatformResponse } from './http.ts';
import type { TokenRequestRecord } from './types.ts';

/** What the token endpoint needs. */
export interface TokenEndpointContext {
  clientId: string;
  /** This endpoint's own URL: the `aud` client assertions must carry. */
  tokenUrl: string;
  now: () => number;
  /** Fetches the tool's JWKS (each time: Open edX does not cache it). */
  fetchToolKeyset(): Promise<JSONWebKeySet>;
  /** jti → the assertion's exp in ms, for replay detection. */
  usedJtis: Map<string, number>;
  tokens: AccessTokenStore;
}

/** Fetches a JWKS with a timeout and a size cap; any failure is an `invalid_client`. */
export async function fetchKeySet(fetchImpl: typeof fetch, url: string | undefined): Promise<JSONWebKeySet> {
  if (!url) throw new TokenRequestError('invalid_client', 'the tool keyset URL is not set (setToolKeysetUrl)');
  let text: string;
  try {
    const response = await fetchImpl(url, {
      headers: { accept: 'application/json' },
      redirect: 'error',
      signal: AbortSignal.timeout(TOOL_KEYSET_TIMEOUT_MS),
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    text = await response.text();
  } catch (cause) {
    throw new TokenRequestError('invalid_client', `tool keyset unreachable: ${String(cause)}`, { cause });
  }
  if (text.length > MAX_BODY_BYTES) throw new TokenRequestError('invalid_client', 'tool keyset too large');
  try {
    const keyset = JSON.parse(text) as JSONWebKeySet;
    if (!Array.isArray(keyset.keys)) throw new Error('no "keys" array');
    return keyset;
  } catch (cause) {
    throw new TokenRequestError('invalid_client', `tool keyset is not a JWKS: ${String(cause)}`, { cause });
  }
}

function readForm(request: PlatformRequest): URLSearchParams {
  return new URLSearchParams(request.body);
}

function checkForm(request: PlatformRequest, form: URLSearchParams): { assertion: string; scopes: string[] } {
  const contentType = request.headers['content-type'] ?? '';
  if (!contentType.startsWith('application/x-www-form-urlencoded')) {
    throw new TokenRequestError('invalid_request', `expected a form body, got content-type "${contentType}"`);
  }
  for (const name of ['grant_type', 'client_assertion_type', 'client_assertion', 'scope']) {
    if (!form.get(name)) throw new TokenRequestError('invalid_request', `${name} is missing`);
  }
  if (form.get('grant_type') !== 'client_credentials') {
    throw new TokenRequestError('unsupported_grant_type', `grant_type "${form.get('grant_type')}"`);
  }
  if (form.get('client_assertion_type') !== CLIENT_ASSERTION_TYPE) {
    throw new TokenRequestError('invalid_request', `client_assertion_type must be ${CLIENT_ASSERTION_TYPE}`);
  }
  return { assertion: form.get('client_assertion')!, scopes: form.get('scope')!.split(' ').filter(Boolean) };
}

/**
 * Verifies the client assertion: signature (invalid_client), then claims and jti (invalid_grant;
 * Open edX itself checks only exp), and an `iat` in the future (unidentified_error, as Open edX).
 */
async function verifyClientAssertion(assertion: string, ctx: TokenEndpointContext): Promise<void> {
  const keyset = await ctx.fetchToolKeyset();
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(assertion, createLocalJWKSet(keyset), {
      issuer: ctx.clientId,
      subject: ctx.clientId,
      audience: ctx.tokenUrl,
      requiredClaims: ['exp', 'jti'],
      currentDate: new Date(ctx.now()),
    }));
  } catch (cause) {
    const claimProblem = cause instanceof errors.JWTClaimValidationFailed || cause instanceof errors.JWTExpired;
    const message = cause instanceof Error ? cause.message : String(cause);
    throw new TokenRequestError(claimProblem ? 'invalid_grant' : 'invalid_client', message, { cause });
  }
  // Open edX decodes the assertion with PyJWT, no leeway: in recent PyJWT versions an `iat` later
  // than the LMS's clock raises ImmatureSignatureError, which its token view answers as 400
  // unidentified_error (lti_consumer/lti_1p3/key_handlers.py ToolKeyHandler.validate_and_decode,
  // plugin/views.py access_token_endpoint). jose's jwtVerify does not check iat by itself.
  if (typeof payload.iat === 'number' && payload.iat > ctx.now() / 1000) {
    throw new TokenRequestError('unidentified_error', `iat ${payload.iat} is later than the platform's clock (${Math.floor(ctx.now() / 1000)}); no leeway`);
  }
  for (const [jti, expMs] of ctx.usedJtis) if (expMs <= ctx.now()) ctx.usedJtis.delete(jti);
  const jti = String(payload.jti);
  if (ctx.usedJtis.has(jti)) throw new TokenRequestError('invalid_grant', `jti "${jti}" was already used`);
  ctx.usedJtis.set(jti, (payload.exp ?? 0) * 1000);
}

function decodeForRecord(assertion: string | null): Pick<TokenRequestRecord, 'assertionHeader' | 'assertionPayload'> {
  const safely = <T>(decode: () => T): T | Record<string, never> => {
    try {
      return decode();
    } catch {
      return {};
    }
  };
  return {
    assertionHeader: assertion ? (safely(() => decodeProtectedHeader(assertion)) as Partial<JWTHeaderParameters>) : {},
    assertionPayload: assertion ? safely(() => decodeJwt(assertion)) : {},
  };
}

/** The record of a token request before it is answered. */
export function tokenRequestRecord(request: PlatformRequest): TokenRequestRecord {
  const form = readForm(request);
  return { form, ...decodeForRecord(form.get('client_assertion')), ok: false };
}

/**
 * Answers one token request: `{ access_token, token_type, expires_in, scope }`, or 400
 * `{ error, error_description }`. Fills in `record.ok`/`record.error`.
 */
export async function handleTokenRequest(
  request: PlatformRequest,
  record: TokenRequestRecord,
  ctx: TokenEndpointContext & { tokenType: string },
): Promise<PlatformResponse> {
  try {
    const { assertion, scopes } = checkForm(request, record.form);
    await verifyClientAssertion(assertion, ctx);
    // Open edX grants the supported subset of what was asked and drops the rest silently.
    const granted = scopes.filter((scope) => GRANTABLE_SCOPES.includes(scope));
    const { token, expiresIn } = ctx.tokens.issue(granted);
    registerTestSecret(token, 'AGS access token');
    record.ok = true;
    return json(200, { access_token: token, token_type: ctx.tokenType, expires_in: expiresIn, scope: granted.join(' ') });
  } catch (error) {
    if (!(error instanceof TokenRequestError)) throw error;
    record.error = error.message;
    return json(400, { error: error.error, error_description: error.description });
  }
}
