/**
 * Every way a login or launch is refused, over real HTTP: one test per check. Each asserts
 * the status, the stable ERR_LTI_ code on a small HTML page without stack traces or the
 * token, that no Launch was recorded, and (where the login exists) that it is still unused:
 * no launch carries its nonce, and, where the refusal did not come from the app, the clock or
 * the keyset, the genuine token for the same login still launches afterwards.
 * A login keeps nothing in the database (its state is the sealed cookie): a refused login
 * changes no row but its audit row.
 */
import { randomUUID } from 'node:crypto';
import { base64url } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../server/db/client.ts';
import type { SqlRunner } from '../../server/db/sql-runner.ts';
import { randomToken } from '../../server/ids.ts';
import { LTI_ERRORS, type LtiErrorCode } from '../../server/lti/errors.ts';
import { LOGIN_STATE_SECRET_NAME } from '../../server/lti/login-state-key.ts';
import { openLogin } from '../../server/lti/sealed-login.ts';
import { capturingLogger } from '../helpers/log-capture.ts';
import { parseExposition } from '../helpers/metrics.ts';
import { stateCookieName } from '../../server/lti/state-cookie.ts';
import { createTestDatabase } from '../helpers/db.ts';
import {
  CookieJar,
  errorCode,
  initiateLogin,
  launch,
  postLaunch,
  publicAppFor,
  type PublicApp,
} from '../helpers/lti-flow.ts';
import { LTI_CLAIM, startTestPlatform, type LaunchOverrides, type TestPlatform } from '../helpers/platform.ts';
import { startToolServer, type ToolServer } from '../helpers/tool-server.ts';
import { tableDigests } from '../helpers/table-digests.ts';

let db: Database;
let tool: ToolServer;
/** The tool's clock runs this far ahead of real time (the expired-login test moves it). */
let clockOffsetMs = 0;
/** The main Open edX platform and its public app. */
let openedx: TestPlatform;
let app: PublicApp;
/** A second app whose registered keyset URL answers 404. */
let brokenKeyset: TestPlatform;
let brokenApp: PublicApp;
/** A third app with two registrations of one issuer (two LTI components of one LMS). */
let twoRegs: TestPlatform;
let twoRegsApp: PublicApp;

beforeAll(async () => {
  db = await createTestDatabase();
  tool = await startToolServer(db, { now: () => new Date(Date.now() + clockOffsetMs) });
  [openedx, brokenKeyset, twoRegs] = await Promise.all([startTestPlatform(), startTestPlatform(), startTestPlatform()]);
  app = await publicAppFor(db, openedx, tool.baseUrl);
  brokenApp = await publicAppFor(db, brokenKeyset, tool.baseUrl);
  await db.prisma.ltiRegistration.update({
    where: { id: brokenApp.registrationId },
    data: { keysetUrl: `${brokenKeyset.issuer}/no-such-keyset` },
  });
  twoRegsApp = await publicAppFor(db, twoRegs, tool.baseUrl);
  await db.prisma.ltiRegistration.create({
    data: { ...twoRegs.registration(), appId: twoRegsApp.appId, clientId: randomUUID() },
  });
});
afterAll(async () => {
  await Promise.all([openedx?.close(), brokenKeyset?.close(), twoRegs?.close()]);
  await tool?.close();
  await db?.close();
});

// ---------------------------------------------------------------------------------------
// Helpers

/** Asserts a refusal page: status, code, small HTML, no stack trace, none of `secrets`. */
async function expectRefusalPage(response: Response, status: number, code: LtiErrorCode, secrets: string[] = []) {
  expect(LTI_ERRORS[code][0], `the table's status for ${code}`).toBe(status);
  expect(response.status).toBe(status);
  expect(await errorCode(response.clone())).toBe(code);
  expect(response.headers.get('content-type')).toMatch(/^text\/html/);
  expect(response.headers.get('cache-control')).toBe('no-store');
  const body = await response.text();
  expect(body.length).toBeLessThan(2048);
  expect(body).not.toMatch(/^\s*at\s/m);
  expect(body).not.toMatch(/\bat .*:\d+:\d+/);
  expect(body).not.toMatch(/Error:|node_modules|\.ts\b/);
  for (const secret of secrets) {
    expect(body).not.toContain(secret);
    // Nor any segment of it (a JWS: header, payload, signature).
    for (const part of secret.split('.')) if (part.length > 20) expect(body).not.toContain(part);
  }
}

/** A login that went through the platform: the form it would post, and the browser holding its cookie. */
interface PreparedLaunch {
  jar: CookieJar;
  idToken: string;
  state: string;
  nonce: string;
  /** The platform and app of the login, and our redirect to the platform: the genuine token can be asked for again. */
  platform: TestPlatform;
  app: PublicApp;
  location: string;
}

async function prepare(
  overrides: LaunchOverrides = {},
  options: { platform?: TestPlatform; app?: PublicApp; jar?: CookieJar } = {},
): Promise<PreparedLaunch> {
  const platform = options.platform ?? openedx;
  const target = options.app ?? app;
  const jar = options.jar ?? new CookieJar();
  const login = await initiateLogin(platform, target, jar);
  expect(login.response.status).toBe(302);
  const auth = await platform.authorize(login.location!, { expectedRedirectUri: target.urls.launchUrl, ...overrides });
  return { jar, idToken: auth.idToken, state: auth.state, nonce: auth.nonce, platform, app: target, location: login.location! };
}

/** Launches recorded with this nonce (the login's single use). */
function launchesWithNonce(nonce: string): Promise<number> {
  return db.prisma.launch.count({ where: { nonce } });
}

/**
 * The login is still good: the platform's genuine token for it (same state and nonce), posted
 * with the same browser's cookie, launches — once.
 */
