import { RANDOM_TOKEN_PATTERN } from '../../ids.ts';
import { parseCookies } from '../../http/form.ts';
import { LtiError } from '../errors.ts';
import { openLogin, type SealedLogin } from '../sealed-login.ts';
import { stateCookieName } from '../state-cookie.ts';

/**
 * The form's state must come with this browser's cookie for it (login CSRF defence), and
 * that cookie must be a login we sealed for this state and this app. Returns the login.
 */
export function checkStateCookie(formState: string | null, cookieHeader: string | null, key: Buffer, appId: string): SealedLogin {
  if (!formState || !RANDOM_TOKEN_PATTERN.test(formState)) {
    throw new LtiError('ERR_LTI_BAD_REQUEST', 'launch without a well-formed state');
  }
  const cookie = parseCookies(cookieHeader).get(stateCookieName(formState));
  if (cookie === undefined) throw new LtiError('ERR_LTI_STATE_COOKIE_MISSING', 'no state cookie for this state');
  const opened = openLogin(key, cookie, formState, appId);
  if (!opened.ok && opened.reason === 'malformed') {
    throw new LtiError('ERR_LTI_STATE_UNKNOWN', 'the state cookie is not a login this tool issued (or one issued before an upgrade)');
  }
  if (!opened.ok) {
    throw new LtiError('ERR_LTI_STATE_MISMATCH', 'the state cookie was not issued for this state and app, or was altered');
  }
  return opened.login;
}

/** The login must be unexpired (its single use is the launch's write, and a full path's read). */
export function checkLoginState(login: SealedLogin, now: Date): SealedLogin {
  if (login.expiresAt <= now) {
    throw new LtiError('ERR_LTI_STATE_EXPIRED', `login expired at ${login.expiresAt.toISOString()}`, {
      context: { registrationId: login.registrationId },
    });
  }
  return login;
}

/** A launch already used this login's nonce: a replayed (or raced) launch. */
export function checkNonceUnused(nonceUsed: boolean, login: SealedLogin): void {
  if (nonceUsed) {
    throw new LtiError('ERR_LTI_NONCE_REUSED', 'a launch already used this login (state and nonce)', {
      context: { registrationId: login.registrationId },
    });
  }
}
