import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { base64url, errors as joseErrors } from 'jose';
import { describe, expect, it } from 'vitest';
import { CLAIM, LTI_VERSION, RESOURCE_LINK_REQUEST } from '../../server/lti/claims.ts';
import {
  checkAudience,
  checkDeployment,
  checkIssuer,
  checkMessageType,
  checkNonce,
  checkResourceLink,
  checkRoles,
  checkSubject,
  checkTimes,
  checkVersion,
} from '../../server/lti/checks/claims.ts';
import { checkAppStillPublic, checkLoginRegistration } from '../../server/lti/checks/registration.ts';
import { checkLoginState, checkNonceUnused, checkStateCookie } from '../../server/lti/checks/state.ts';
import { checkTargetLinkUri } from '../../server/lti/checks/target-link.ts';
import { checkAlgorithm, checkTokenHeader, mapVerifyError } from '../../server/lti/checks/token.ts';
import { LTI_ERRORS, LtiError, type LtiErrorCode } from '../../server/lti/errors.ts';
import type { LaunchRegistration } from '../../server/lti/launch-queries.ts';
import { KeysetUnavailableError, UnusableKeyError } from '../../server/lti/platform-keysets.ts';
import { sealLogin, type SealedLogin } from '../../server/lti/sealed-login.ts';
import { clearStateCookie, stateCookie, stateCookieName } from '../../server/lti/state-cookie.ts';
import { InputChecker, withoutTrailingSlashes } from '../../server/validation.ts';
import { scoresUrl } from '../../server/grades/ags.ts';

/** Runs `fn` and returns the LtiError code it throws (fails the test if it does not throw one). */
function codeOf(fn: () => unknown): LtiErrorCode {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(LtiError);
    const e = err as LtiError;
    // Every error carries the status and title of its code.
    expect([e.status, e.title]).toEqual(LTI_ERRORS[e.code]);
    return e.code;
  }
  throw new Error('expected an LtiError, nothing was thrown');
}

const CLIENT = 'c0ffee00-0000-4000-8000-000000000001';
const ISSUER = 'https://lms.example.org';
const NOW = new Date('2030-06-01T12:00:00Z');
const T = NOW.getTime() / 1000;

function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    iss: ISSUER,
    aud: CLIENT,
    azp: CLIENT,
    sub: 'learner-1',
    iat: T - 10,
    exp: T + 3600,
    nonce: 'n-1',
    [CLAIM.messageType]: RESOURCE_LINK_REQUEST,
    [CLAIM.version]: LTI_VERSION,
    [CLAIM.deploymentId]: '1',
    [CLAIM.resourceLink]: { id: 'block-v1:Org+Course+Run+type@lti_consumer+block@abc', title: 'Ex 1' },
    [CLAIM.roles]: ['http://purl.imsglobal.org/vocab/lis/v2/membership#Learner'],
    ...overrides,
  };
}

describe('checkTimes (tolerance 5 s)', () => {
  it('passes a fresh token, one within the leeway, and a past nbf', () => {
    expect(() => checkTimes(claims(), NOW, 5)).not.toThrow();
    expect(() => checkTimes(claims({ exp: T - 4, iat: T + 4 }), NOW, 5)).not.toThrow();
    expect(() => checkTimes(claims({ nbf: T - 60 }), NOW, 5)).not.toThrow();
  });
  it('refuses an expired token', () => {
    expect(codeOf(() => checkTimes(claims({ exp: T - 5 }), NOW, 5))).toBe('ERR_LTI_TOKEN_EXPIRED');
    expect(codeOf(() => checkTimes(claims({ exp: T - 3600 }), NOW, 5))).toBe('ERR_LTI_TOKEN_EXPIRED');
  });
  it('refuses iat or nbf in the future', () => {
    expect(codeOf(() => checkTimes(claims({ iat: T + 6 }), NOW, 5))).toBe('ERR_LTI_TOKEN_NOT_YET_VALID');
    expect(codeOf(() => checkTimes(claims({ nbf: T + 60 }), NOW, 5))).toBe('ERR_LTI_TOKEN_NOT_YET_VALID');
  });
  it('refuses missing or non-numeric times', () => {
    expect(codeOf(() => checkTimes(claims({ exp: undefined }), NOW, 5))).toBe('ERR_LTI_TOKEN_MALFORMED');
    expect(codeOf(() => checkTimes(claims({ iat: '0' }), NOW, 5))).toBe('ERR_LTI_TOKEN_MALFORMED');
    expect(codeOf(() => checkTimes(claims({ nbf: 'soon' }), NOW, 5))).toBe('ERR_LTI_TOKEN_MALFORMED');
    expect(codeOf(() => checkTimes(claims({ exp: Number.POSITIVE_INFINITY }), NOW, 5))).toBe('ERR_LTI_TOKEN_MALFORMED');
  });
});