async function expectStillLaunches(prepared: PreparedLaunch): Promise<void> {
  const auth = await prepared.platform.authorize(prepared.location, { expectedRedirectUri: prepared.app.urls.launchUrl });
  expect(auth.nonce).toBe(prepared.nonce);
  const response = await postLaunch(prepared.app.urls.launchUrl, { id_token: auth.idToken, state: auth.state }, prepared.jar.header());
  expect(response.status, await response.clone().text()).toBe(303);
  expect(await launchesWithNonce(prepared.nonce)).toBe(1);
}

/**
 * Runs a launch POST that must be refused: checks the page, that no Launch row appeared,
 * and that the login (if any) is still unused: no launch carries its nonce.
 */
async function expectLaunchRefused(
  send: () => Promise<Response>,
  expected: { status: number; code: LtiErrorCode; idToken?: string; unused?: PreparedLaunch; secrets?: string[] },
): Promise<void> {
  const launchesBefore = await db.prisma.launch.count();
  const response = await send();
  const secrets = [...(expected.idToken ? [expected.idToken] : []), ...(expected.secrets ?? [])];
  await expectRefusalPage(response, expected.status, expected.code, secrets);
  expect(response.headers.get('location')).toBeNull();
  expect(await db.prisma.launch.count()).toBe(launchesBefore);
  if (expected.unused) expect(await launchesWithNonce(expected.unused.nonce)).toBe(0);
}

/**
 * Posts a prepared launch (optionally with another token, cookie or URL) and expects a
 * refusal; then (unless `stillLaunches: false`, for refusals that would refuse the genuine
 * token too) that the login still launches with the genuine token.
 */
async function refuse(
  prepared: PreparedLaunch,
  status: number,
  code: LtiErrorCode,
  options: { idToken?: string; cookie?: string; launchUrl?: string; stillLaunches?: boolean } = {},
): Promise<void> {
  const idToken = options.idToken ?? prepared.idToken;
  await expectLaunchRefused(
    () =>
      postLaunch(options.launchUrl ?? prepared.app.urls.launchUrl, { id_token: idToken, state: prepared.state }, options.cookie ?? prepared.jar.header()),
    { status, code, idToken, unused: prepared },
  );
  if (options.stillLaunches !== false) await expectStillLaunches(prepared);
}

/** The state cookie a login set (name and sealed value), from the browser's jar. */
function stateCookieOf(prepared: PreparedLaunch): { name: string; value: string } {
  const name = stateCookieName(prepared.state);
  const value = prepared.jar.cookies.get(name);
  expect(value, `the login's cookie ${name}`).toBeDefined();
  return { name, value: value! };
}

/** The login state MAC key every process shares (its ServerSecret row). */
async function loginStateKey(): Promise<Buffer> {
  const row = await db.prisma.serverSecret.findUniqueOrThrow({ where: { name: LOGIN_STATE_SECRET_NAME } });
  return Buffer.from(row.value, 'base64url');
}


/** The login initiation URL the platform would send, as a mutable URL. */
function loginUrl(platform: TestPlatform = openedx, target: PublicApp = app): URL {
  const init = platform.loginInitiation(target.urls.loginUrl, { targetLinkUri: target.urls.launchUrl });
  return new URL(init.url);
}

/** A refused login: no state cookie, no redirect, and no row changed but its audit row. */
async function expectLoginRefused(url: URL | string, status: number, code: LtiErrorCode, init: RequestInit = {}) {
  const before = await tableDigests(db.prisma, ['LaunchRefusal']);
  const response = await fetch(url, { redirect: 'manual', ...init });
  expect(response.headers.get('set-cookie')).toBeNull();
  expect(response.headers.get('location')).toBeNull();
  await expectRefusalPage(response, status, code);
  expect(await tableDigests(db.prisma, ['LaunchRefusal'])).toEqual(before);
}

// ---------------------------------------------------------------------------------------

describe('a valid launch (the baseline every refusal below departs from)', () => {
  it('succeeds', async () => {
    const result = await launch(openedx, app);
    expect(result.response.status).toBe(303);
  });
});

