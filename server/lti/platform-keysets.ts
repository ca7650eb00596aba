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
  /** An unknown `kid` triggers at most one refetch per keyset per this interval. */
  unknownKidCooldownMs?: number;
  timeoutMs?: number;
  maxBytes?: number;
}

export class KeysetUnavailableError extends Error {
  override name = 'KeysetUnavailableError';
}

interface Entry {
  resolve: ReturnType<typeof createLocalJWKSet>;
  fetchedAt: number;
}

type KeyResolver = (header: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey | KeyObject>;

/**
 * Platform keysets, cached per keyset URL in this process (a cache only: nothing depends
 * on it for correctness). A cached key never causes a fetch on the launch path: stale
 * keysets are refreshed in the background, and only an unknown `kid` makes a launch wait
 * for one refetch (rate-limited so forged kids cannot make us hammer the platform).
 * Concurrent launches share one fetch. Keys without `alg` (Open edX, Brightspace) are
 * matched by `kid` and key type, as jose does.
 */
export class PlatformKeysets {
  readonly #entries = new Map<string, Entry>();
  readonly #inflight = new Map<string, Promise<Entry>>();
  readonly #lastForcedRefetch = new Map<string, number>();
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
        return await entry.resolve(header, token);
      } catch (err) {
        // Just fetched for this very launch: fetching again cannot find the kid.
        if (!(err instanceof joseErrors.JWKSNoMatchingKey) || !cached) throw err;
        const now = this.#opts.nowMs();
        const last = this.#lastForcedRefetch.get(keysetUrl) ?? Number.NEGATIVE_INFINITY;
        if (now - last < this.#opts.unknownKidCooldownMs) throw err;
        this.#lastForcedRefetch.set(keysetUrl, now);
        entry = await this.#fetch(keysetUrl, logger);
        return entry.resolve(header, token);
      }
    };
  }

  #refreshInBackground(keysetUrl: string): void {
    if (this.#inflight.has(keysetUrl)) return;
    this.#fetch(keysetUrl, () => this.#opts.logger).catch((err: unknown) =>
      this.#opts.logger.warn({ keysetUrl, err: (err as Error).message }, 'background keyset refresh failed; keeping cached keys'),
    );
  }

  /** `logger` is made only when this call starts the fetch (concurrent callers share one, logged by the first). */
  #fetch(keysetUrl: string, logger: () => Logger): Promise<Entry> {
    const inflight = this.#inflight.get(keysetUrl);
    if (inflight) return inflight;
    const promise = this.#load(keysetUrl, logger()).finally(() => this.#inflight.delete(keysetUrl));
    this.#inflight.set(keysetUrl, promise);
    return promise;
  }

  async #load(keysetUrl: string, logger: Logger): Promise<Entry> {
    this.fetchCount++;
    let jwks: JSONWebKeySet;
    try {
      const { status, text } = await fetchTextLimited(
        this.#opts.fetch,
        keysetUrl,
        { method: 'GET', headers: { accept: 'application/json, application/jwk-set+json' } },
        { timeoutMs: this.#opts.timeoutMs, maxBytes: this.#opts.maxBytes },
      );
      if (status !== 200) throw new Error(`HTTP ${status}`);
      jwks = JSON.parse(text) as JSONWebKeySet;
      if (!jwks || !Array.isArray(jwks.keys)) throw new Error('not a JWK set (no "keys" array)');
    } catch (err) {
      throw new KeysetUnavailableError(`keyset ${keysetUrl}: ${(err as Error).message}`, { cause: err });
    }
    const entry: Entry = { resolve: createLocalJWKSet(jwks), fetchedAt: this.#opts.nowMs() };
    this.#entries.set(keysetUrl, entry);
    logger.debug({ keysetUrl, keys: jwks.keys.length }, 'platform keyset fetched');
    return entry;
  }
}