describe('checkIssuer', () => {
  it('passes the registered issuer', () => {
    expect(() => checkIssuer(claims(), ISSUER)).not.toThrow();
  });
  it('refuses another issuer, a trailing-slash variant, and none', () => {
    expect(codeOf(() => checkIssuer(claims({ iss: 'https://evil.example.org' }), ISSUER))).toBe('ERR_LTI_ISSUER');
    expect(codeOf(() => checkIssuer(claims({ iss: `${ISSUER}/` }), ISSUER))).toBe('ERR_LTI_ISSUER');
    expect(codeOf(() => checkIssuer(claims({ iss: undefined }), ISSUER))).toBe('ERR_LTI_ISSUER');
  });
});

describe('checkAudience', () => {
  it('passes a string aud (with or without azp) and an array aud with azp', () => {
    expect(() => checkAudience(claims(), CLIENT)).not.toThrow();
    expect(() => checkAudience(claims({ azp: undefined }), CLIENT)).not.toThrow();
    expect(() => checkAudience(claims({ aud: [CLIENT, 'other'], azp: CLIENT }), CLIENT)).not.toThrow();
  });
  it('refuses a wrong string aud', () => {
    expect(codeOf(() => checkAudience(claims({ aud: 'other' }), CLIENT))).toBe('ERR_LTI_AUDIENCE');
  });
  it('refuses an array without the client, or without/with a wrong azp', () => {
    expect(codeOf(() => checkAudience(claims({ aud: ['a', 'b'], azp: CLIENT }), CLIENT))).toBe('ERR_LTI_AUDIENCE');
    expect(codeOf(() => checkAudience(claims({ aud: [CLIENT, 'b'], azp: undefined }), CLIENT))).toBe('ERR_LTI_AUDIENCE');
    expect(codeOf(() => checkAudience(claims({ aud: [CLIENT, 'b'], azp: 'b' }), CLIENT))).toBe('ERR_LTI_AUDIENCE');
  });
  it('refuses a string aud with a foreign azp, and a missing or odd aud', () => {
    expect(codeOf(() => checkAudience(claims({ azp: 'other' }), CLIENT))).toBe('ERR_LTI_AUDIENCE');
    expect(codeOf(() => checkAudience(claims({ aud: undefined }), CLIENT))).toBe('ERR_LTI_AUDIENCE');
    expect(codeOf(() => checkAudience(claims({ aud: { id: CLIENT } }), CLIENT))).toBe('ERR_LTI_AUDIENCE');
  });
});

describe('checkNonce', () => {
  it('passes the login nonce and refuses any other', () => {
    expect(() => checkNonce(claims(), 'n-1')).not.toThrow();
    expect(codeOf(() => checkNonce(claims(), 'n-2'))).toBe('ERR_LTI_NONCE_MISMATCH');
    expect(codeOf(() => checkNonce(claims({ nonce: undefined }), 'n-1'))).toBe('ERR_LTI_NONCE_MISMATCH');
  });
});