describe('launch refusals: the token', () => {
  it('tampered payload (signature no longer matches) → ERR_LTI_BAD_SIGNATURE', async () => {
    const prepared = await prepare();
    const [header, payload, signature] = prepared.idToken.split('.');
    const claims = JSON.parse(new TextDecoder().decode(base64url.decode(payload!))) as Record<string, unknown>;
    const forged = `${header}.${base64url.encode(JSON.stringify({ ...claims, sub: 'admin' }))}.${signature}`;
    await refuse(prepared, 400, 'ERR_LTI_BAD_SIGNATURE', { idToken: forged });
  });

  it('signed by a key not in the keyset, under the platform kid → ERR_LTI_BAD_SIGNATURE', async () => {
    await refuse(await prepare({ signWith: 'foreign-key' }), 400, 'ERR_LTI_BAD_SIGNATURE');
  });

  it('alg: none → ERR_LTI_ALG_NOT_ALLOWED', async () => {
    const prepared = await prepare({ signWith: 'none' });
    expect(prepared.idToken.endsWith('.')).toBe(true);
    await refuse(prepared, 400, 'ERR_LTI_ALG_NOT_ALLOWED');
  });

  it('alg: HS256 with the client id as the HMAC secret (alg confusion) → ERR_LTI_ALG_NOT_ALLOWED', async () => {
    await refuse(await prepare({ alg: 'HS256' }), 400, 'ERR_LTI_ALG_NOT_ALLOWED');
  });

  it('alg an object whose toString is not a function (found by fuzzing; was a 500) → ERR_LTI_ALG_NOT_ALLOWED', async () => {
    await refuse(await prepare({ header: { alg: { toString: false } } }), 400, 'ERR_LTI_ALG_NOT_ALLOWED');
  });

  it('alg: PS256 with the platform key (not on the allowlist) → ERR_LTI_ALG_NOT_ALLOWED', async () => {
    await refuse(await prepare({ alg: 'PS256' }), 400, 'ERR_LTI_ALG_NOT_ALLOWED');
  });

  it('no kid → ERR_LTI_KID_MISSING', async () => {
    await refuse(await prepare({ header: { kid: undefined } }), 400, 'ERR_LTI_KID_MISSING');
  });

  it('unknown kid → ERR_LTI_UNKNOWN_KID', async () => {
    await refuse(await prepare({ header: { kid: 'no-such-kid' } }), 400, 'ERR_LTI_UNKNOWN_KID');
  });

  it('ES256 token naming the RSA key of the keyset (key type does not match alg) → ERR_LTI_UNKNOWN_KID', async () => {
    // Signed with an EC key, header { alg: ES256, kid: <the platform's RSA kid> }: no key of
    // the type ES256 needs has that kid, so the RSA key is never even tried.
    const prepared = await prepare({ alg: 'ES256', signWith: 'foreign-key' });
    const header = JSON.parse(new TextDecoder().decode(base64url.decode(prepared.idToken.split('.')[0]!)));
    expect(header).toMatchObject({ alg: 'ES256', kid: openedx.kid });
    await refuse(prepared, 400, 'ERR_LTI_UNKNOWN_KID');
  });

  it('header says RS256 but the signature is ECDSA → ERR_LTI_BAD_SIGNATURE', async () => {
    await refuse(await prepare({ alg: 'ES256', signWith: 'foreign-key', header: { alg: 'RS256' } }), 400, 'ERR_LTI_BAD_SIGNATURE');
  });

  it('not a JWS → ERR_LTI_TOKEN_MALFORMED; no id_token → ERR_LTI_BAD_REQUEST', async () => {
    const prepared = await prepare();
    await expectLaunchRefused(() => postLaunch(app.urls.launchUrl, { state: prepared.state }, prepared.jar.header()), {
      status: 400,
      code: 'ERR_LTI_BAD_REQUEST',
      unused: prepared,
    });
    await refuse(prepared, 400, 'ERR_LTI_TOKEN_MALFORMED', { idToken: 'this.is-not.a-token' });
  });

  it('keyset URL unreachable (HTTP 404) → 502 ERR_LTI_KEYSET_UNAVAILABLE', async () => {
    const prepared = await prepare({}, { platform: brokenKeyset, app: brokenApp });
    // The genuine token would meet the same keyset.
    await refuse(prepared, 502, 'ERR_LTI_KEYSET_UNAVAILABLE', { stillLaunches: false });
  });
});

