/**
 * AccessTokens against the test platform's token endpoint: one token per registration
 * and scopes, cached until shortly before it expires, one request shared by concurrent
 * callers, dropped on invalidate() — and failures reported as retryable or not.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Database } from '../../server/db/client.ts';
import { AccessTokens, TokenRequestError, type TokenRegistration } from '../../server/grades/access-tokens.ts';
import { AGS_SCOPE_SCORE } from '../../server/grades/ags.ts';
import type { FetchLike } from '../../server/http/limited-fetch.ts';
import { createSilentLogger } from '../../server/logger.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { AGS_SCOPE, startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { startToolServer, type ToolServer } from '../helpers/tool-server.ts';
import { createClock, type Clock } from './fixtures.ts';

const SCORE = [AGS_SCOPE_SCORE];
const HOUR = 3_600_000;

let db: Database;
let tool: ToolServer;
let platform: TestPlatform;
let clock: Clock;
let registration: TokenRegistration;
let registrationIds = 0;

beforeAll(async () => {
  db = await createTestDatabase();
  clock = createClock();
  tool = await startToolServer(db, { now: clock.now });
  platform = await startTestPlatform({ now: clock.nowMs });
  platform.setToolKeysetUrl(`${tool.baseUrl}/lti/jwks`);
});
afterAll(async () => {
  await platform.close();
  await tool.close();
  await db.close();
});
beforeEach(() => {
  // A registration of its own per test: nothing cached from an earlier test.
  registrationIds += 1;
  registration = { id: `registration-${registrationIds}`, clientId: platform.clientId, authTokenUrl: platform.authTokenUrl };
});

function tokens(options: { fetch?: FetchLike; timeoutMs?: number; renewBeforeMs?: number } = {}): AccessTokens {
  return new AccessTokens({
    fetch: options.fetch ?? ((url, init) => fetch(url, init)),
    toolKeys: tool.app.toolKeys,
    logger: createSilentLogger(),
    nowMs: clock.nowMs,
    ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.renewBeforeMs !== undefined ? { renewBeforeMs: options.renewBeforeMs } : {}),
  });
}

/** Counts token endpoint requests made while `run` runs. */
async function counting<T>(run: () => Promise<T>): Promise<{ result: T; requests: number }> {
  const before = platform.tokenRequests.length;
  const result = await run();
  return { result, requests: platform.tokenRequests.length - before };
}

/** A token endpoint that answers with `body` (JSON), for what the test platform never says. */
function stubTokenEndpoint(body: unknown, status = 200): FetchLike & { calls: number } {
  const stub = Object.assign(
    async () => {
      stub.calls += 1;
      return new Response(typeof body === 'string' ? body : JSON.stringify(body), {
        status,
        headers: { 'content-type': 'application/json' },
      });
    },
    { calls: 0 },
  );
  return stub;
}