describe('checkDeployment', () => {
  it('returns a registered deployment id', () => {
    expect(checkDeployment(claims(), ['1'])).toBe('1');
    expect(checkDeployment(claims({ [CLAIM.deploymentId]: '12:abc' }), ['1', '12:abc'])).toBe('12:abc');
  });
  it('refuses an unknown deployment', () => {
    expect(codeOf(() => checkDeployment(claims({ [CLAIM.deploymentId]: '2' }), ['1']))).toBe('ERR_LTI_UNKNOWN_DEPLOYMENT');
  });
  it('refuses a missing, empty or non-string deployment id', () => {
    expect(codeOf(() => checkDeployment(claims({ [CLAIM.deploymentId]: undefined }), ['1']))).toBe('ERR_LTI_DEPLOYMENT_ID_MISSING');
    expect(codeOf(() => checkDeployment(claims({ [CLAIM.deploymentId]: '' }), ['']))).toBe('ERR_LTI_DEPLOYMENT_ID_MISSING');
    expect(codeOf(() => checkDeployment(claims({ [CLAIM.deploymentId]: 1 }), ['1']))).toBe('ERR_LTI_DEPLOYMENT_ID_MISSING');
  });
});

describe('checkVersion', () => {
  it('passes 1.3.0 only', () => {
    expect(() => checkVersion(claims())).not.toThrow();
    expect(codeOf(() => checkVersion(claims({ [CLAIM.version]: '1.1' })))).toBe('ERR_LTI_VERSION');
    expect(codeOf(() => checkVersion(claims({ [CLAIM.version]: undefined })))).toBe('ERR_LTI_VERSION');
  });
});

describe('checkMessageType', () => {
  it('passes resource link requests only', () => {
    expect(() => checkMessageType(claims())).not.toThrow();
    expect(codeOf(() => checkMessageType(claims({ [CLAIM.messageType]: 'LtiDeepLinkingRequest' })))).toBe('ERR_LTI_MESSAGE_TYPE');
    expect(codeOf(() => checkMessageType(claims({ [CLAIM.messageType]: undefined })))).toBe('ERR_LTI_MESSAGE_TYPE');
  });
});

describe('checkResourceLink', () => {
  it('returns the id and title', () => {
    expect(checkResourceLink(claims())).toEqual({ id: 'block-v1:Org+Course+Run+type@lti_consumer+block@abc', title: 'Ex 1' });
    expect(checkResourceLink(claims({ [CLAIM.resourceLink]: { id: 'x', title: 7 } }))).toEqual({ id: 'x', title: undefined });
  });
  it('refuses a missing link, a link without id, and an empty id', () => {
    for (const link of [undefined, null, 'x', {}, { id: '' }, { id: 5 }]) {
      expect(codeOf(() => checkResourceLink(claims({ [CLAIM.resourceLink]: link })))).toBe('ERR_LTI_RESOURCE_LINK_MISSING');
    }
  });
});

describe('checkSubject', () => {
  it('returns sub', () => {
    expect(checkSubject(claims())).toBe('learner-1');
  });
  it('refuses a missing, empty or non-string sub', () => {
    for (const sub of [undefined, '', 42]) {
      expect(codeOf(() => checkSubject(claims({ sub })))).toBe('ERR_LTI_SUB_MISSING');
    }
  });
});

describe('checkRoles', () => {
  it('passes known, unknown and empty roles', () => {
    expect(checkRoles(claims())).toEqual(['http://purl.imsglobal.org/vocab/lis/v2/membership#Learner']);
    expect(checkRoles(claims({ [CLAIM.roles]: ['urn:example:weird-role'] }))).toEqual(['urn:example:weird-role']);
    expect(checkRoles(claims({ [CLAIM.roles]: [] }))).toEqual([]);
  });
  it('refuses a missing claim or non-string roles', () => {
    expect(codeOf(() => checkRoles(claims({ [CLAIM.roles]: undefined })))).toBe('ERR_LTI_ROLES_MISSING');
    expect(codeOf(() => checkRoles(claims({ [CLAIM.roles]: 'Learner' })))).toBe('ERR_LTI_ROLES_MISSING');
    expect(codeOf(() => checkRoles(claims({ [CLAIM.roles]: ['Learner', 3] })))).toBe('ERR_LTI_ROLES_MISSING');
  });
});

describe('checkAlgorithm', () => {
  it('passes the asymmetric allowlist', () => {
    for (const alg of ['RS256', 'RS384', 'RS512', 'ES256', 'ES384']) expect(() => checkAlgorithm(alg)).not.toThrow();
  });
  it('refuses none, HMAC, PS*, EdDSA, odd case and a missing alg', () => {
    for (const alg of ['none', 'HS256', 'HS512', 'PS256', 'EdDSA', 'rs256', '', undefined, 256]) {
      expect(codeOf(() => checkAlgorithm(alg))).toBe('ERR_LTI_ALG_NOT_ALLOWED');
    }
  });
});

