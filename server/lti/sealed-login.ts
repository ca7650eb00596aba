import { createHmac, timingSafeEqual } from 'node:crypto';
import { RANDOM_TOKEN_PATTERN } from '../ids.ts';

/**
 * A login in flight, carried by the browser from the login to the launch in its state cookie
 * instead of a database row: any process can finish it, and an unauthenticated login request
 * writes nothing. The cookie is authenticated (HMAC-SHA-256 with a secret every process
 * shares, see login-state-key.ts), not encrypted: nothing in it is secret from the browser
 * that holds it (the nonce also travels through the platform).
 *
 * What the database no longer gives, and what replaces it:
 * - "single use": the launch's insert is unique on the nonce (launch-record.ts), on every
 *   process and for ever, where a login row only guarded its nonce until it was cleaned up;
 * - "issued by us, for this app and registration, until": the MAC covers the state, nonce,
 *   app, registration and expiry, so none of them can be changed or made up.
 */
export interface SealedLogin {
  /** The OIDC `state`: also in the launch form, and (its start) in the cookie's name. */
  state: string;
  nonce: string;
  appId: string;
  registrationId: string;
  expiresAt: Date;
}

/** Bumped if the layout or the MAC input ever changes: an older cookie is then simply unknown. */
const VERSION = 'l1';
const MAC_LENGTH = 43; // base64url of 32 bytes
const REGISTRATION_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const EXPIRY_PATTERN = /^[0-9]{1,15}$/;

/** The state cookie's value: `l1.<nonce>.<registrationId>.<expiresAtMs>.<mac>` (cookie-safe characters only). */
export function sealLogin(key: Buffer, login: SealedLogin): string {
  const expiresAtMs = String(login.expiresAt.getTime());
  const mac = macOf(key, login.state, login.appId, login.nonce, login.registrationId, expiresAtMs);
  return `${VERSION}.${login.nonce}.${login.registrationId}.${expiresAtMs}.${mac}`;
}

export type OpenedLogin =
  | { ok: true; login: SealedLogin }
  /** Not a sealed login at all (e.g. a cookie from before stateless logins): no login we know. */
  | { ok: false; reason: 'malformed' }
  /** Well-formed, but not made by us for this state and app, or altered since. */
  | { ok: false; reason: 'forged' };

/**
 * Opens a state cookie for the launch's form `state`, posted to `appId`. Expiry is the
 * caller's check (it has the clock and the error code).
 */
export function openLogin(key: Buffer, cookie: string, state: string, appId: string): OpenedLogin {
  const parts = cookie.split('.');
  if (parts.length !== 5 || parts[0] !== VERSION) return { ok: false, reason: 'malformed' };
  const [, nonce, registrationId, expiresAtMs, mac] = parts as [string, string, string, string, string];
  if (
    !RANDOM_TOKEN_PATTERN.test(nonce) ||
    !REGISTRATION_ID_PATTERN.test(registrationId) ||
    !EXPIRY_PATTERN.test(expiresAtMs) ||
    mac.length !== MAC_LENGTH
  ) {
    return { ok: false, reason: 'malformed' };
  }
  const expected = Buffer.from(macOf(key, state, appId, nonce, registrationId, expiresAtMs));
  const given = Buffer.from(mac);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'forged' };
  return { ok: true, login: { state, nonce, appId, registrationId, expiresAt: new Date(Number(expiresAtMs)) } };
}

function macOf(key: Buffer, state: string, appId: string, nonce: string, registrationId: string, expiresAtMs: string): string {
  // Newline-separated: no field can contain one (state and nonce are base64url, ids are
  // checked above or come from our URL routes, the expiry is digits), so fields cannot shift.
  return createHmac('sha256', key).update(`${VERSION}\n${state}\n${appId}\n${nonce}\n${registrationId}\n${expiresAtMs}`).digest('base64url');
}
