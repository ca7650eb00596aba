/**
 * Bearer tokens the platform issues at its token endpoint and accepts at its services.
 */
import { randomBytes } from 'node:crypto';
import { ACCESS_TOKEN_TTL_SECONDS } from './constants.ts';

/** Issued access tokens, each with its scopes and expiry. */
export interface AccessTokenStore {
  issue(scopes: readonly string[]): { token: string; expiresIn: number };
  /** The token's scopes, or undefined if it was never issued here or has expired. */
  scopesOf(token: string): readonly string[] | undefined;
}

export function createAccessTokenStore(now: () => number): AccessTokenStore {
  const tokens = new Map<string, { scopes: readonly string[]; expiresAtMs: number }>();
  return {
    issue(scopes) {
      const token = randomBytes(32).toString('base64url');
      tokens.set(token, { scopes: [...scopes], expiresAtMs: now() + ACCESS_TOKEN_TTL_SECONDS * 1000 });
      return { token, expiresIn: ACCESS_TOKEN_TTL_SECONDS };
    },
    scopesOf(token) {
      const entry = tokens.get(token);
      return entry && entry.expiresAtMs > now() ? entry.scopes : undefined;
    },
  };
}