describe('caching', () => {
  it('a second get is answered from the cache', async () => {
    const cache = tokens();
    const { result: first, requests } = await counting(async () => [await cache.get(registration, SCORE), await cache.get(registration, SCORE)]);
    expect(requests).toBe(1);
    expect(first[0]).toBe(first[1]);
    expect(cache.requestCount).toBe(1);
    // A real token, with the score scope.
    expect(platform.tokenRequests.at(-1)).toMatchObject({ ok: true });
  });

  it('concurrent gets share one token request', async () => {
    const cache = tokens();
    const { result, requests } = await counting(() => Promise.all(Array.from({ length: 5 }, () => cache.get(registration, SCORE))));
    expect(requests).toBe(1);
    expect(new Set(result).size).toBe(1);
  });

  it('is renewed shortly before expires_in runs out (a minute early for an hour-long token)', async () => {
    const cache = tokens();
    const issuedAt = clock.ms;
    const first = await cache.get(registration, SCORE);
    clock.ms = issuedAt + HOUR - 60_000 - 1;
    const { result: stillCached, requests: none } = await counting(() => cache.get(registration, SCORE));
    expect(none).toBe(0);
    expect(stillCached).toBe(first);
    clock.ms = issuedAt + HOUR - 60_000;
    const { result: renewed, requests: one } = await counting(() => cache.get(registration, SCORE));
    expect(one).toBe(1);
    expect(renewed).not.toBe(first);
  });

  it('a short-lived token is renewed at half its life', async () => {
    const stub = stubTokenEndpoint({ access_token: 'short-lived', token_type: 'bearer', expires_in: 60 });
    const cache = tokens({ fetch: stub });
    const issuedAt = clock.ms;
    await cache.get(registration, SCORE);
    clock.ms = issuedAt + 29_999;
    await cache.get(registration, SCORE);
    expect(stub.calls).toBe(1);
    clock.ms = issuedAt + 30_000;
    await cache.get(registration, SCORE);
    expect(stub.calls).toBe(2);
  });

  it('invalidate() drops the token, so the next get asks for a new one', async () => {
    const cache = tokens();
    const first = await cache.get(registration, SCORE);
    cache.invalidate(registration, SCORE, first);
    const { result: second, requests } = await counting(() => cache.get(registration, SCORE));
    expect(requests).toBe(1);
    expect(second).not.toBe(first);
  });

  it('invalidating a stale token keeps the newer one (a slow 401 does not throw away a fresh token)', async () => {
    const cache = tokens();
    const old = await cache.get(registration, SCORE);
    cache.invalidate(registration, SCORE, old);
    const fresh = await cache.get(registration, SCORE);
    cache.invalidate(registration, SCORE, old);
    const { result, requests } = await counting(() => cache.get(registration, SCORE));
    expect(requests).toBe(0);
    expect(result).toBe(fresh);
  });

  it('a registration whose client ID or token URL was corrected gets a new token, not the old client\'s', async () => {
    const stub = stubTokenEndpoint({ access_token: 'a-token', token_type: 'bearer', expires_in: 3600 });
    const cache = tokens({ fetch: stub });
    await cache.get(registration, SCORE);
    await cache.get({ ...registration, clientId: 'corrected-client-id' }, SCORE);
    await cache.get({ ...registration, authTokenUrl: `${registration.authTokenUrl}?moved=1` }, SCORE);
    expect(stub.calls).toBe(3);
    await cache.get(registration, SCORE); // unchanged: still cached
    expect(stub.calls).toBe(3);
  });

  it('keys on registration and scopes (scope order does not matter)', async () => {
    const cache = tokens();
    const other: TokenRegistration = { ...registration, id: `${registration.id}-other` };
    const scopes = [AGS_SCOPE.score, AGS_SCOPE.resultReadonly];
    const { requests } = await counting(async () => {
      await cache.get(registration, SCORE);
      await cache.get(other, SCORE);
      await cache.get(registration, scopes);
      await cache.get(registration, [...scopes].reverse());
      await cache.get(other, SCORE);
    });
    expect(requests).toBe(3);
    expect(platform.tokenRequests.slice(-3).map((r) => r.form.get('scope'))).toEqual([
      AGS_SCOPE_SCORE,
      AGS_SCOPE_SCORE,
      scopes.join(' '),
    ]);
  });
});