describe('checkTokenHeader', () => {
  const seg = (value: unknown) => base64url.encode(JSON.stringify(value));
  const token = (header: Record<string, unknown>) => `${seg(header)}.${seg({ sub: 'x' })}.c2ln`;

  it('returns a well-formed header', () => {
    expect(checkTokenHeader(token({ alg: 'RS256', kid: 'k1', typ: 'JWT' }))).toMatchObject({ alg: 'RS256', kid: 'k1' });
  });
  it('refuses a missing id_token', () => {
    expect(codeOf(() => checkTokenHeader(null))).toBe('ERR_LTI_BAD_REQUEST');
    expect(codeOf(() => checkTokenHeader(''))).toBe('ERR_LTI_BAD_REQUEST');
  });
  it('refuses garbage, an oversized token and a JWE-shaped token', () => {
    expect(codeOf(() => checkTokenHeader('not-a-jwt'))).toBe('ERR_LTI_TOKEN_MALFORMED');
    expect(codeOf(() => checkTokenHeader(`${token({ alg: 'RS256', kid: 'k' })}${'a'.repeat(33 * 1024)}`))).toBe('ERR_LTI_TOKEN_MALFORMED');
    expect(codeOf(() => checkTokenHeader(`${seg({ alg: 'RS256', kid: 'k' })}.a.b.c.d`))).toBe('ERR_LTI_TOKEN_MALFORMED');
  });
  it('refuses alg none and HS256 before looking at keys', () => {
    expect(codeOf(() => checkTokenHeader(token({ alg: 'none', kid: 'k1' })))).toBe('ERR_LTI_ALG_NOT_ALLOWED');
    expect(codeOf(() => checkTokenHeader(token({ alg: 'HS256', kid: 'k1' })))).toBe('ERR_LTI_ALG_NOT_ALLOWED');
    expect(codeOf(() => checkTokenHeader(token({ kid: 'k1' })))).toBe('ERR_LTI_ALG_NOT_ALLOWED');
  });
  it('refuses a missing or empty kid', () => {
    expect(codeOf(() => checkTokenHeader(token({ alg: 'RS256' })))).toBe('ERR_LTI_KID_MISSING');
    expect(codeOf(() => checkTokenHeader(token({ alg: 'RS256', kid: '' })))).toBe('ERR_LTI_KID_MISSING');
    expect(codeOf(() => checkTokenHeader(token({ alg: 'RS256', kid: 7 })))).toBe('ERR_LTI_KID_MISSING');
  });
});

