import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { fetchTextLimited, OutboundError, type FetchLike } from '../http/limited-fetch.ts';
import type { Logger } from '../logger.ts';
import type { ToolKeys } from '../lti/tool-keys.ts';
import { CLIENT_ASSERTION_TYPE } from './ags.ts';

export interface TokenRegistration {
  id: string;
  clientId: string;
  authTokenUrl: string;
}

/** Why getting a token failed, and whether trying again later can help. */
export class TokenRequestError extends Error {
  override name = 'TokenRequestError';
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
    readonly retryAfterMs?: number,
    /** The OAuth 2 `error` code of a refusal (RFC 6749 §5.2), e.g. `invalid_client`. */
    readonly oauthError?: string,
  ) {
    super(message);
  }
}

export interface AccessTokenOptions {
  fetch: FetchLike;
  toolKeys: ToolKeys;
  /** For token requests no caller's logger came with (see `get`). */
  logger: Logger;
  nowMs?: () => number;
  timeoutMs?: number;
  /** Tokens are renewed this long before `expires_in` runs out. */
  renewBeforeMs?: number;
}

/** Client assertions expire this long after our clock's now. */
export const ASSERTION_LIFETIME_S = 300;
/**
 * Client assertions say they were issued this long before our clock's now. Open edX verifies
 * them with PyJWT and no leeway, and recent PyJWT versions refuse an `iat` later than the LMS's
 * clock (400 `unidentified_error`, a permanent failure): with `iat` = now, a tool clock a
 * second ahead of the LMS's would fail every grade. Small enough for platforms that refuse
 * old assertions (minutes), large enough for any clock NTP keeps.
 */
export const ASSERTION_IAT_BACKDATE_S = 30;

interface CachedToken {
  token: string;
  expiresAtMs: number;
}

/**
 * OAuth 2 client-credentials tokens for AGS (LTI Security Framework §4.1), cached per
 * registration and scopes until shortly before they expire. Concurrent deliveries for
 * one registration share one token request. The assertion is signed with our current
 * tool key: iss = sub = client ID, aud = the token URL, iat a little in the past (see
 * ASSERTION_IAT_BACKDATE_S), short exp, unique jti, kid.
 */
export class AccessTokens {
  readonly #cache = new Map<string, CachedToken>();
  readonly #inflight = new Map<string, Promise<CachedToken>>();
  readonly #o: Required<AccessTokenOptions>;
  /** Token requests sent (metrics, tests). */
  requestCount = 0;

  constructor(options: AccessTokenOptions) {
    this.#o = { nowMs: () => Date.now(), timeoutMs: 10_000, renewBeforeMs: 60_000, ...options };
  }

  /**
   * `callerLogger` is the caller's (a delivery's: its job and grade id): a token request it
   * starts is logged with it. Concurrent callers share one request, logged by the first.
   */
  async get(registration: TokenRegistration, scopes: readonly string[], callerLogger?: Logger): Promise<string> {
    const key = cacheKey(registration, scopes);
    const cached = this.#cache.get(key);
    if (cached && cached.expiresAtMs > this.#o.nowMs()) return cached.token;
    let pending = this.#inflight.get(key);
    if (!pending) {
      const logger = callerLogger?.child({ component: 'access-tokens' }) ?? this.#o.logger;
      pending = this.#request(registration, scopes, logger)
        .then((token) => {
          this.#cache.set(key, token);
          return token;
        })
        .finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, pending);
    }
    return (await pending).token;
  }

