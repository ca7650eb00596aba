import { timingSafeEqual } from 'node:crypto';
import { RANDOM_TOKEN_PATTERN } from '../../ids.ts';
import { parseCookies } from '../../http/form.ts';
import { LtiError } from '../errors.ts';
import { stateCookieName } from '../state-cookie.ts';

export interface LoginStateRow {
  state: string;
  nonce: string;
  appId: string;
  registrationId: string;
  expiresAt: Date;
  usedAt: Date | null;
}

/** The form's state must be the one this browser's cookie holds (login CSRF defence). */
export function checkStateCookie(formState: string | null, cookieHeader: string | null): string {
  if (!formState || !RANDOM_TOKEN_PATTERN.test(formState)) {
    throw new LtiError('ERR_LTI_BAD_REQUEST', 'launch without a well-formed state');
  }
  const cookie = parseCookies(cookieHeader).get(stateCookieName(formState));
  if (cookie === undefined) throw new LtiError('ERR_LTI_STATE_COOKIE_MISSING', 'no state cookie for this state');
  const a = Buffer.from(cookie);
  const b = Buffer.from(formState);
  if (a.length !== b.length || !timingSafeEqual(a, b)) {
    throw new LtiError('ERR_LTI_STATE_MISMATCH', 'state cookie does not match the form state');
  }
  return formState;
}

/** The login this launch finishes: it must exist, be unused and unexpired, and be for this app. */
export function checkLoginState(row: LoginStateRow | null, appId: string, now: Date): LoginStateRow {
  if (!row) throw new LtiError('ERR_LTI_STATE_UNKNOWN', 'no login with this state (never issued, or cleaned up)');
  if (row.usedAt) {
    throw new LtiError('ERR_LTI_NONCE_REUSED', `state/nonce already used at ${row.usedAt.toISOString()}`, {
      context: { registrationId: row.registrationId },
    });
  }
  if (row.expiresAt <= now) {
    throw new LtiError('ERR_LTI_STATE_EXPIRED', `login expired at ${row.expiresAt.toISOString()}`, {
      context: { registrationId: row.registrationId },
    });
  }
  if (row.appId !== appId) {
    throw new LtiError('ERR_LTI_STATE_UNKNOWN', `login was for app ${row.appId}, launch posted to ${appId}`);
  }
  return row;
}