describe('launch refusals: the claims', () => {
  const cases: Array<[string, LaunchOverrides, LtiErrorCode]> = [
    ['wrong iss', { claims: { iss: 'https://evil.example.org' } }, 'ERR_LTI_ISSUER'],
    ['wrong aud (string)', { claims: { aud: randomUUID() } }, 'ERR_LTI_AUDIENCE'],
    ['aud array without our client id', { claims: { aud: [randomUUID(), 'other'] } }, 'ERR_LTI_AUDIENCE'],
    ['aud array with our client id but a wrong azp', { claims: { aud: ['CLIENT', 'other'], azp: 'other' } }, 'ERR_LTI_AUDIENCE'],
    ['expired (exp an hour ago)', { iatOffsetSeconds: -7200 }, 'ERR_LTI_TOKEN_EXPIRED'],
    ['expired (exp 30 s ago, beyond the leeway)', { iatOffsetSeconds: -3630 }, 'ERR_LTI_TOKEN_EXPIRED'],
    ['iat in the future', { iatOffsetSeconds: 120 }, 'ERR_LTI_TOKEN_NOT_YET_VALID'],
    ['nbf in the future', { nbfOffsetSeconds: 120 }, 'ERR_LTI_TOKEN_NOT_YET_VALID'],
    ['unknown deployment', { claims: { [LTI_CLAIM.deploymentId]: '2' } }, 'ERR_LTI_UNKNOWN_DEPLOYMENT'],
    ['no deployment', { claims: { [LTI_CLAIM.deploymentId]: undefined } }, 'ERR_LTI_DEPLOYMENT_ID_MISSING'],
    ['wrong version', { claims: { [LTI_CLAIM.version]: '1.1.0' } }, 'ERR_LTI_VERSION'],
    ['wrong message type', { claims: { [LTI_CLAIM.messageType]: 'LtiDeepLinkingRequest' } }, 'ERR_LTI_MESSAGE_TYPE'],
    ['missing resource link', { claims: { [LTI_CLAIM.resourceLink]: undefined } }, 'ERR_LTI_RESOURCE_LINK_MISSING'],
    ['resource link without id', { claims: { [LTI_CLAIM.resourceLink]: { title: 'x' } } }, 'ERR_LTI_RESOURCE_LINK_MISSING'],
    ['missing sub', { claims: { sub: undefined } }, 'ERR_LTI_SUB_MISSING'],
    ['missing roles claim', { claims: { [LTI_CLAIM.roles]: undefined } }, 'ERR_LTI_ROLES_MISSING'],
    ['target_link_uri elsewhere', { claims: { [LTI_CLAIM.targetLinkUri]: 'https://evil.example.org/lti/launch' } }, 'ERR_LTI_TARGET_LINK_URI'],
    ['missing exp', { claims: { exp: undefined } }, 'ERR_LTI_TOKEN_MALFORMED'],
    // Found by test/fuzz/launch.test.ts (both were a 500: PostgreSQL refused the insert).
    ['a NUL in a stored claim (context id)', { claims: { [LTI_CLAIM.context]: { id: 'course\u0000' } } }, 'ERR_LTI_TOKEN_MALFORMED'],
    ['an unpaired surrogate in a role', { claims: { [LTI_CLAIM.roles]: ['\uD800'] } }, 'ERR_LTI_TOKEN_MALFORMED'],
    // Found by test/fuzz/launch.test.ts: describing the value for the log threw (a 500).
    ['iss an object whose toString is not a function', { claims: { iss: { toString: false } } }, 'ERR_LTI_ISSUER'],
    ['message_type an object whose toString is not a function', { claims: { [LTI_CLAIM.messageType]: { toString: false } } }, 'ERR_LTI_MESSAGE_TYPE'],
  ];
  it.each(cases.map(([name, overrides, code]) => ({ name, overrides, code })))('$name → $code', async ({ overrides, code }) => {
    // 'CLIENT' stands for the platform's client id, unknown when the table is built.
    const aud = overrides.claims?.aud;
    const claims = Array.isArray(aud) ? { ...overrides.claims, aud: aud.map((a) => (a === 'CLIENT' ? openedx.clientId : a)) } : overrides.claims;
    await refuse(await prepare({ ...overrides, ...(claims ? { claims } : {}) }), 400, code);
  });

  it('a long name is stored cut at 1000 units, never in the middle of an emoji (so it is still valid text)', async () => {
    const name = `${'n'.repeat(999)}😀 tail`;
    const result = await launch(openedx, app, { overrides: { claims: { name } } });
    expect(result.response.status).toBe(303);
    const stored = await db.prisma.launch.findFirstOrThrow({ where: { name: { startsWith: 'nnn' } } });
    expect(stored.name).toBe('n'.repeat(999));
  });

  it('a nonce from another login → ERR_LTI_NONCE_MISMATCH (both logins stay unused)', async () => {
    const other = await prepare();
    const prepared = await prepare({ claims: { nonce: other.nonce } });
    await refuse(prepared, 400, 'ERR_LTI_NONCE_MISMATCH');
    expect(await launchesWithNonce(other.nonce)).toBe(0);
    await expectStillLaunches(other);
  });

  it('the nonce sent to the platform is the one the token must carry: another valid-looking nonce → ERR_LTI_NONCE_MISMATCH', async () => {
    const jar = new CookieJar();
    const login = await initiateLogin(openedx, app, jar);
    expect(login.response.status).toBe(302);
    const sent = new URL(login.location!).searchParams;
    const state = sent.get('state')!;
    const nonce = sent.get('nonce')!;
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(nonce).not.toBe(state);
    // The nonce sealed into this browser's cookie is the one sent to the platform.
    const opened = openLogin(await loginStateKey(), jar.cookies.get(stateCookieName(state))!, state, app.appId);
    expect(opened).toMatchObject({ ok: true, login: { nonce, registrationId: app.registrationId } });

    const prepared: PreparedLaunch = { jar, idToken: '', state, nonce, platform: openedx, app, location: login.location! };
    // Well-formed, but not this login's: a fresh random one, and the state in the nonce's place.
    for (const other of [randomToken(), state]) {
      const forged = await openedx.authorize(login.location!, { expectedRedirectUri: app.urls.launchUrl, claims: { nonce: other } });
      await refuse({ ...prepared, idToken: forged.idToken }, 400, 'ERR_LTI_NONCE_MISMATCH', { stillLaunches: false });
      expect(await launchesWithNonce(other)).toBe(0);
    }
    // The token carrying the nonce sent to the platform launches, recorded under that nonce.
    await expectStillLaunches(prepared);
  });

  it('a reused nonce (the same form posted twice, cookie and all) → ERR_LTI_NONCE_REUSED', async () => {
    const prepared = await prepare();
    const cookie = prepared.jar.header();
    const first = await postLaunch(app.urls.launchUrl, { id_token: prepared.idToken, state: prepared.state }, cookie);
    expect(first.status).toBe(303);
    await expectLaunchRefused(
      () => postLaunch(app.urls.launchUrl, { id_token: prepared.idToken, state: prepared.state }, cookie),
      { status: 400, code: 'ERR_LTI_NONCE_REUSED', idToken: prepared.idToken },
    );
  });

  it('a replayed launch (same form and cookie, again and again) → ERR_LTI_NONCE_REUSED each time, one Launch row', async () => {
    const prepared = await prepare();
    const cookie = prepared.jar.header();
    const form = { id_token: prepared.idToken, state: prepared.state };
    expect((await postLaunch(app.urls.launchUrl, form, cookie)).status).toBe(303);
    expect(await launchesWithNonce(prepared.nonce)).toBe(1);
    // The first replay misses on the short road and is named by the full path, which caches
    // the registration again: the second replay takes the short road again.
    for (let i = 0; i < 3; i++) {
      await expectLaunchRefused(() => postLaunch(app.urls.launchUrl, form, cookie), {
        status: 400,
        code: 'ERR_LTI_NONCE_REUSED',
        idToken: prepared.idToken,
      });
    }
    // Another process (nothing in memory of this login) refuses it too: the guard is the database's.
    const other = await startToolServer(db);
    try {
      const otherLaunchUrl = app.urls.launchUrl.replace(tool.baseUrl, other.baseUrl);
      await expectLaunchRefused(() => postLaunch(otherLaunchUrl, form, cookie), {
        status: 400,
        code: 'ERR_LTI_NONCE_REUSED',
        idToken: prepared.idToken,
      });
    } finally {
      await other.close();
    }
    expect(await launchesWithNonce(prepared.nonce)).toBe(1);
  });

  it('a nonce some launch already recorded → ERR_LTI_NONCE_REUSED, although this login never launched', async () => {
    const prepared = await prepare();
    const used = await db.prisma.launch.findFirstOrThrow({ where: { appId: app.appId, nonce: { not: null } } });
    const { id: _id, credentialHash: _hash, ...rest } = used;
    await db.prisma.launch.create({
      data: { ...rest, id: randomUUID(), credentialHash: randomToken(), nonce: prepared.nonce },
    });
    await expectLaunchRefused(() => postLaunch(app.urls.launchUrl, { id_token: prepared.idToken, state: prepared.state }, prepared.jar.header()), {
      status: 400,
      code: 'ERR_LTI_NONCE_REUSED',
      idToken: prepared.idToken,
    });
    expect(await launchesWithNonce(prepared.nonce)).toBe(1);
  });

  it('the app was made private between login and launch → 403 ERR_LTI_APP_NOT_PUBLIC', async () => {
    const prepared = await prepare();
    await db.prisma.app.update({ where: { id: app.appId }, data: { isPublic: false } });
    try {
      await refuse(prepared, 403, 'ERR_LTI_APP_NOT_PUBLIC', { stillLaunches: false });
    } finally {
      await db.prisma.app.update({ where: { id: app.appId }, data: { isPublic: true } });
    }
    // The refusal consumed nothing: public again, the login launches.
    await expectStillLaunches(prepared);
  });
});

