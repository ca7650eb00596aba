import type { RateLimitConfig } from '../config.ts';
import { COMPLETION_CORS_HEADERS } from '../grades/completion-route.ts';
import { sha256Hex } from '../ids.ts';
import type { Logger } from '../logger.ts';
import { LtiError } from '../lti/errors.ts';
import type { Metrics } from '../metrics.ts';
import { bearerToken } from './bearer.ts';
import { ltiErrorResponse } from './error-page.ts';
import { RateLimiter } from './rate-limit.ts';

export type LimitedRoute = 'login' | 'launch' | 'completion' | 'graphql';
type LimitedBy = 'address' | 'credential' | 'token';

export interface RequestLimits {
  /**
   * A 429 answer if this request is over one of its route's limits, else undefined (and counted).
   * `logger` is the request's: the refusal is logged with its reqId.
   */
  refuse(route: LimitedRoute, request: Request, clientAddress: string, logger: Logger): Response | undefined;
}

interface Limit {
  by: LimitedBy;
  limiter: RateLimiter;
}

/**
 * The rate limits of each route family. Every family is limited per client address;
 * completions also per launch credential and GraphQL also per API token (both keyed by
 * their SHA-256, so no secret is kept in memory and a huge header is a small key).
 */
export function createRequestLimits(deps: {
  limits: RateLimitConfig;
  nowMs: () => number;
  metrics: Metrics;
  maxKeys?: number;
}): RequestLimits {
  const { limits, nowMs, metrics } = deps;
  const make = (by: LimitedBy, perMinute: number): Limit => ({
    by,
    limiter: new RateLimiter({ perMinute, nowMs, ...(deps.maxKeys ? { maxKeys: deps.maxKeys } : {}) }),
  });
  const families: Record<LimitedRoute, Limit[]> = {
    login: [make('address', limits.loginPerMinute)],
    launch: [make('address', limits.launchPerMinute)],
    completion: [make('address', limits.completionPerMinute), make('credential', limits.completionPerCredentialPerMinute)],
    graphql: [make('address', limits.graphqlPerMinute), make('token', limits.graphqlPerTokenPerMinute)],
  };

  return {
    refuse(route, request, clientAddress, logger) {
      for (const { by, limiter } of families[route]) {
        if (!limiter.enabled) continue;
        let key = clientAddress;
        if (by !== 'address') {
          const secret = bearerToken(request.headers.get('authorization'));
          // No credential: the address limit is all there is (and the route refuses it anyway).
          if (!secret) continue;
          key = sha256Hex(secret);
        }
        const decision = limiter.take(key);
        if (decision.allowed) continue;
        metrics.rateLimited.inc({ route, by });
        if (decision.firstRefusal) {
          // Once per episode, not per refused request: a flood must not flood the log.
          logger.child({ component: 'limits' }).warn(
            { route, by, ...(by === 'address' ? { clientAddress } : {}), perMinute: limiter.perMinute },
            'rate limit reached',
          );
        }
        return tooManyRequests(route, decision.retryAfterSeconds);
      }
      return undefined;
    },
  };
}

function tooManyRequests(route: LimitedRoute, retryAfterSeconds: number): Response {
  const retryAfter = { 'retry-after': String(retryAfterSeconds) };
  if (route === 'login' || route === 'launch') {
    return ltiErrorResponse(new LtiError('ERR_LTI_RATE_LIMITED', `${route} rate limit`), retryAfter);
  }
  const message = `Too many requests. Try again in ${retryAfterSeconds} s.`;
  if (route === 'completion') {
    return new Response(JSON.stringify({ error: 'rate_limited', message }), {
      status: 429,
      headers: {
        ...COMPLETION_CORS_HEADERS,
        // Cross-origin scripts only see Retry-After when it is exposed.
        'access-control-expose-headers': 'retry-after',
        'content-type': 'application/json; charset=utf-8',
        'cache-control': 'no-store',
        ...retryAfter,
      },
    });
  }
  return new Response(JSON.stringify({ errors: [{ message, extensions: { code: 'RATE_LIMITED' } }] }), {
    status: 429,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...retryAfter },
  });
}