describe('checkStateCookie', () => {
  const state = 'A'.repeat(21) + '_' + 'b'.repeat(21);
  const key = Buffer.alloc(32, 7);
  const login: SealedLogin = { state, nonce: 'N'.repeat(43), appId: 'app-1', registrationId: 'reg-1', expiresAt: new Date(NOW.getTime() + 60_000) };
  const sealed = sealLogin(key, login);
  const cookieFor = (s: string, value: string) => `${stateCookieName(s)}=${value}`;
  /** The sealed value with its character at `at` replaced (by one that differs). */
  const altered = (at: number) => sealed.slice(0, at) + (sealed[at] === 'x' ? 'y' : 'x') + sealed.slice(at + 1);

  it('returns the sealed login when this browser holds its cookie for the state (among others)', () => {
    const other = 'Z'.repeat(43);
    const cookies = `x=1; ${cookieFor(other, sealLogin(key, { ...login, state: other }))}; ${cookieFor(state, sealed)}`;
    expect(checkStateCookie(state, cookies, key, 'app-1')).toEqual(login);
  });
  it('refuses a missing or malformed form state', () => {
    expect(codeOf(() => checkStateCookie(null, cookieFor(state, sealed), key, 'app-1'))).toBe('ERR_LTI_BAD_REQUEST');
    expect(codeOf(() => checkStateCookie('short', cookieFor(state, sealed), key, 'app-1'))).toBe('ERR_LTI_BAD_REQUEST');
    expect(codeOf(() => checkStateCookie(`${state.slice(0, 42)}=`, null, key, 'app-1'))).toBe('ERR_LTI_BAD_REQUEST');
  });
  it('refuses when there is no cookie for this state', () => {
    expect(codeOf(() => checkStateCookie(state, null, key, 'app-1'))).toBe('ERR_LTI_STATE_COOKIE_MISSING');
    expect(codeOf(() => checkStateCookie(state, cookieFor('Z'.repeat(43), sealed), key, 'app-1'))).toBe('ERR_LTI_STATE_COOKIE_MISSING');
  });
  it('refuses a cookie that is not a sealed login (the bare state, as before stateless logins; garbage) as unknown', () => {
    expect(codeOf(() => checkStateCookie(state, cookieFor(state, state), key, 'app-1'))).toBe('ERR_LTI_STATE_UNKNOWN');
    expect(codeOf(() => checkStateCookie(state, cookieFor(state, 'x'), key, 'app-1'))).toBe('ERR_LTI_STATE_UNKNOWN');
    expect(codeOf(() => checkStateCookie(state, cookieFor(state, ''), key, 'app-1'))).toBe('ERR_LTI_STATE_UNKNOWN');
    expect(codeOf(() => checkStateCookie(state, cookieFor(state, `l2${sealed.slice(2)}`), key, 'app-1'))).toBe('ERR_LTI_STATE_UNKNOWN');
  });
  it('refuses a sealed cookie of the same name made for another state (same first 16 characters)', () => {
    const sibling = state.slice(0, 16) + 'c'.repeat(27);
    expect(stateCookieName(sibling)).toBe(stateCookieName(state));
    const siblings = sealLogin(key, { ...login, state: sibling });
    expect(codeOf(() => checkStateCookie(state, cookieFor(state, siblings), key, 'app-1'))).toBe('ERR_LTI_STATE_MISMATCH');
  });
  it('refuses a login sealed for another app, or with another key', () => {
    expect(codeOf(() => checkStateCookie(state, cookieFor(state, sealed), key, 'app-2'))).toBe('ERR_LTI_STATE_MISMATCH');
    expect(codeOf(() => checkStateCookie(state, cookieFor(state, sealed), Buffer.alloc(32, 8), 'app-1'))).toBe('ERR_LTI_STATE_MISMATCH');
  });
  it('refuses the sealed cookie with any one character of its nonce, registration, expiry or MAC changed', () => {
    const dots = [...sealed].flatMap((c, i) => (c === '.' ? [i] : []));
    expect(dots).toHaveLength(4);
    // One position inside each field after the version: nonce, registration, expiry, MAC.
    for (const at of [dots[0]! + 1, dots[1]! + 1, dots[2]! + 1, dots[3]! + 1, sealed.length - 1]) {
      const value = altered(at);
      // A digit replaced by a letter makes the expiry malformed (unknown); any other change is a forgery.
      const expected = at > dots[2]! && at < dots[3]! ? 'ERR_LTI_STATE_UNKNOWN' : 'ERR_LTI_STATE_MISMATCH';
      expect(codeOf(() => checkStateCookie(state, cookieFor(state, value), key, 'app-1')), value).toBe(expected);
    }
    // The expiry pushed later, still digits: a forgery.
    const later = sealed.replace(`.${login.expiresAt.getTime()}.`, `.${login.expiresAt.getTime() + 3600_000}.`);
    expect(later).not.toBe(sealed);
    expect(codeOf(() => checkStateCookie(state, cookieFor(state, later), key, 'app-1'))).toBe('ERR_LTI_STATE_MISMATCH');
  });
});