describe('launch refusals: state and browser binding', () => {
  it('no state cookie → ERR_LTI_STATE_COOKIE_MISSING', async () => {
    await refuse(await prepare(), 400, 'ERR_LTI_STATE_COOKIE_MISSING', { cookie: '' });
  });

  it("only the cookie of a different login (another browser's form) → ERR_LTI_STATE_COOKIE_MISSING", async () => {
    const mine = await prepare();
    const theirs = await prepare();
    await refuse(theirs, 400, 'ERR_LTI_STATE_COOKIE_MISSING', { cookie: mine.jar.header() });
    expect(await launchesWithNonce(mine.nonce)).toBe(0);
    await expectStillLaunches(mine);
  });

  it("a cookie under this state's name holding a different login (its sealed value) → ERR_LTI_STATE_MISMATCH", async () => {
    const mine = await prepare();
    const theirs = await prepare();
    await refuse(theirs, 400, 'ERR_LTI_STATE_MISMATCH', { cookie: `${stateCookieName(theirs.state)}=${stateCookieOf(mine).value}` });
    expect(await launchesWithNonce(mine.nonce)).toBe(0);
  });

  it('a cookie with one field of its sealed value altered (nonce, registration, expiry, MAC) → ERR_LTI_STATE_MISMATCH, nothing recorded', async () => {
    const prepared = await prepare();
    const { name, value } = stateCookieOf(prepared);
    const parts = value.split('.');
    expect(parts).toHaveLength(5);
    const [version, nonce, registrationId, expiresAtMs, mac] = parts as [string, string, string, string, string];
    // The sealed value is the login this browser started.
    expect(version).toBe('l1');
    expect(nonce).toBe(prepared.nonce);
    expect(registrationId).toBe(app.registrationId);
    const other = await prepare();
    const flip = (text: string, at: number) => `${text.slice(0, at)}${text[at] === 'A' ? 'B' : 'A'}${text.slice(at + 1)}`;
    const altered: Array<[string, string]> = [
      ['nonce: another login’s', [version, other.nonce, registrationId, expiresAtMs, mac].join('.')],
      ['nonce: one character', [version, flip(nonce, 0), registrationId, expiresAtMs, mac].join('.')],
      ['nonce: a made-up one', [version, randomToken(), registrationId, expiresAtMs, mac].join('.')],
      ['registration: another app’s', [version, nonce, brokenApp.registrationId, expiresAtMs, mac].join('.')],
      ['registration: one character', [version, nonce, flip(registrationId, 0), expiresAtMs, mac].join('.')],
      ['expiry: an hour later', [version, nonce, registrationId, String(Number(expiresAtMs) + 3600_000), mac].join('.')],
      ['expiry: one millisecond earlier', [version, nonce, registrationId, String(Number(expiresAtMs) - 1), mac].join('.')],
      ['MAC: first character', [version, nonce, registrationId, expiresAtMs, flip(mac, 0)].join('.')],
      ['MAC: last character', [version, nonce, registrationId, expiresAtMs, flip(mac, mac.length - 1)].join('.')],
      ['MAC: another login’s', [version, nonce, registrationId, expiresAtMs, stateCookieOf(other).value.split('.')[4]!].join('.')],
    ];
    for (const [label, cookie] of altered) {
      expect(cookie, label).not.toBe(value);
      const digests = await tableDigests(db.prisma, ['LaunchRefusal']);
      await expectLaunchRefused(() => postLaunch(app.urls.launchUrl, { id_token: prepared.idToken, state: prepared.state }, `${name}=${cookie}`), {
        status: 400,
        code: 'ERR_LTI_STATE_MISMATCH',
        idToken: prepared.idToken,
        unused: prepared,
      });
      expect(await tableDigests(db.prisma, ['LaunchRefusal']), label).toEqual(digests);
    }
    expect(await launchesWithNonce(other.nonce)).toBe(0);
    // The cookie as sealed still launches.
    await expectStillLaunches(prepared);
  });

  it('a cookie that is not a sealed login (e.g. the bare state, as before stateless logins) → ERR_LTI_STATE_UNKNOWN', async () => {
    const prepared = await prepare();
    const { name, value } = stateCookieOf(prepared);
    for (const cookie of [prepared.state, value.replace(/^l1\./, 'l0.'), value.split('.').slice(0, 4).join('.'), `${value}.x`]) {
      await expectLaunchRefused(() => postLaunch(app.urls.launchUrl, { id_token: prepared.idToken, state: prepared.state }, `${name}=${cookie}`), {
        status: 400,
        code: 'ERR_LTI_STATE_UNKNOWN',
        idToken: prepared.idToken,
        unused: prepared,
      });
    }
    await expectStillLaunches(prepared);
  });

  it('a state that was never issued → ERR_LTI_STATE_UNKNOWN (a bare cookie), ERR_LTI_STATE_MISMATCH (a sealed-looking one)', async () => {
    const prepared = await prepare();
    const madeUp = `${prepared.state.slice(0, 16)}${'x'.repeat(27)}`;
    await expectLaunchRefused(
      () => postLaunch(app.urls.launchUrl, { id_token: prepared.idToken, state: madeUp }, `${stateCookieName(madeUp)}=${madeUp}`),
      { status: 400, code: 'ERR_LTI_STATE_UNKNOWN', idToken: prepared.idToken, unused: prepared },
    );
    // A made-up login in the sealed format, with this login's nonce and registration: the MAC cannot be made up.
    const forged = ['l1', prepared.nonce, app.registrationId, String(Date.now() + 600_000), randomToken()].join('.');
    await expectLaunchRefused(
      () => postLaunch(app.urls.launchUrl, { id_token: prepared.idToken, state: madeUp }, `${stateCookieName(madeUp)}=${forged}`),
      { status: 400, code: 'ERR_LTI_STATE_MISMATCH', idToken: prepared.idToken, unused: prepared },
    );
    await expectStillLaunches(prepared);
  });

  it('a malformed state → ERR_LTI_BAD_REQUEST', async () => {
    const prepared = await prepare();
    await expectLaunchRefused(
      () => postLaunch(app.urls.launchUrl, { id_token: prepared.idToken, state: 'short' }, `${stateCookieName('short')}=short`),
      { status: 400, code: 'ERR_LTI_BAD_REQUEST', idToken: prepared.idToken, unused: prepared },
    );
  });

  it('the login expired (tool clock 11 minutes on) → ERR_LTI_STATE_EXPIRED', async () => {
    const prepared = await prepare();
    clockOffsetMs = 11 * 60_000;
    try {
      await refuse(prepared, 400, 'ERR_LTI_STATE_EXPIRED', { stillLaunches: false });
    } finally {
      clockOffsetMs = 0;
    }
  });

  it('the login expires when its cookie says: refused from that millisecond on, not the one before', async () => {
    const prepared = await prepare();
    const expiresAtMs = Number(stateCookieOf(prepared).value.split('.')[3]);
    expect(expiresAtMs - Date.now()).toBeGreaterThan(590_000);
    expect(expiresAtMs - Date.now()).toBeLessThanOrEqual(600_000);
    // The tool's clock at the expiry: refused.
    clockOffsetMs = expiresAtMs - Date.now();
    try {
      await refuse(prepared, 400, 'ERR_LTI_STATE_EXPIRED', { stillLaunches: false });
    } finally {
      clockOffsetMs = 0;
    }
    // The tool's clock just short of it (minus the time the request takes): the same login launches.
    clockOffsetMs = expiresAtMs - Date.now() - 2_000;
    try {
      await expectStillLaunches(prepared);
    } finally {
      clockOffsetMs = 0;
    }
  });

  it("posted to another app's launch URL with a valid state and cookie → ERR_LTI_STATE_MISMATCH (the cookie is sealed for its app)", async () => {
    const prepared = await prepare();
    // Then (refuse's last step) the login is still good for its own app.
    await refuse(prepared, 400, 'ERR_LTI_STATE_MISMATCH', { launchUrl: brokenApp.urls.launchUrl });
  });
});

