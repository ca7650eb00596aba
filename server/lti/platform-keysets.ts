import {
  createLocalJWKSet,
  errors as joseErrors,
  type FlattenedJWSInput,
  type JSONWebKeySet,
  type JWSHeaderParameters,
  type KeyObject,
  type CryptoKey,
} from 'jose';
import { fetchTextLimited, type FetchLike } from '../http/limited-fetch.ts';
import type { Logger } from '../logger.ts';

export interface PlatformKeysetOptions {
  fetch: FetchLike;
  /** For background refreshes; a fetch a launch waits for logs with the launch's logger. */
  logger: Logger;
  /** Clock in ms, for cache ages. */
  nowMs?: () => number;
  /** Keysets older than this are refreshed in the background (launches keep using the cache). */
  refreshAfterMs?: number;
  /** An unknown or unusable `kid` triggers at most one refetch per keyset per this interval. */
  unknownKidCooldownMs?: number;
  timeoutMs?: number;
  maxBytes?: number;
  /**
   * A failed fetch is remembered this long per keyset URL: launches meanwhile are refused at
   * once instead of each waiting up to `timeoutMs` for a platform that is down.
   */
  failureMemoryMs?: number;
  /** At most this many failed URLs are remembered (the oldest is forgotten first), so memory stays bounded. */
  maxRememberedFailures?: number;
}

/** The platform's keyset cannot be used: unreachable, not a JWK set, or the key a token names is broken. */
export class KeysetUnavailableError extends Error {
  override name = 'KeysetUnavailableError';
}

/**
 * The keyset was fetched, but the key the token names cannot verify anything: several keys
 * match it, it does not import (bad key material, a private key), or it is an RSA key under
 * 2048 bits. The platform's fault, never the token's.
 */
export class UnusableKeyError extends KeysetUnavailableError {
  override name = 'UnusableKeyError';
}

/** jose refuses shorter RSA keys when verifying (RFC 7518 §3.3); we say so before it does. */
const MIN_RSA_BITS = 2048;

interface Entry {
  resolve: ReturnType<typeof createLocalJWKSet>;
  fetchedAt: number;
}

interface Failure {
  error: KeysetUnavailableError;
  at: number;
}