describe('checkLoginState and checkNonceUnused', () => {
  const login = (overrides: Partial<SealedLogin> = {}): SealedLogin => ({
    state: 's',
    nonce: 'n',
    appId: 'app-1',
    registrationId: 'reg-1',
    expiresAt: new Date(NOW.getTime() + 60_000),
    ...overrides,
  });

  it('passes a live login', () => {
    const l = login();
    expect(checkLoginState(l, NOW)).toBe(l);
    expect(checkLoginState(login({ expiresAt: new Date(NOW.getTime() + 1) }), NOW).registrationId).toBe('reg-1');
  });
  it('refuses an expired login, the expiry instant included', () => {
    expect(codeOf(() => checkLoginState(login({ expiresAt: NOW }), NOW))).toBe('ERR_LTI_STATE_EXPIRED');
    expect(codeOf(() => checkLoginState(login({ expiresAt: new Date(NOW.getTime() - 1) }), NOW))).toBe('ERR_LTI_STATE_EXPIRED');
  });
  it('refuses a login whose nonce a launch already used (replay), and passes an unused one', () => {
    expect(() => checkNonceUnused(false, login())).not.toThrow();
    expect(codeOf(() => checkNonceUnused(true, login()))).toBe('ERR_LTI_NONCE_REUSED');
  });
});

describe('checkTargetLinkUri', () => {
  const publicUrl = 'https://tool.example.org/prefix';

  it('passes any URL on our origin', () => {
    expect(() => checkTargetLinkUri('https://tool.example.org/prefix/lti/apps/x/launch', publicUrl)).not.toThrow();
    expect(() => checkTargetLinkUri('https://TOOL.example.org:443/other', publicUrl)).not.toThrow();
  });
  it('refuses another origin, scheme or port, garbage and a missing claim', () => {
    for (const uri of [
      'https://evil.example.org/prefix/lti/apps/x/launch',
      'http://tool.example.org/prefix/lti/apps/x/launch',
      'https://tool.example.org:8443/prefix',
      'https://tool.example.org.evil.example/prefix',
      '/prefix/lti/apps/x/launch',
      'not a url',
      undefined,
      42,
    ]) {
      expect(codeOf(() => checkTargetLinkUri(uri, publicUrl))).toBe('ERR_LTI_TARGET_LINK_URI');
    }
  });
});

describe('checkLoginRegistration', () => {
  const registration = (overrides: Partial<LaunchRegistration> = {}): LaunchRegistration => ({
    id: 'reg-1',
    appId: 'app-1',
    issuer: ISSUER,
    clientId: CLIENT,
    keysetUrl: `${ISSUER}/keys`,
    authLoginUrl: `${ISSUER}/auth`,
    deploymentIds: ['1'],
    isPublic: true,
    exerciseUrl: 'https://exercises.example.org/',
    ...overrides,
  });
  const login = { registrationId: 'reg-1' };

  it("returns the login's registration when it still belongs to this app", () => {
    const r = registration();
    expect(checkLoginRegistration(r, login, 'app-1')).toBe(r);
  });
  it('refuses a registration removed during the login', () => {
    expect(codeOf(() => checkLoginRegistration(null, login, 'app-1'))).toBe('ERR_LTI_UNKNOWN_REGISTRATION');
    expect(codeOf(() => checkLoginRegistration(undefined, login, 'app-1'))).toBe('ERR_LTI_UNKNOWN_REGISTRATION');
  });
  it("refuses another app's registration", () => {
    expect(codeOf(() => checkLoginRegistration(registration({ appId: 'app-2' }), login, 'app-1'))).toBe('ERR_LTI_UNKNOWN_REGISTRATION');
  });
});

describe('checkAppStillPublic', () => {
  it('passes a public app and refuses one made private', () => {
    expect(() => checkAppStillPublic({ appId: 'app-1', isPublic: true })).not.toThrow();
    expect(codeOf(() => checkAppStillPublic({ appId: 'app-1', isPublic: false }))).toBe('ERR_LTI_APP_NOT_PUBLIC');
  });
});