  /** After a 401/403 from the platform: the next `get` asks for a new token. */
  invalidate(registration: TokenRegistration, scopes: readonly string[], token: string): void {
    const key = cacheKey(registration, scopes);
    if (this.#cache.get(key)?.token === token) this.#cache.delete(key);
  }

  async #request(registration: TokenRegistration, scopes: readonly string[], logger: Logger): Promise<CachedToken> {
    const { kid, alg, key } = await this.#o.toolKeys.signingKey();
    const nowS = Math.floor(this.#o.nowMs() / 1000);
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg, kid, typ: 'JWT' })
      .setIssuer(registration.clientId)
      .setSubject(registration.clientId)
      .setAudience(registration.authTokenUrl)
      .setIssuedAt(nowS - ASSERTION_IAT_BACKDATE_S)
      .setExpirationTime(nowS + ASSERTION_LIFETIME_S)
      .setJti(randomUUID())
      .sign(key);
    const body = new URLSearchParams({
      grant_type: 'client_credentials',
      client_assertion_type: CLIENT_ASSERTION_TYPE,
      client_assertion: assertion,
      scope: scopes.join(' '),
    });
    this.requestCount++;
    let res: Awaited<ReturnType<typeof fetchTextLimited>>;
    try {
      res = await fetchTextLimited(
        this.#o.fetch,
        registration.authTokenUrl,
        {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
          body,
        },
        { timeoutMs: this.#o.timeoutMs, maxBytes: 64 * 1024 },
      );
    } catch (err) {
      // Retrying cannot make an oversized answer smaller or a refused address allowed.
      const retryable = !(err instanceof OutboundError && (err.code === 'ERR_OUTBOUND_TOO_LARGE' || err.code === 'ERR_OUTBOUND_FORBIDDEN_ADDRESS'));
      throw new TokenRequestError(`token endpoint: ${(err as Error).message}`, retryable);
    }
    if (res.status !== 200) {
      const retryable = isTransientStatus(res.status);
      throw new TokenRequestError(
        `token endpoint answered ${res.status}: ${excerpt(res.text)}`,
        retryable,
        res.status,
        retryAfterMs(res.headers.get('retry-after'), this.#o.nowMs()),
        oauthErrorCode(res.text),
      );
    }
    let parsed: { access_token?: unknown; token_type?: unknown; expires_in?: unknown };
    try {
      parsed = JSON.parse(res.text) as typeof parsed;
    } catch {
      throw new TokenRequestError(`token endpoint answered non-JSON: ${excerpt(res.text)}`, true, 200);
    }
    if (typeof parsed.access_token !== 'string' || parsed.access_token.length === 0) {
      throw new TokenRequestError('token endpoint answered without access_token', false, 200);
    }
    if (typeof parsed.token_type === 'string' && parsed.token_type.toLowerCase() !== 'bearer') {
      throw new TokenRequestError(`unsupported token_type ${parsed.token_type}`, false, 200);
    }
    const expiresInS = typeof parsed.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in : 3600;
    const lifetimeMs = expiresInS * 1000;
    // Renew a minute early, or at half-life for very short tokens.
    const margin = Math.min(this.#o.renewBeforeMs, lifetimeMs / 2);
    logger.debug({ registrationId: registration.id, expiresInS }, 'access token obtained');
    return { token: parsed.access_token, expiresAtMs: this.#o.nowMs() + lifetimeMs - margin };
  }
}

/**
 * The `error` member of an OAuth 2 error answer (RFC 6749 §5.2: a JSON object), when the
 * body is one and the code is in the charset the RFC allows; otherwise undefined.
 */
export function oauthErrorCode(body: string): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const error = (parsed as { error?: unknown }).error;
  return typeof error === 'string' && /^[\x20-\x21\x23-\x5b\x5d-\x7e]{1,100}$/.test(error) ? error : undefined;
}

/**
 * The client ID and token URL are part of the key: a token issued to a registration's old
 * client (before its owner corrected the Client ID) is not used for the new one, in any
 * process, since each delivery reads the registration as it is now.
 */
function cacheKey(registration: TokenRegistration, scopes: readonly string[]): string {
  return `${registration.id} ${registration.clientId} ${registration.authTokenUrl} ${[...scopes].sort().join(' ')}`;
}

/**
 * Statuses that say "not now" rather than "no": 5xx, 429 Too Many Requests, 408 Request
 * Timeout and 425 Too Early (both defined as worth repeating). Any other 4xx is permanent.
 */
export function isTransientStatus(status: number): boolean {
  return status >= 500 || status === 429 || status === 408 || status === 425;
}

export function excerpt(text: string, max = 300): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > max ? `${oneLine.slice(0, max)}…` : oneLine;
}

/** Retry-After as delay-seconds or an HTTP date. */
export function retryAfterMs(header: string | null, nowMs: number): number | undefined {
  if (!header) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}