describe('launch refusals: the request itself', () => {
  it('the platform answered error= (e.g. login_required) → ERR_LTI_PLATFORM_ERROR', async () => {
    const prepared = await prepare();
    await expectLaunchRefused(
      () =>
        postLaunch(
          app.urls.launchUrl,
          { error: 'login_required', error_description: '<script>alert(1)</script>', state: prepared.state },
          prepared.jar.header(),
        ),
      // The platform's words are logged, never echoed into the page.
      { status: 400, code: 'ERR_LTI_PLATFORM_ERROR', unused: prepared, secrets: ['<script>', 'login_required'] },
    );
  });

  it('GET on the launch URL → 405 ERR_LTI_METHOD with Allow: POST', async () => {
    const response = await fetch(app.urls.launchUrl, { redirect: 'manual' });
    expect(response.headers.get('allow')).toBe('POST');
    await expectRefusalPage(response, 405, 'ERR_LTI_METHOD');
  });

  it('a JSON body instead of a form → ERR_LTI_BAD_REQUEST', async () => {
    const prepared = await prepare();
    await expectLaunchRefused(
      () =>
        fetch(app.urls.launchUrl, {
          method: 'POST',
          redirect: 'manual',
          headers: { 'content-type': 'application/json', cookie: prepared.jar.header() },
          body: JSON.stringify({ id_token: prepared.idToken, state: prepared.state }),
        }),
      { status: 400, code: 'ERR_LTI_BAD_REQUEST', idToken: prepared.idToken, unused: prepared },
    );
  });

  it('an oversized body (declared length) → 413 ERR_LTI_BODY_TOO_LARGE', async () => {
    const prepared = await prepare();
    await expectLaunchRefused(
      () => postLaunch(app.urls.launchUrl, { id_token: prepared.idToken, state: prepared.state, pad: 'x'.repeat(70_000) }, prepared.jar.header()),
      { status: 413, code: 'ERR_LTI_BODY_TOO_LARGE', idToken: prepared.idToken, unused: prepared },
    );
  });

  it('an oversized chunked body (no content-length) → 413 ERR_LTI_BODY_TOO_LARGE', async () => {
    const prepared = await prepare();
    const chunk = new TextEncoder().encode(`pad=${'x'.repeat(16 * 1024)}&`);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 8) controller.enqueue(chunk);
        else controller.close();
      },
    });
    await expectLaunchRefused(
      () =>
        fetch(app.urls.launchUrl, {
          method: 'POST',
          redirect: 'manual',
          headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: prepared.jar.header() },
          body,
          duplex: 'half',
        } as RequestInit),
      { status: 413, code: 'ERR_LTI_BODY_TOO_LARGE', unused: prepared },
    );
  });
});