describe('failures', () => {
  it('5xx is retryable, is not cached, and concurrent callers all see it', async () => {
    const cache = tokens();
    platform.failNext('token', { status: 503 });
    const results = await Promise.allSettled(Array.from({ length: 3 }, () => cache.get(registration, SCORE)));
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    const error = (results[0] as PromiseRejectedResult).reason as TokenRequestError;
    expect(error).toBeInstanceOf(TokenRequestError);
    expect(error).toMatchObject({ retryable: true, status: 503 });
    expect(cache.requestCount).toBe(1);
    // The next get tries again, and succeeds.
    const { result, requests } = await counting(() => cache.get(registration, SCORE));
    expect(requests).toBe(1);
    expect(result).toMatch(/\S{20,}/);
  });

  it('429 carries Retry-After', async () => {
    const cache = tokens();
    platform.failNext('token', { status: 429, headers: { 'retry-after': '12' } });
    await expect(cache.get(registration, SCORE)).rejects.toMatchObject({ retryable: true, status: 429, retryAfterMs: 12_000 });
  });

  it('400 (e.g. invalid_grant) is permanent and says why', async () => {
    const cache = tokens();
    platform.failNext('token', { status: 400, body: '{"error":"invalid_grant","error_description":"jti was already used"}' });
    const error = (await cache.get(registration, SCORE).catch((e: unknown) => e)) as TokenRequestError;
    expect(error).toMatchObject({ retryable: false, status: 400 });
    expect(error.message).toContain('invalid_grant');
  });

  it('an endpoint that hangs past the timeout is a retryable failure', async () => {
    const cache = tokens({ timeoutMs: 200 });
    platform.failNext('token', { hangMs: 600, status: 503 });
    const error = (await cache.get(registration, SCORE).catch((e: unknown) => e)) as TokenRequestError;
    expect(error).toMatchObject({ retryable: true });
    expect(error.message).toMatch(/no answer within 200 ms/);
  });

  it('an unreachable endpoint is a retryable failure', async () => {
    const cache = tokens();
    const unreachable: TokenRegistration = { ...registration, authTokenUrl: 'http://127.0.0.1:9/token' };
    await expect(cache.get(unreachable, SCORE)).rejects.toMatchObject({ retryable: true, name: 'TokenRequestError' });
  });

  it.each([
    ['no access_token', { token_type: 'bearer', expires_in: 3600 }, false],
    ['a token type other than bearer', { access_token: 'x', token_type: 'mac', expires_in: 3600 }, false],
    ['non-JSON', '<html>maintenance</html>', true],
  ])('a 200 with %s is refused (retryable: %s)', async (_label, body, retryable) => {
    const cache = tokens({ fetch: stubTokenEndpoint(body) });
    await expect(cache.get(registration, SCORE)).rejects.toMatchObject({ retryable });
    // Nothing cached.
    await expect(cache.get(registration, SCORE)).rejects.toBeInstanceOf(TokenRequestError);
  });

  it('accepts Open edX\'s lowercase "bearer" and defaults a missing expires_in to an hour', async () => {
    const stub = stubTokenEndpoint({ access_token: 'no-expiry', token_type: 'bearer' });
    const cache = tokens({ fetch: stub });
    const issuedAt = clock.ms;
    expect(await cache.get(registration, SCORE)).toBe('no-expiry');
    clock.ms = issuedAt + HOUR - 60_001;
    await cache.get(registration, SCORE);
    expect(stub.calls).toBe(1);
  });
});

describe('clock skew with the platform', () => {
  // Open edX verifies client assertions with PyJWT and no leeway: an `iat` later than the LMS's
  // own clock is refused (400 unidentified_error, a permanent failure for us). A tool clock a
  // second or two ahead, well within what NTP allows between two hosts, must still get a token.
  it.each([1, 2.5])('a token is obtained when our clock is %s s ahead of the platform\'s', async (aheadS) => {
    const cache = new AccessTokens({
      fetch: (url, init) => fetch(url, init),
      toolKeys: tool.app.toolKeys,
      logger: createSilentLogger(),
      nowMs: () => clock.ms + aheadS * 1000,
    });
    await expect(cache.get(registration, SCORE)).resolves.toEqual(expect.any(String));
    const sent = platform.tokenRequests.at(-1)!;
    expect(sent).toMatchObject({ ok: true });
    // Still a fresh assertion: issued at most a minute before our clock, expiring within 5 minutes of it.
    const ourNowS = (clock.ms + aheadS * 1000) / 1000;
    expect(sent.assertionPayload.iat!).toBeLessThanOrEqual(clock.ms / 1000);
    expect(sent.assertionPayload.iat!).toBeGreaterThan(ourNowS - 60);
    expect(sent.assertionPayload.exp! - ourNowS).toBeLessThanOrEqual(300);
    expect(sent.assertionPayload.exp!).toBeGreaterThan(ourNowS);
  });

  it('the platform refuses an assertion issued in its future (as Open edX does), so the test above can fail', async () => {
    const before = platform.tokenRequests.length;
    const cache = new AccessTokens({
      fetch: (url, init) => fetch(url, init),
      toolKeys: tool.app.toolKeys,
      logger: createSilentLogger(),
      // Far beyond any backdating of iat: the platform must see an iat in its future.
      nowMs: () => clock.ms + 10 * 60_000,
    });
    await expect(cache.get(registration, SCORE)).rejects.toMatchObject({ retryable: false, status: 400 });
    expect(platform.tokenRequests.slice(before)).toEqual([
      expect.objectContaining({ ok: false, error: expect.stringMatching(/^unidentified_error: iat /) }),
    ]);
  });
});