describe('mapVerifyError: a broken platform keyset is never the token’s fault', () => {
  const url = 'https://lms.example.org/keys';
  const code = (err: unknown) => mapVerifyError(err, url).code;

  it('the keyset could not be fetched or a key is unusable → ERR_LTI_KEYSET_UNAVAILABLE', () => {
    expect(code(new KeysetUnavailableError('HTTP 503'))).toBe('ERR_LTI_KEYSET_UNAVAILABLE');
    expect(code(new UnusableKeyError('RSA of 1024 bits'))).toBe('ERR_LTI_KEYSET_UNAVAILABLE');
  });
  it("jose's own keyset errors, should one escape the resolver → ERR_LTI_KEYSET_UNAVAILABLE", () => {
    expect(code(new joseErrors.JWKSMultipleMatchingKeys())).toBe('ERR_LTI_KEYSET_UNAVAILABLE');
    expect(code(new joseErrors.JWKSInvalid('JSON Web Key Set malformed'))).toBe('ERR_LTI_KEYSET_UNAVAILABLE');
  });
  it('the token: unknown kid, bad signature, other jose errors', () => {
    expect(code(new joseErrors.JWKSNoMatchingKey())).toBe('ERR_LTI_UNKNOWN_KID');
    expect(code(new joseErrors.JWSSignatureVerificationFailed())).toBe('ERR_LTI_BAD_SIGNATURE');
    expect(code(new joseErrors.JWSInvalid('JWS Protected Header is invalid'))).toBe('ERR_LTI_TOKEN_MALFORMED');
  });
});

describe('the state cookie', () => {
  const state = 'A'.repeat(21) + '_' + 'b'.repeat(21);
  /** The cookie's attributes, by lower-case name (a flag maps to true). */
  const attributes = (cookie: string) => {
    const [pair, ...attrs] = cookie.split(';').map((part) => part.trim());
    return {
      pair,
      attrs: Object.fromEntries(attrs.map((a) => {
        const eq = a.indexOf('=');
        return eq === -1 ? [a.toLowerCase(), true] : [a.slice(0, eq).toLowerCase(), a.slice(eq + 1)];
      })) as Record<string, string | true>,
      count: attrs.length,
    };
  };

  const sealed = sealLogin(Buffer.alloc(32, 7), { state, nonce: 'N'.repeat(43), appId: 'x', registrationId: 'reg-1', expiresAt: new Date(NOW.getTime() + 600_000) });

  it('its value, the sealed login, is sent as it is: only cookie-safe characters, nothing to quote or encode', () => {
    expect(sealed).toMatch(/^[A-Za-z0-9._-]+$/);
    expect(attributes(stateCookie(state, sealed, 'https://tool.example.org/lti/apps/x/launch', 600)).pair).toBe(`lti_state_${state.slice(0, 16)}=${sealed}`);
  });
  it('on https: HttpOnly, Secure, SameSite=None, Partitioned, the launch path, the given Max-Age', () => {
    const { pair, attrs, count } = attributes(stateCookie(state, sealed, 'https://tool.example.org/prefix/lti/apps/x/launch', 600));
    expect(pair).toBe(`${stateCookieName(state)}=${sealed}`);
    expect(attrs).toEqual({ path: '/prefix/lti/apps/x/launch', 'max-age': '600', httponly: true, samesite: 'None', secure: true, partitioned: true });
    expect(count).toBe(6);
  });
  it('on plain-http loopback: HttpOnly, SameSite=Lax, neither Secure nor Partitioned', () => {
    const { attrs } = attributes(stateCookie(state, sealed, 'http://localhost:3000/lti/apps/x/launch', 120));
    expect(attrs).toEqual({ path: '/lti/apps/x/launch', 'max-age': '120', httponly: true, samesite: 'Lax' });
  });
  it('clearing keeps the same name, path and attributes with Max-Age=0 (browsers match on them)', () => {
    for (const launchUrl of ['https://tool.example.org/lti/apps/x/launch', 'http://localhost:3000/lti/apps/x/launch']) {
      const set = attributes(stateCookie(state, sealed, launchUrl, 600));
      const cleared = attributes(clearStateCookie(state, launchUrl));
      expect(set.pair).toBe(`${stateCookieName(state)}=${sealed}`);
      expect(cleared.pair).toBe(`${stateCookieName(state)}=`);
      expect(cleared.attrs).toEqual({ ...set.attrs, 'max-age': '0' });
    }
  });
});

describe('scoresUrl (AGS: <line item>/scores)', () => {
  it('keeps the query where it belongs and drops trailing slashes, linearly on a long run of them', () => {
    expect(scoresUrl('https://lms.example.org/lineitems/7?type=x')).toBe('https://lms.example.org/lineitems/7/scores?type=x');
    expect(scoresUrl('https://lms.example.org/lineitems/7//')).toBe('https://lms.example.org/lineitems/7/scores');
    const run = '/'.repeat(30_000);
    expect(scoresUrl(`https://lms.example.org/a${run}`)).toBe('https://lms.example.org/a/scores');
    expect(scoresUrl(`https://lms.example.org/a${run}b`)).toBe(`https://lms.example.org/a${run}b/scores`);
  });
});