describe('login refusals', () => {
  it('unknown app id → 404 ERR_LTI_UNKNOWN_APP', async () => {
    const url = loginUrl();
    url.pathname = url.pathname.replace(app.appId, randomUUID());
    await expectLoginRefused(url, 404, 'ERR_LTI_UNKNOWN_APP');
  });

  it('a private app → 403 ERR_LTI_APP_NOT_PUBLIC', async () => {
    // On a process that has not cached the app's registration as public (the process that has
    // may start the login, and its launch is refused: test/lti/login-cache.test.ts).
    const other = await startToolServer(db);
    await db.prisma.app.update({ where: { id: app.appId }, data: { isPublic: false } });
    try {
      const url = loginUrl();
      url.host = new URL(other.baseUrl).host;
      url.searchParams.set('target_link_uri', app.urls.launchUrl.replace(tool.baseUrl, other.baseUrl));
      await expectLoginRefused(url, 403, 'ERR_LTI_APP_NOT_PUBLIC');
    } finally {
      await db.prisma.app.update({ where: { id: app.appId }, data: { isPublic: true } });
      await other.close();
    }
  });

  it('unknown iss → ERR_LTI_UNKNOWN_REGISTRATION', async () => {
    const url = loginUrl();
    url.searchParams.set('iss', 'https://other-lms.example.org');
    await expectLoginRefused(url, 400, 'ERR_LTI_UNKNOWN_REGISTRATION');
  });

  it('unknown client_id → ERR_LTI_UNKNOWN_REGISTRATION', async () => {
    const url = loginUrl();
    url.searchParams.set('client_id', randomUUID());
    await expectLoginRefused(url, 400, 'ERR_LTI_UNKNOWN_REGISTRATION');
  });

  it("another app's registration (right iss and client_id, wrong app) → ERR_LTI_UNKNOWN_REGISTRATION", async () => {
    const url = loginUrl(brokenKeyset, brokenApp);
    url.pathname = new URL(app.urls.loginUrl).pathname;
    url.searchParams.set('target_link_uri', app.urls.launchUrl);
    await expectLoginRefused(url, 400, 'ERR_LTI_UNKNOWN_REGISTRATION');
  });

  it('wrong lti_deployment_id → ERR_LTI_UNKNOWN_DEPLOYMENT', async () => {
    const url = loginUrl();
    url.searchParams.set('lti_deployment_id', '2');
    await expectLoginRefused(url, 400, 'ERR_LTI_UNKNOWN_DEPLOYMENT');
  });

  it('target_link_uri on another origin → ERR_LTI_TARGET_LINK_URI', async () => {
    const url = loginUrl();
    url.searchParams.set('target_link_uri', 'https://evil.example.org/lti/launch');
    await expectLoginRefused(url, 400, 'ERR_LTI_TARGET_LINK_URI');
  });

  it('missing login_hint, iss or target_link_uri → ERR_LTI_BAD_REQUEST', async () => {
    for (const param of ['login_hint', 'iss', 'target_link_uri']) {
      const url = loginUrl();
      url.searchParams.delete(param);
      await expectLoginRefused(url, 400, 'ERR_LTI_BAD_REQUEST');
    }
  });

  it('a NUL character in iss or client_id (found by test/fuzz/login.test.ts; was a 500) → ERR_LTI_BAD_REQUEST', async () => {
    for (const param of ['iss', 'client_id']) {
      const url = loginUrl();
      url.searchParams.set(param, `${url.searchParams.get(param)}\u0000`);
      await expectLoginRefused(url, 400, 'ERR_LTI_BAD_REQUEST');
    }
  });

  it('an oversized parameter → ERR_LTI_BAD_REQUEST', async () => {
    const url = loginUrl();
    url.searchParams.set('lti_message_hint', 'h'.repeat(5000));
    await expectLoginRefused(url, 400, 'ERR_LTI_BAD_REQUEST');
  });

  it('PUT on the login URL → 405 ERR_LTI_METHOD with Allow: GET, POST', async () => {
    const response = await fetch(app.urls.loginUrl, { method: 'PUT', redirect: 'manual' });
    expect(response.headers.get('allow')).toBe('GET, POST');
    await expectRefusalPage(response, 405, 'ERR_LTI_METHOD');
  });

  it('no client_id while two registrations share the issuer → ERR_LTI_CLIENT_ID_REQUIRED', async () => {
    const url = loginUrl(twoRegs, twoRegsApp);
    url.searchParams.delete('client_id');
    await expectLoginRefused(url, 400, 'ERR_LTI_CLIENT_ID_REQUIRED');
    // With client_id it picks the right one.
    const withClientId = await fetch(loginUrl(twoRegs, twoRegsApp), { redirect: 'manual' });
    expect(withClientId.status).toBe(302);
    expect(new URL(withClientId.headers.get('location')!).searchParams.get('client_id')).toBe(twoRegs.clientId);
  });

  it('no client_id with a single registration of the issuer → the launch succeeds', async () => {
    const url = loginUrl();
    url.searchParams.delete('client_id');
    const jar = new CookieJar();
    const login = await fetch(url, { redirect: 'manual' });
    expect(login.status).toBe(302);
    jar.store(login);
    const auth = await openedx.authorize(login.headers.get('location')!, { expectedRedirectUri: app.urls.launchUrl });
    const response = await postLaunch(auth.redirectUri, { id_token: auth.idToken, state: auth.state }, jar.header());
    expect(response.status).toBe(303);
  });
});

