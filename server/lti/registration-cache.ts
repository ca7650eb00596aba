import type { LaunchRegistration } from './launch-queries.ts';

/**
 * Registrations as this process last read them, so a launch at the start of a class can
 * skip reading its registration and login and go straight to its single write. The cache
 * is only a guess: that write re-checks every field the launch relied on (issuer, client
 * id, keyset URL, deployment, exercise URL, the app being public) against the current
 * rows, and a launch whose guess was stale falls back to the fully read path. So an entry
 * can never let through a launch that the database would refuse; it only saves a read.
 */
export class RegistrationCache {
  readonly #entries = new Map<string, { registration: LaunchRegistration; expiresAtMs: number }>();

  constructor(
    private readonly options: { ttlMs: number; maxEntries: number },
    private readonly nowMs: () => number,
  ) {}

  get(appId: string, issuer: string, clientId: string): LaunchRegistration | undefined {
    const key = cacheKey(appId, issuer, clientId);
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAtMs <= this.nowMs()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.registration;
  }

  set(registration: LaunchRegistration): void {
    const key = cacheKey(registration.appId, registration.issuer, registration.clientId);
    this.#entries.delete(key);
    // Maps iterate in insertion order: the first key is the least recently stored.
    while (this.#entries.size >= this.options.maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(key, { registration, expiresAtMs: this.nowMs() + this.options.ttlMs });
  }

  forget(registration: Pick<LaunchRegistration, 'appId' | 'issuer' | 'clientId'>): void {
    this.#entries.delete(cacheKey(registration.appId, registration.issuer, registration.clientId));
  }

  /** Everything: an owner changed something (which, this cache cannot tell cheaply). */
  clear(): void {
    this.#entries.clear();
  }

  get size(): number {
    return this.#entries.size;
  }
}

function cacheKey(appId: string, issuer: string, clientId: string): string {
  // Newlines cannot occur in an app id, and only make a bogus issuer miss.
  return `${appId}\n${issuer}\n${clientId}`;
}
