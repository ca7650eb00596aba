import { generateKeyPairSync } from 'node:crypto';
import { exportJWK, generateKeyPair, errors as joseErrors, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { createLogger, createSilentLogger } from '../../server/logger.ts';
import { KeysetUnavailableError, PlatformKeysets, UnusableKeyError } from '../../server/lti/platform-keysets.ts';

const URL_ = 'https://lms.example.org/api/lti_consumer/v1/public_keysets/abc';
const token = { payload: '', signature: '', protected: '' };
let keyA: JWK;
let keyB: JWK;
/** An RSA key of 1024 bits (jose will not generate one; node:crypto will). */
let weakKey: JWK;
/** A private RSA key: it has no business in a platform's public keyset. */
let privateKey: JWK;

beforeAll(async () => {
  keyA = { ...(await exportJWK((await generateKeyPair('RS256')).publicKey)), kid: 'a' };
  keyB = { ...(await exportJWK((await generateKeyPair('RS256')).publicKey)), kid: 'b' };
  weakKey = { ...(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' }) as JWK), kid: 'weak' };
  privateKey = { ...(await exportJWK((await generateKeyPair('RS256', { extractable: true })).privateKey)), kid: 'private' };
});

/** A platform keyset endpoint we can change, stall and count. */
function fakeKeyset(keys: () => unknown[]) {
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

/** The rejection of `promise` (fails the test if it resolves). */
async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
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

  it('refreshes a stale keyset in the background: the launch gets the cached key while the refresh is still pending', async () => {
    let keys = [keyA];
    let fetches = 0;
    // The refresh's response exists only when the test releases it (no timer can end it: a
    // timeout far beyond the test).
    let release: (() => void) | undefined;
    const fetch = async () => {
      fetches++;
      if (fetches > 1) await new Promise<void>((resolve) => (release = resolve));
      return Response.json({ keys });
    };
    const clock = { now: 0 };
    const ks = keysets(fetch, clock, { refreshAfterMs: 1_000, timeoutMs: 3_600_000 }).resolverFor(URL_);
    const first = await ks({ alg: 'RS256', kid: 'a' }, token);
    clock.now += 2_000;
    keys = [keyB];
    // Answered from the cache although the refresh it started has not been answered.
    await expect(ks({ alg: 'RS256', kid: 'a' }, token)).resolves.toBe(first);
    expect(fetches).toBe(2);
    expect(release).toBeDefined(); // the refresh is still waiting for its response
    // A second stale launch joins the pending refresh instead of starting another.
    await expect(ks({ alg: 'RS256', kid: 'a' }, token)).resolves.toBe(first);
    expect(fetches).toBe(2);
    release!();
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

describe('PlatformKeysets: keysets that are broken, not the token', () => {
  it.each([
    ['{"keys":[null]}', 'keys[0] is not a JSON object'],
    ['{"keys":[1]}', 'keys[0] is not a JSON object'],
    ['{"keys":[{"kty":"RSA","kid":"x"},[]]}', 'keys[1] is not a JSON object'],
    ['{"keys":"a"}', 'no "keys" array'],
    ['[]', 'no "keys" array'],
    ['null', 'no "keys" array'],
  ])('%s → KeysetUnavailableError (%s), remembered: the next launch does not refetch', async (body, reason) => {
    const { state, fetch } = fakeKeyset(() => []);
    state.body = body;
    const ks = keysets(fetch, { now: 0 }).resolverFor(URL_);
    const err = await rejectionOf(ks({ alg: 'RS256', kid: 'a' }, token));
    expect(err).toBeInstanceOf(KeysetUnavailableError);
    expect(err.message).toContain(URL_);
    expect(err.message).toContain(reason);
    await expect(ks({ alg: 'RS256', kid: 'a' }, token)).rejects.toBeInstanceOf(KeysetUnavailableError);
    expect(state.fetches).toBe(1);
  });

  it.each([
    ['two keys with the same kid', () => [keyA, { ...keyB, kid: 'a' }], 'a', 'several keys match kid "a" for RS256'],
    ['an RSA key under 2048 bits', () => [keyA, weakKey], 'weak', 'RSA of 1024 bits'],
    ['a key that does not import', () => [keyA, { kty: 'RSA', kid: 'bad', e: 'AQAB' }], 'bad', 'cannot be imported'],
    ['a private key', () => [keyA, privateKey], 'private', 'cannot be imported'],
  ])('%s → the kid naming it is UnusableKeyError (a KeysetUnavailableError); other keys still work', async (_label, keys, kid, reason) => {
    const { state, fetch } = fakeKeyset(keys);
    const ks = keysets(fetch, { now: 0 }).resolverFor(URL_);
    const err = await rejectionOf(ks({ alg: 'RS256', kid }, token));
    expect(err).toBeInstanceOf(UnusableKeyError);
    expect(err).toBeInstanceOf(KeysetUnavailableError);
    expect(err.message).toContain(URL_);
    expect(err.message).toContain(reason);
    if (kid !== 'a') await expect(ks({ alg: 'RS256', kid: 'a' }, token)).resolves.toBeDefined();
    expect(state.fetches).toBe(1);
  });

  it('a broken cached key is refetched like an unknown kid: once per cooldown, then the fixed key is used', async () => {
    let keys: JWK[] = [keyA, weakKey];
    const { state, fetch } = fakeKeyset(() => keys);
    const clock = { now: 0 };
    const ks = keysets(fetch, clock, { unknownKidCooldownMs: 5_000 }).resolverFor(URL_);
    await ks({ alg: 'RS256', kid: 'a' }, token); // cached
    // The cached keyset's weak key: one refetch (still weak), then none within the cooldown.
    await expect(ks({ alg: 'RS256', kid: 'weak' }, token)).rejects.toBeInstanceOf(UnusableKeyError);
    expect(state.fetches).toBe(2);
    await expect(ks({ alg: 'RS256', kid: 'weak' }, token)).rejects.toBeInstanceOf(UnusableKeyError);
    expect(state.fetches).toBe(2);
    // The platform replaces it; after the cooldown the next launch refetches and verifies.
    keys = [keyA, { ...keyB, kid: 'weak' }];
    clock.now += 5_001;
    await expect(ks({ alg: 'RS256', kid: 'weak' }, token)).resolves.toBeDefined();
    expect(state.fetches).toBe(3);
  });
});

describe('PlatformKeysets: a failed fetch is remembered per URL', () => {
  it('no fetch within the memory window, one after it; a success forgets the failure', async () => {
    const { state, fetch } = fakeKeyset(() => [keyA]);
    state.status = 503;
    const clock = { now: 0 };
    const ks = keysets(fetch, clock, { failureMemoryMs: 5_000 }).resolverFor(URL_);
    const first = await rejectionOf(ks({ alg: 'RS256', kid: 'a' }, token));
    expect(first).toBeInstanceOf(KeysetUnavailableError);
    expect(state.fetches).toBe(1);
    // Within the window: refused at once with the remembered reason, nothing fetched.
    clock.now += 4_999;
    const remembered = await rejectionOf(ks({ alg: 'RS256', kid: 'a' }, token));
    expect(remembered).toBeInstanceOf(KeysetUnavailableError);
    expect(remembered.message).toContain('HTTP 503');
    expect(remembered.message).toContain('not fetched again');
    expect(state.fetches).toBe(1);
    // After it: one fetch, which now succeeds.
    state.status = 200;
    clock.now += 1;
    await expect(ks({ alg: 'RS256', kid: 'a' }, token)).resolves.toBeDefined();
    expect(state.fetches).toBe(2);
  });

  it('is per URL', async () => {
    const { state, fetch } = fakeKeyset(() => [keyA]);
    state.status = 503;
    const ks = keysets(fetch, { now: 0 });
    await expect(ks.resolverFor(`${URL_}/1`)({ alg: 'RS256', kid: 'a' }, token)).rejects.toBeInstanceOf(KeysetUnavailableError);
    await expect(ks.resolverFor(`${URL_}/2`)({ alg: 'RS256', kid: 'a' }, token)).rejects.toBeInstanceOf(KeysetUnavailableError);
    expect(state.fetches).toBe(2);
  });

  it('remembers at most maxRememberedFailures URLs, forgetting the oldest first', async () => {
    const { state, fetch } = fakeKeyset(() => [keyA]);
    state.status = 503;
    const ks = keysets(fetch, { now: 0 }, { maxRememberedFailures: 2 });
    const tryUrl = (n: number) => ks.resolverFor(`${URL_}/${n}`)({ alg: 'RS256', kid: 'a' }, token).catch(() => undefined);
    await tryUrl(1);
    await tryUrl(2);
    await tryUrl(3); // evicts 1
    expect(state.fetches).toBe(3);
    await tryUrl(3);
    await tryUrl(2);
    expect(state.fetches).toBe(3); // still remembered
    await tryUrl(1);
    expect(state.fetches).toBe(4); // forgotten, fetched again
  });

  it('a clock that went back does not keep the failure', async () => {
    const { state, fetch } = fakeKeyset(() => [keyA]);
    state.status = 503;
    const clock = { now: 10_000 };
    const ks = keysets(fetch, clock).resolverFor(URL_);
    await expect(ks({ alg: 'RS256', kid: 'a' }, token)).rejects.toBeInstanceOf(KeysetUnavailableError);
    clock.now = 0;
    await expect(ks({ alg: 'RS256', kid: 'a' }, token)).rejects.toBeInstanceOf(KeysetUnavailableError);
    expect(state.fetches).toBe(2);
  });

  it('during a remembered failure, cached keys keep working and no background refresh or kid refetch is attempted', async () => {
    const { state, fetch } = fakeKeyset(() => [keyA]);
    const clock = { now: 0 };
    const warnings: string[] = [];
    const logger = createLogger('warn', { write: (line: string) => warnings.push((JSON.parse(line) as { msg: string }).msg) } as never);
    const ks = keysets(fetch, clock, { refreshAfterMs: 1_000, failureMemoryMs: 5_000, logger }).resolverFor(URL_);
    await ks({ alg: 'RS256', kid: 'a' }, token);
    state.status = 503;
    // Stale: the background refresh runs and fails (remembered).
    clock.now += 2_000;
    await ks({ alg: 'RS256', kid: 'a' }, token);
    expect(state.fetches).toBe(2);
    await new Promise((resolve) => setImmediate(resolve)); // let the background refresh settle
    // Within the window: the cached key answers, nothing is fetched, and an unknown kid
    // gets the remembered failure instead of a refetch.
    clock.now += 1_000;
    await expect(ks({ alg: 'RS256', kid: 'a' }, token)).resolves.toBeDefined();
    await expect(ks({ alg: 'RS256', kid: 'new' }, token)).rejects.toBeInstanceOf(KeysetUnavailableError);
    expect(state.fetches).toBe(2);
    // The failed refresh is logged once, not again by every stale launch of the window.
    await new Promise((resolve) => setImmediate(resolve));
    expect(warnings).toEqual(['background keyset refresh failed; keeping cached keys']);
  });
});