describe('the issuer rule', () => {
  it('withoutTrailingSlashes removes trailing slashes only', () => {
    expect(withoutTrailingSlashes('https://lms.example.org/')).toBe('https://lms.example.org');
    expect(withoutTrailingSlashes('https://lms.example.org///')).toBe('https://lms.example.org');
    expect(withoutTrailingSlashes('https://lms.example.org/a/b')).toBe('https://lms.example.org/a/b');
    expect(withoutTrailingSlashes('///')).toBe('');
    expect(withoutTrailingSlashes('')).toBe('');
  });
  it('withoutTrailingSlashes on a million-slash run, followed by nothing and by a letter (the quadratic case of a regex)', () => {
    const run = '/'.repeat(1_000_000);
    expect(withoutTrailingSlashes(`https://a${run}`)).toBe('https://a');
    expect(withoutTrailingSlashes(`https://a${run}x`)).toBe(`https://a${run}x`);
  });
  it('no end-anchored slash-run regex is left where requests and stored launch URLs reach (login, launch, validation, grades)', () => {
    const root = new URL('../../server/', import.meta.url).pathname;
    const tree = (dir: string) =>
      readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts')).map((f) => join(root, dir, f));
    const files = [join(root, 'validation.ts'), ...tree('lti'), ...tree('grades')];
    expect(files.length).toBeGreaterThan(10);
    for (const file of files) {
      // Comments may name the pattern; code may not.
      const code = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:\\])\/\/.*$/gm, '$1');
      expect(code, file).not.toMatch(/\\\/[+*]\$/);
    }
  });
  it('InputChecker.issuer stores no trailing slash, and refuses a query or fragment, even an empty one', () => {
    const issuer = (value: string) => {
      const check = new InputChecker();
      const stored = check.issuer('issuer', value);
      return { stored, problems: check.problems.map((p) => p.message) };
    };
    expect(issuer('https://lms.example.org')).toEqual({ stored: 'https://lms.example.org', problems: [] });
    expect(issuer(' https://lms.example.org/ ')).toEqual({ stored: 'https://lms.example.org', problems: [] });
    expect(issuer('https://lms.example.org/path//')).toEqual({ stored: 'https://lms.example.org/path', problems: [] });
    for (const value of ['https://lms.example.org?', 'https://lms.example.org#', 'https://lms.example.org/?a=1', 'https://lms.example.org/#x']) {
      expect(issuer(value).problems, value).toEqual(['Must not contain a query or fragment.']);
    }
    expect(issuer(`https://lms.example.org${'/'.repeat(5000)}x`).problems).toEqual(['Must be at most 2048 characters.']);
  });
});

describe('InputChecker: URLs and deployment IDs are stored as they will be used', () => {
  const url = (value: string) => {
    const check = new InputChecker();
    check.url('u', value);
    return check.problems.map((p) => p.message);
  };
  it('refuses spaces and control characters inside a URL (the parser would drop or encode them silently)', () => {
    expect(url('https://e.example/a')).toEqual([]);
    expect(url('  https://e.example/a  ')).toEqual([]); // around it: trimmed
    for (const value of ['https://e.exa\nmple/a', 'https://e.example/a\tb', 'https://e.example/a b', 'https://e.example/\u0000', 'https://e.example/\u007f']) {
      expect(url(value), JSON.stringify(value)).toEqual(['Must not contain spaces or control characters.']);
    }
  });
  it('refuses control characters in a deployment ID', () => {
    const ids = (values: string[]) => {
      const check = new InputChecker();
      return { stored: check.deploymentIds('d', values), problems: check.problems.map((p) => p.message) };
    };
    expect(ids(['1', ' 2 '])).toEqual({ stored: ['1', '2'], problems: [] });
    expect(ids(['1\n2']).problems).toEqual(['Deployment IDs must not contain control characters.']);
    expect(ids(['\u0000']).problems).toEqual(['Deployment IDs must not contain control characters.']);
  });
});
