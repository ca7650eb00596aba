import { describe, expect, it } from 'vitest';
import type { LaunchRegistration } from '../../server/lti/launch-queries.ts';
import { RegistrationCache } from '../../server/lti/registration-cache.ts';

function registration(n: number, overrides: Partial<LaunchRegistration> = {}): LaunchRegistration {
  return {
    id: `reg-${n}`,
    appId: `app-${n}`,
    issuer: 'https://lms.example.org',
    clientId: `client-${n}`,
    keysetUrl: 'https://lms.example.org/keys',
    authLoginUrl: 'https://lms.example.org/auth',
    deploymentIds: ['1'],
    isPublic: true,
    exerciseUrl: 'https://exercises.example.org/',
    ...overrides,
  };
}

describe('RegistrationCache', () => {
  it('finds an entry by app, issuer and client id only', () => {
    const cache = new RegistrationCache({ ttlMs: 1000, maxEntries: 10 }, () => 0);
    cache.set(registration(1));
    expect(cache.get('app-1', 'https://lms.example.org', 'client-1')?.id).toBe('reg-1');
    expect(cache.get('app-2', 'https://lms.example.org', 'client-1')).toBeUndefined();
    expect(cache.get('app-1', 'https://other.example.org', 'client-1')).toBeUndefined();
    expect(cache.get('app-1', 'https://lms.example.org', 'client-2')).toBeUndefined();
  });

  it('forgets entries after the TTL and on request', () => {
    let now = 0;
    const cache = new RegistrationCache({ ttlMs: 1000, maxEntries: 10 }, () => now);
    cache.set(registration(1));
    now = 999;
    expect(cache.get('app-1', 'https://lms.example.org', 'client-1')).toBeDefined();
    now = 1000;
    expect(cache.get('app-1', 'https://lms.example.org', 'client-1')).toBeUndefined();
    expect(cache.size).toBe(0);
    cache.set(registration(2));
    cache.forget(registration(2));
    expect(cache.get('app-2', 'https://lms.example.org', 'client-2')).toBeUndefined();
  });

  it('holds at most maxEntries, dropping the least recently stored', () => {
    const cache = new RegistrationCache({ ttlMs: 1000, maxEntries: 3 }, () => 0);
    for (let n = 1; n <= 5; n++) cache.set(registration(n));
    expect(cache.size).toBe(3);
    expect(cache.get('app-1', 'https://lms.example.org', 'client-1')).toBeUndefined();
    expect(cache.get('app-2', 'https://lms.example.org', 'client-2')).toBeUndefined();
    expect(cache.get('app-5', 'https://lms.example.org', 'client-5')?.id).toBe('reg-5');
    // Storing again refreshes an entry's place.
    cache.set(registration(3));
    cache.set(registration(6));
    expect(cache.get('app-3', 'https://lms.example.org', 'client-3')).toBeDefined();
    expect(cache.get('app-4', 'https://lms.example.org', 'client-4')).toBeUndefined();
  });
});
