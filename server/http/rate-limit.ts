/**
 * Per-key token buckets: each key (a client address, a hashed credential) may spend
 * `perMinute` requests at once, and earns them back steadily over a minute.
 *
 * Memory is bounded: a bucket that has refilled is the same as no bucket, so the oldest
 * buckets are dropped as soon as they are full again (checked a little on every request,
 * no timers), and at most `maxKeys` are kept — past that the least recently used one is
 * forgotten, which only ever gives that key a fresh allowance, never another key less.
 *
 * Process-local by design: behind N processes a client gets up to N times the limit.
 */
export interface RateLimiterOptions {
  /** Requests per minute per key, also the burst size; 0 turns the limiter off. */
  perMinute: number;
  /** The most keys tracked at once (a flood of distinct keys cannot grow memory past it). */
  maxKeys?: number;
  nowMs: () => number;
}

export type RateDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number; firstRefusal: boolean };

interface Bucket {
  tokens: number;
  updatedMs: number;
  /** Set by a refusal, cleared by the next allowed request: one log line per episode. */
  refusing: boolean;
}

export const DEFAULT_MAX_KEYS = 10_000;
/** Idle buckets inspected per request (from the least recently used end). */
const SWEEP_PER_TAKE = 2;
const ALLOWED: RateDecision = { allowed: true };

export class RateLimiter {
  readonly perMinute: number;
  readonly #maxKeys: number;
  readonly #nowMs: () => number;
  readonly #perMs: number;
  /** Insertion order is recency order: a key is re-inserted on every use. */
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: RateLimiterOptions) {
    if (!Number.isInteger(options.perMinute) || options.perMinute < 0) {
      throw new TypeError(`perMinute must be a whole number ≥ 0, got ${options.perMinute}`);
    }
    this.perMinute = options.perMinute;
    this.#maxKeys = options.maxKeys ?? DEFAULT_MAX_KEYS;
    if (!Number.isInteger(this.#maxKeys) || this.#maxKeys < 1) throw new TypeError('maxKeys must be a whole number ≥ 1');
    this.#nowMs = options.nowMs;
    this.#perMs = options.perMinute / 60_000;
  }

  get enabled(): boolean {
    return this.perMinute > 0;
  }

  /** Keys currently tracked. */
  get size(): number {
    return this.#buckets.size;
  }

  /** Spends one request of `key`'s allowance, or says how long until the next one. */
  take(key: string): RateDecision {
    if (!this.enabled) return ALLOWED;
    const now = this.#nowMs();
    this.#sweep(now);
    let bucket = this.#buckets.get(key);
    if (bucket) {
      this.#buckets.delete(key);
      bucket.tokens = this.#refilled(bucket, now);
      bucket.updatedMs = now;
    } else {
      if (this.#buckets.size >= this.#maxKeys) this.#buckets.delete(this.#buckets.keys().next().value!);
      bucket = { tokens: this.perMinute, updatedMs: now, refusing: false };
    }
    this.#buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      bucket.refusing = false;
      return ALLOWED;
    }
    const firstRefusal = !bucket.refusing;
    bucket.refusing = true;
    const waitMs = (1 - bucket.tokens) / this.#perMs;
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)), firstRefusal };
  }

  #refilled(bucket: Bucket, now: number): number {
    // A clock that steps back (tests, NTP) earns nothing rather than a negative amount.
    const elapsed = Math.max(0, now - bucket.updatedMs);
    return Math.min(this.perMinute, bucket.tokens + elapsed * this.#perMs);
  }

  /** Drops the least recently used buckets that have refilled (they equal no bucket). */
  #sweep(now: number): void {
    let inspected = 0;
    for (const [key, bucket] of this.#buckets) {
      if (inspected++ >= SWEEP_PER_TAKE || this.#refilled(bucket, now) < this.perMinute) return;
      this.#buckets.delete(key);
    }
  }
}
