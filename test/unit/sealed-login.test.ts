/**
 * The sealed login (server/lti/sealed-login.ts): the state cookie's value carries the login
 * instead of a database row, so every field must be authenticated (any change is 'forged'),
 * it must be bound to the form's state and the app of the launch URL, and anything not in
 * the sealed layout must be 'malformed' (an unknown login, never a crash).
 */
import { describe, expect, it } from 'vitest';
import { openLogin, sealLogin, type OpenedLogin, type SealedLogin } from '../../server/lti/sealed-login.ts';

const KEY = Buffer.alloc(32, 0x5a);
const OTHER_KEY = Buffer.alloc(32, 0x5b);
const STATE = 'S'.repeat(20) + '_-' + 's'.repeat(21);
const LOGIN: SealedLogin = {
  state: STATE,
  nonce: 'n'.repeat(21) + '-_' + 'N'.repeat(20),
  appId: '0195f5a2-0000-7000-8000-000000000001',
  registrationId: '0195f5a2-0000-7000-8000-000000000002',
  expiresAt: new Date('2031-01-01T12:10:00.123Z'),
};
const SEALED = sealLogin(KEY, LOGIN);

const reason = (opened: OpenedLogin) => (opened.ok ? 'ok' : opened.reason);
/** The sealed value's five dot-separated parts: version, nonce, registration, expiry (ms), MAC. */
const parts = (value: string) => value.split('.');
const withPart = (index: number, value: string) => {
  const p = parts(SEALED);
  p[index] = value;
  return p.join('.');
};
/** Another character of the same alphabet at `at` (so only the content changes, not the shape). */
const flip = (text: string, at: number) => {
  const c = text[at]!;
  const other = /[0-9]/.test(c) ? String((Number(c) + 1) % 10) : c === 'A' ? 'B' : 'A';
  return text.slice(0, at) + other + text.slice(at + 1);
};

describe('sealLogin / openLogin', () => {
  it('round trip: the state, nonce, app, registration and expiry (to the millisecond) come back', () => {
    const opened = openLogin(KEY, SEALED, STATE, LOGIN.appId);
    expect(opened).toEqual({ ok: true, login: LOGIN });
    // Not a constant: another login seals to another value.
    expect(sealLogin(KEY, { ...LOGIN, nonce: 'x'.repeat(43) })).not.toBe(SEALED);
  });

  it('has the documented layout l1.<nonce>.<registrationId>.<expiresAtMs>.<mac>, and carries neither the state nor the app', () => {
    expect(parts(SEALED)).toEqual(['l1', LOGIN.nonce, LOGIN.registrationId, String(LOGIN.expiresAt.getTime()), expect.stringMatching(/^[A-Za-z0-9_-]{43}$/)]);
    expect(SEALED).not.toContain(STATE);
    expect(SEALED).not.toContain(LOGIN.appId);
  });

  it('contains only cookie-safe characters (RFC 6265 cookie-octets, no quoting or encoding needed)', () => {
    expect(SEALED).toMatch(/^[A-Za-z0-9._-]+$/);
    // Whatever the random bytes: many keys and nonces.
    for (let i = 0; i < 200; i++) {
      const key = Buffer.alloc(32, i);
      const value = sealLogin(key, { ...LOGIN, nonce: Buffer.alloc(32, 255 - i).toString('base64url'), expiresAt: new Date(i * 1_234_567) });
      expect(value).toMatch(/^[A-Za-z0-9._-]+$/);
      expect(reason(openLogin(key, value, STATE, LOGIN.appId))).toBe('ok');
    }
  });

  it('each sealed field altered → forged (nonce, registration, expiry, MAC)', () => {
    const nonce = parts(SEALED)[1]!;
    const registration = parts(SEALED)[2]!;
    const expiry = parts(SEALED)[3]!;
    const mac = parts(SEALED)[4]!;
    const altered = [
      withPart(1, flip(nonce, 0)),
      withPart(1, flip(nonce, 42)),
      withPart(2, flip(registration, 0)),
      withPart(2, 'another-registration'),
      withPart(3, flip(expiry, expiry.length - 1)),
      withPart(3, String(LOGIN.expiresAt.getTime() + 3600_000)),
      withPart(4, flip(mac, 0)),
      withPart(4, flip(mac, 42)),
      // Fields swapped: still well-formed, never the same MAC input.
      withPart(1, parts(SEALED)[4]!).replace(/\.[^.]*$/, `.${nonce}`),
    ];
    for (const value of altered) {
      expect(value).not.toBe(SEALED);
      expect(reason(openLogin(KEY, value, STATE, LOGIN.appId)), value).toBe('forged');
    }
  });

  it('another state or another app → forged (the MAC covers both, though neither is in the value)', () => {
    expect(reason(openLogin(KEY, SEALED, flip(STATE, 0), LOGIN.appId))).toBe('forged');
    expect(reason(openLogin(KEY, SEALED, flip(STATE, 42), LOGIN.appId))).toBe('forged');
    expect(reason(openLogin(KEY, SEALED, STATE, '0195f5a2-0000-7000-8000-000000000003'))).toBe('forged');
    expect(reason(openLogin(KEY, SEALED, STATE, ''))).toBe('forged');
  });

  it('a login sealed with another key → forged', () => {
    expect(reason(openLogin(OTHER_KEY, SEALED, STATE, LOGIN.appId))).toBe('forged');
    expect(reason(openLogin(KEY, sealLogin(OTHER_KEY, LOGIN), STATE, LOGIN.appId))).toBe('forged');
  });

  it('another version → malformed (an older or newer layout is an unknown login)', () => {
    for (const version of ['l0', 'l2', 'L1', '', 'l1 ']) {
      expect(reason(openLogin(KEY, withPart(0, version), STATE, LOGIN.appId)), version).toBe('malformed');
    }
  });

  it('a wrong number of parts → malformed', () => {
    const p = parts(SEALED);
    for (const value of ['', STATE, p.slice(0, 4).join('.'), p.slice(0, 3).join('.'), `${SEALED}.`, `${SEALED}.x`, SEALED.replace(/\./g, '')]) {
      expect(reason(openLogin(KEY, value, STATE, LOGIN.appId)), value).toBe('malformed');
    }
  });

  it('a field of the wrong shape → malformed', () => {
    const nonce = parts(SEALED)[1]!;
    const mac = parts(SEALED)[4]!;
    const bad: Array<[number, string]> = [
      // nonce: 43 base64url characters
      [1, ''],
      [1, nonce.slice(1)],
      [1, `${nonce}A`],
      [1, `${nonce.slice(1)}+`],
      [1, `${nonce.slice(1)}=`],
      // registration id: 1–64 of [A-Za-z0-9_-]
      [2, ''],
      [2, 'r'.repeat(65)],
      [2, 'reg 1'],
      [2, 'reg/1'],
      // expiry: 1–15 digits
      [3, ''],
      [3, '-1'],
      [3, '1e12'],
      [3, '1'.repeat(16)],
      [3, '12x'],
      // MAC: 43 characters
      [4, ''],
      [4, mac.slice(1)],
      [4, `${mac}A`],
    ];
    for (const [index, value] of bad) {
      expect(reason(openLogin(KEY, withPart(index, value), STATE, LOGIN.appId)), `part ${index} = ${value}`).toBe('malformed');
    }
  });
});