type KeyResolver = (header: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey | KeyObject>;

/**
 * Platform keysets, cached per keyset URL in this process (a cache only: nothing depends
 * on it for correctness). A cached key never causes a fetch on the launch path: stale
 * keysets are refreshed in the background, and only an unknown (or unusable) `kid` makes a
 * launch wait for one refetch (rate-limited so forged kids cannot make us hammer the
 * platform). Concurrent launches share one fetch, and a failed fetch is remembered for a
 * few seconds, so launches during an outage do not each wait for the timeout. Keys without
 * `alg` (Open edX, Brightspace) are matched by `kid` and key type, as jose does.
 */
export class PlatformKeysets {
  readonly #entries = new Map<string, Entry>();
  readonly #inflight = new Map<string, Promise<Entry>>();
  readonly #lastForcedRefetch = new Map<string, number>();
  /** Insertion-ordered: the first key is the oldest failure (evicted first). */
  readonly #failures = new Map<string, Failure>();
  readonly #opts: Required<PlatformKeysetOptions>;
  /** Number of HTTP fetches made (benchmarks and metrics). */
  fetchCount = 0;

  constructor(options: PlatformKeysetOptions) {
    this.#opts = {
      nowMs: () => Date.now(),
      refreshAfterMs: 10 * 60_000,
      unknownKidCooldownMs: 5_000,
      timeoutMs: 5_000,
      maxBytes: 256 * 1024,
      failureMemoryMs: 5_000,
      maxRememberedFailures: 1_000,
      ...options,
    };
  }

  /**
   * A jose key resolver for one keyset URL. `requestLogger` is the launch's: a fetch it waits
   * for is logged with its reqId (a background refresh belongs to no request).
   */
  resolverFor(keysetUrl: string, requestLogger?: Logger): KeyResolver {
    const logger = () => requestLogger?.child({ component: 'keysets' }) ?? this.#opts.logger;
    return async (header, token) => {
      const cached = this.#entries.get(keysetUrl);
      let entry = cached ?? (await this.#fetch(keysetUrl, logger));
      if (this.#opts.nowMs() - entry.fetchedAt > this.#opts.refreshAfterMs) this.#refreshInBackground(keysetUrl);
      try {
        return await keyFor(entry, header, token, keysetUrl);
      } catch (err) {
        // Just fetched for this very launch: fetching again cannot change the answer. A cached
        // keyset may be out of date: the platform may have rotated, or fixed a broken key.
        if (!cached || !(err instanceof joseErrors.JWKSNoMatchingKey || err instanceof UnusableKeyError)) throw err;
        const now = this.#opts.nowMs();
        const last = this.#lastForcedRefetch.get(keysetUrl) ?? Number.NEGATIVE_INFINITY;
        if (now - last < this.#opts.unknownKidCooldownMs) throw err;
        this.#lastForcedRefetch.set(keysetUrl, now);
        entry = await this.#fetch(keysetUrl, logger);
        return keyFor(entry, header, token, keysetUrl);
      }
    };
  }

  #refreshInBackground(keysetUrl: string): void {
    // During a remembered failure the cached keys stay in use; no point asking again yet.
    if (this.#inflight.has(keysetUrl) || this.#recentFailure(keysetUrl)) return;
    this.#fetch(keysetUrl, () => this.#opts.logger).catch((err: unknown) =>
      this.#opts.logger.warn({ keysetUrl, err: (err as Error).message }, 'background keyset refresh failed; keeping cached keys'),
    );
  }

  /** `logger` is made only when this call starts the fetch (concurrent callers share one, logged by the first). */
  #fetch(keysetUrl: string, logger: () => Logger): Promise<Entry> {
    const inflight = this.#inflight.get(keysetUrl);
    if (inflight) return inflight;
    const failed = this.#recentFailure(keysetUrl);
    if (failed) return Promise.reject(failed);
    const promise = this.#load(keysetUrl, logger()).finally(() => this.#inflight.delete(keysetUrl));
    this.#inflight.set(keysetUrl, promise);
    return promise;
  }

  /**
   * Fetches, parses and builds the key set, all inside one try: whatever goes wrong with the
   * platform's keyset (network, status, JSON, shape) is KeysetUnavailableError, remembered
   * for `failureMemoryMs`, and never blamed on the token.
   */
  async #load(keysetUrl: string, logger: Logger): Promise<Entry> {
    this.fetchCount++;
    let entry: Entry;
    let keys: number;
    try {
      const { status, text } = await fetchTextLimited(
        this.#opts.fetch,
        keysetUrl,
        { method: 'GET', headers: { accept: 'application/json, application/jwk-set+json' } },
        { timeoutMs: this.#opts.timeoutMs, maxBytes: this.#opts.maxBytes },
      );
      if (status !== 200) throw new Error(`HTTP ${status}`);
      const jwks = checkKeySetShape(JSON.parse(text));
      keys = jwks.keys.length;
      // jose validates the set again here (and throws JWKSInvalid): also the platform's fault.
      entry = { resolve: createLocalJWKSet(jwks), fetchedAt: this.#opts.nowMs() };
    } catch (err) {
      const error = new KeysetUnavailableError(`keyset ${keysetUrl}: ${(err as Error).message}`, { cause: err });
      this.#rememberFailure(keysetUrl, error);
      throw error;
    }
    this.#failures.delete(keysetUrl);
    this.#entries.set(keysetUrl, entry);
    logger.debug({ keysetUrl, keys }, 'platform keyset fetched');
    return entry;
  }

  #rememberFailure(keysetUrl: string, error: KeysetUnavailableError): void {
    this.#failures.delete(keysetUrl);
    while (this.#failures.size >= this.#opts.maxRememberedFailures) this.#failures.delete(this.#failures.keys().next().value!);
    this.#failures.set(keysetUrl, { error, at: this.#opts.nowMs() });
  }

  /** The failure of the last fetch of this URL, while it is remembered. */
  #recentFailure(keysetUrl: string): KeysetUnavailableError | undefined {
    const failure = this.#failures.get(keysetUrl);
    if (!failure) return undefined;
    const age = this.#opts.nowMs() - failure.at;
    // A clock that went back (age < 0) must not keep a platform locked out.
    if (age < 0 || age >= this.#opts.failureMemoryMs) {
      this.#failures.delete(keysetUrl);
      return undefined;
    }
    return new KeysetUnavailableError(
      `${failure.error.message} (failed ${age} ms ago; not fetched again within ${this.#opts.failureMemoryMs} ms)`,
      { cause: failure.error },
    );
  }
}

/** A JSON object with a `keys` array of JSON objects (RFC 7517 §5), or an error saying what is wrong. */
function checkKeySetShape(value: unknown): JSONWebKeySet {
  if (typeof value !== 'object' || value === null || !Array.isArray((value as { keys?: unknown }).keys)) {
    throw new Error('not a JWK set (no "keys" array)');
  }
  const keys = (value as { keys: unknown[] }).keys;
  const bad = keys.findIndex((key) => typeof key !== 'object' || key === null || Array.isArray(key));
  if (bad !== -1) throw new Error(`not a JWK set (keys[${bad}] is not a JSON object)`);
  return value as JSONWebKeySet;
}

/**
 * The key for a token's kid and alg, chosen by jose. No matching key is JWKSNoMatchingKey
 * (the token names a key the platform does not have); anything else that goes wrong is the
 * keyset's fault: UnusableKeyError, with the reason for the log.
 */
async function keyFor(entry: Entry, header: JWSHeaderParameters, token: FlattenedJWSInput, keysetUrl: string): Promise<CryptoKey | KeyObject> {
  // Only for the error messages: built when one is thrown, not on every launch.
  const which = () => `kid ${JSON.stringify(header.kid).slice(0, 100)} for ${String(header.alg)}`;
  let key: CryptoKey | KeyObject;
  try {
    key = await entry.resolve(header, token);
  } catch (err) {
    if (err instanceof joseErrors.JWKSNoMatchingKey) throw err;
    if (err instanceof joseErrors.JWKSMultipleMatchingKeys) {
      throw new UnusableKeyError(`keyset ${keysetUrl}: several keys match ${which()}`, { cause: err });
    }
    // The alg is allowlisted and the kid a string before we get here: what remains is importing
    // the key itself (bad key material, a private key in a public keyset).
    throw new UnusableKeyError(`keyset ${keysetUrl}: the key for ${which()} cannot be imported: ${(err as Error)?.message}`, { cause: err });
  }
  // jose would refuse it a step later with a TypeError that reads like the token's fault.
  const bits = ((key as CryptoKey).algorithm as Partial<RsaHashedKeyAlgorithm> | undefined)?.modulusLength;
  if (typeof bits === 'number' && bits < MIN_RSA_BITS) {
    throw new UnusableKeyError(`keyset ${keysetUrl}: the key for ${which()} is RSA of ${bits} bits (at least ${MIN_RSA_BITS} required)`);
  }
  return key;
}