describe('an unexpected error (a bug, or a dependency failing)', () => {
  /**
   * A tool server whose log lines are kept, `now` may throw, whose login read may be replaced
   * by a statement the database refuses, and a platform with a public app on it.
   */
  async function brokenServer() {
    const { logger, lines } = capturingLogger();
    const clock = { failing: false, detail: '' };
    const loginRead = { refused: false, diverted: 0 };
    const sql: SqlRunner = {
      rows<T>(statement: Parameters<SqlRunner['rows']>[0]): Promise<T[]> {
        // The login's one read (launch-queries.ts findLoginTarget), when asked to fail: a statement the database refuses.
        if (loginRead.refused && statement.name === 'lti_login_target') {
          loginRead.diverted++;
          return db.sql.rows<T>({ name: 'test_refuse_login', text: 'SELECT "test_refuse_login"()', values: [] });
        }
        return db.sql.rows<T>(statement);
      },
    };
    const server = await startToolServer({ ...db, sql }, {
      logger,
      now: () => {
        if (clock.failing) throw new Error(`clock exploded: ${clock.detail}`);
        return new Date();
      },
    });
    const platform = await startTestPlatform();
    const brokenApp = await publicAppFor(db, platform, server.baseUrl);
    const url = new URL(brokenApp.urls.loginUrl);
    for (const [k, v] of Object.entries({ iss: platform.issuer, login_hint: 'h', target_link_uri: brokenApp.urls.launchUrl, client_id: platform.clientId })) {
      url.searchParams.set(k, v);
    }
    return {
      lines,
      clock,
      loginRead,
      server,
      app: brokenApp,
      loginUrl: url,
      close: async () => {
        await platform.close();
        await server.close();
      },
    };
  }

  it('inside the login (the database refuses its statement) → 500 ERR_LTI_INTERNAL page; reason and stack in the log only; audited', async () => {
    const broken = await brokenServer();
    const detail = `internal-detail-${randomUUID()}`;
    try {
      await db.prisma.$executeRawUnsafe(`
        CREATE FUNCTION "test_refuse_login"() RETURNS integer LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION 'injected: ${detail}';
        END $$`);
      const audited = await db.prisma.launchRefusal.count({ where: { appId: broken.app.appId, code: 'ERR_LTI_INTERNAL' } });
      // A new process: the registration is not cached, the login reads it (and the database refuses).
      broken.loginRead.refused = true;
      const response = await fetch(broken.loginUrl, { redirect: 'manual' });
      broken.loginRead.refused = false;
      expect(broken.loginRead.diverted, 'the login read the registration').toBe(1);
      await expectRefusalPage(response, 500, 'ERR_LTI_INTERNAL', [detail, 'injected']);
      expect(response.headers.get('set-cookie')).toBeNull();
      const logged = broken.lines.find((l) => l.msg === 'lti request failed');
      expect(logged, JSON.stringify(broken.lines)).toBeDefined();
      expect(logged!.level).toBe(50); // error
      expect(JSON.stringify(logged!.err)).toContain(detail);
      expect((logged!.err as { stack?: string }).stack).toMatch(/\bat /);
      expect(await db.prisma.launchRefusal.count({ where: { appId: broken.app.appId, code: 'ERR_LTI_INTERNAL' } })).toBe(audited + 1);
    } finally {
      broken.loginRead.refused = false;
      await db.prisma.$executeRawUnsafe('DROP FUNCTION IF EXISTS "test_refuse_login"()');
      await broken.close();
    }
  });

  it.each([
    ['the login URL', /ERR_LTI_INTERNAL/, (b: { loginUrl: URL }) => fetch(b.loginUrl, { redirect: 'manual' }), 'lti_logins_total', { outcome: 'refused', code: 'ERR_LTI_INTERNAL' }],
    [
      'the completion endpoint',
      /"server_error"/,
      (b: { loginUrl: URL }) => fetch(new URL('/api/completions', b.loginUrl), { method: 'POST', headers: { authorization: 'Bearer x' } }),
      'lti_completions_total',
      { status: '500' },
    ],
  ])('outside any route’s own handling (%s; the clock throws in the rate limiter) → a generic 500, no message or stack, counted', async (_label, says, request, metric, labels) => {
    const broken = await brokenServer();
    broken.clock.detail = `internal-detail-${randomUUID()}`;
    const counted = async () => parseExposition(await broken.server.app.metrics.render()).value(metric, labels) ?? 0;
    try {
      const before = await counted();
      broken.clock.failing = true;
      const response = await request(broken);
      broken.clock.failing = false;
      expect(await counted()).toBe(before + 1);
      expect(response.status).toBe(500);
      expect(response.headers.get('x-request-id')).toBeTruthy();
      const body = await response.text();
      expect(body).not.toContain(broken.clock.detail);
      expect(body).not.toMatch(/clock exploded|\bat .*:\d+:\d+|\.ts\b/);
      expect(body).toMatch(says);
      const logged = broken.lines.find((l) => l.msg === 'request failed');
      expect(logged, JSON.stringify(broken.lines)).toBeDefined();
      expect(JSON.stringify(logged!.err)).toContain(broken.clock.detail);
    } finally {
      broken.clock.failing = false;
      await broken.close();
    }
  });
});
