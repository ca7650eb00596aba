import { exportJWK, generateKeyPair, errors as joseErrors, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { createSilentLogger } from '../../server/logger.ts';
import { KeysetUnavailableError, PlatformKeysets } from '../../server/lti/platform-keysets.ts';

const URL_ = 'https://lms.example.org/api/lti_consumer/v1/public_keysets/abc';
const token = { payload: '', signature: '', protected: '' };
let keyA: JWK;
let keyB: JWK;

beforeAll(async () => {
  keyA = { ...(await exportJWK((await generateKeyPair('RS256')).publicKey)), kid: 'a' };
  keyB = { ...(await exportJWK((await generateKeyPair('RS256')).publicKey)), kid: 'b' };
});

/** A platform keyset endpoint we can change, stall and count. */
function fakeKeyset(keys: () => JWK[]) {
  const state = { fetches: 0, hang: false, body: undefined as string | undefined, status: 200 };
  const fetch = async (_url: string, init?: RequestInit) => {
    state.fetches++;
    if (state.hang) {
      await new Promise((_resolve, reject) => init?.signal?.addEventListener('abort', () => reject(new Error('aborted'))));
    }
    return new Response(state.body ?? JSON.stringify({ keys: keys() }), { status: state.status });
  };
  return { state, fetch };
}

function keysets(fetch: (url: string, init?: RequestInit) => Promise<Response>, clock: { now: number }, extra = {}) {
  return new PlatformKeysets({ fetch, logger: createSilentLogger(), nowMs: () => clock.now, timeoutMs: 200, ...extra });
}

describe('PlatformKeysets', () => {
  it('fetches once, then answers known kids from the cache (keys without alg work)', async () => {
    const { state, fetch } = fakeKeyset(() => [keyA]);
    const ks = keysets(fetch, { now: 0 }).resolverFor(URL_);
    await expect(ks({ alg: 'RS256', kid: 'a' }, token)).resolves.toBeDefined();
    await ks({ alg: 'RS256', kid: 'a' }, token);
    expect(state.fetches).toBe(1);
  });

  it('an unknown kid on a cold cache costs one fetch, not two', async () => {
    const { state, fetch } = fakeKeyset(() => [keyA]);
    const ks = keysets(fetch, { now: 0 }).resolverFor(URL_);
    await expect(ks({ alg: 'RS256', kid: 'zzz' }, token)).rejects.toBeInstanceOf(joseErrors.JWKSNoMatchingKey);
    expect(state.fetches).toBe(1);
  });

  it('refetches once for an unknown kid, not again within the cooldown, again after it', async () => {
    let keys = [keyA];
    const { state, fetch } = fakeKeyset(() => keys);
    const clock = { now: 0 };
    const ks = keysets(fetch, clock, { unknownKidCooldownMs: 5_000 }).resolverFor(URL_);
    await ks({ alg: 'RS256', kid: 'a' }, token);
    keys = [keyB]; // the platform rotated
    await expect(ks({ alg: 'RS256', kid: 'b' }, token)).resolves.toBeDefined();
    expect(state.fetches).toBe(2);
    // Within the cooldown of that refetch, forged kids cost nothing…
    await expect(ks({ alg: 'RS256', kid: 'forged-1' }, token)).rejects.toBeInstanceOf(joseErrors.JWKSNoMatchingKey);
    expect(state.fetches).toBe(2);
    // …after it, one refetch, then none again.
    clock.now += 5_001;
    await expect(ks({ alg: 'RS256', kid: 'forged-2' }, token)).rejects.toBeInstanceOf(joseErrors.JWKSNoMatchingKey);
    expect(state.fetches).toBe(3);
    await expect(ks({ alg: 'RS256', kid: 'forged-3' }, token)).rejects.toBeInstanceOf(joseErrors.JWKSNoMatchingKey);
    expect(state.fetches).toBe(3);
  });

  it('refreshes a stale keyset in the background: the launch uses the cached key without waiting', async () => {
    const { state, fetch } = fakeKeyset(() => [keyA]);
    const clock = { now: 0 };
    const ks = keysets(fetch, clock, { refreshAfterMs: 1_000 }).resolverFor(URL_);
    await ks({ alg: 'RS256', kid: 'a' }, token);
    clock.now += 2_000;
    state.hang = true; // the refresh will not finish before the timeout
    const started = performance.now();
    await expect(ks({ alg: 'RS256', kid: 'a' }, token)).resolves.toBeDefined();
    expect(performance.now() - started).toBeLessThan(150);
    expect(state.fetches).toBe(2);
  });

  it('reports an unreachable, failing, oversized or malformed keyset as unavailable', async () => {
    for (const setup of [
      (s: { status: number; body: string | undefined; hang: boolean }) => (s.status = 503),
      (s: { status: number; body: string | undefined; hang: boolean }) => (s.body = 'not json'),
      (s: { status: number; body: string | undefined; hang: boolean }) => (s.body = '{"no":"keys"}'),
      (s: { status: number; body: string | undefined; hang: boolean }) => (s.body = JSON.stringify({ keys: [], pad: 'x'.repeat(300 * 1024) })),
      (s: { status: number; body: string | undefined; hang: boolean }) => (s.hang = true),
    ]) {
      const { state, fetch } = fakeKeyset(() => [keyA]);
      setup(state);
      const ks = keysets(fetch, { now: 0 }).resolverFor(URL_);
      await expect(ks({ alg: 'RS256', kid: 'a' }, token)).rejects.toBeInstanceOf(KeysetUnavailableError);
    }
  });
});
