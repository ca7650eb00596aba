/**
 * Every way a login or launch is refused, over real HTTP: one test per check. Each asserts
 * the status, the stable ERR_LTI_ code on a small HTML page without stack traces or the
 * token, that no Launch was recorded, and (where the login exists) that it is still unused.
 */
import { randomUUID } from 'node:crypto';
import { base64url } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../server/db/client.ts';
import { LTI_ERRORS, type LtiErrorCode } from '../../server/lti/errors.ts';
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
  return { jar, idToken: auth.idToken, state: auth.state, nonce: auth.nonce };
}

/**
 * Runs a launch POST that must be refused: checks the page, that no Launch row appeared,
 * and that the login (if any) is still unused.
 */
async function expectLaunchRefused(
  send: () => Promise<Response>,
  expected: { status: number; code: LtiErrorCode; idToken?: string; unusedState?: string; secrets?: string[] },
): Promise<void> {
  const launchesBefore = await db.prisma.launch.count();
  const response = await send();
  const secrets = [...(expected.idToken ? [expected.idToken] : []), ...(expected.secrets ?? [])];
  await expectRefusalPage(response, expected.status, expected.code, secrets);
  expect(response.headers.get('location')).toBeNull();
  expect(await db.prisma.launch.count()).toBe(launchesBefore);
  if (expected.unusedState) {
    const login = await db.prisma.loginState.findUniqueOrThrow({ where: { state: expected.unusedState } });
    expect(login.usedAt).toBeNull();
  }
}

/** Posts a prepared launch (optionally with another token, cookie or URL) and expects a refusal. */
async function refuse(
  prepared: PreparedLaunch,
  status: number,
  code: LtiErrorCode,
  options: { idToken?: string; cookie?: string; launchUrl?: string } = {},
): Promise<void> {
  const idToken = options.idToken ?? prepared.idToken;
  await expectLaunchRefused(
    () =>
      postLaunch(options.launchUrl ?? app.urls.launchUrl, { id_token: idToken, state: prepared.state }, options.cookie ?? prepared.jar.header()),
    { status, code, idToken, unusedState: prepared.state },
  );
}

/** The login initiation URL the platform would send, as a mutable URL. */
function loginUrl(platform: TestPlatform = openedx, target: PublicApp = app): URL {
  const init = platform.loginInitiation(target.urls.loginUrl, { targetLinkUri: target.urls.launchUrl });
  return new URL(init.url);
}

async function expectLoginRefused(url: URL | string, status: number, code: LtiErrorCode, init: RequestInit = {}) {
  const statesBefore = await db.prisma.loginState.count();
  const response = await fetch(url, { redirect: 'manual', ...init });
  expect(response.headers.get('set-cookie')).toBeNull();
  expect(response.headers.get('location')).toBeNull();
  await expectRefusalPage(response, status, code);
  expect(await db.prisma.loginState.count()).toBe(statesBefore);
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
    await refuse(prepared, 400, 'ERR_LTI_TOKEN_MALFORMED', { idToken: 'this.is-not.a-token' });
    await expectLaunchRefused(() => postLaunch(app.urls.launchUrl, { state: prepared.state }, prepared.jar.header()), {
      status: 400,
      code: 'ERR_LTI_BAD_REQUEST',
      unusedState: prepared.state,
    });
  });

  it('keyset URL unreachable (HTTP 404) → 502 ERR_LTI_KEYSET_UNAVAILABLE', async () => {
    const prepared = await prepare({}, { platform: brokenKeyset, app: brokenApp });
    await refuse(prepared, 502, 'ERR_LTI_KEYSET_UNAVAILABLE', { launchUrl: brokenApp.urls.launchUrl });
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
    expect((await db.prisma.loginState.findUniqueOrThrow({ where: { state: other.state } })).usedAt).toBeNull();
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

  it('the app was made private between login and launch → 403 ERR_LTI_APP_NOT_PUBLIC', async () => {
    const prepared = await prepare();
    await db.prisma.app.update({ where: { id: app.appId }, data: { isPublic: false } });
    try {
      await refuse(prepared, 403, 'ERR_LTI_APP_NOT_PUBLIC');
    } finally {
      await db.prisma.app.update({ where: { id: app.appId }, data: { isPublic: true } });
    }
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
    expect((await db.prisma.loginState.findUniqueOrThrow({ where: { state: mine.state } })).usedAt).toBeNull();
  });

  it("a cookie under this state's name holding a different login's state → ERR_LTI_STATE_MISMATCH", async () => {
    const mine = await prepare();
    const theirs = await prepare();
    await refuse(theirs, 400, 'ERR_LTI_STATE_MISMATCH', { cookie: `${stateCookieName(theirs.state)}=${mine.state}` });
  });

  it('a state that was never issued → ERR_LTI_STATE_UNKNOWN', async () => {
    const prepared = await prepare();
    const madeUp = `${prepared.state.slice(0, 16)}${'x'.repeat(27)}`;
    await expectLaunchRefused(
      () => postLaunch(app.urls.launchUrl, { id_token: prepared.idToken, state: madeUp }, `${stateCookieName(madeUp)}=${madeUp}`),
      { status: 400, code: 'ERR_LTI_STATE_UNKNOWN', idToken: prepared.idToken, unusedState: prepared.state },
    );
  });

  it('a malformed state → ERR_LTI_BAD_REQUEST', async () => {
    const prepared = await prepare();
    await expectLaunchRefused(
      () => postLaunch(app.urls.launchUrl, { id_token: prepared.idToken, state: 'short' }, `${stateCookieName('short')}=short`),
      { status: 400, code: 'ERR_LTI_BAD_REQUEST', idToken: prepared.idToken, unusedState: prepared.state },
    );
  });

  it('the login expired (tool clock 11 minutes on) → ERR_LTI_STATE_EXPIRED', async () => {
    const prepared = await prepare();
    clockOffsetMs = 11 * 60_000;
    try {
      await refuse(prepared, 400, 'ERR_LTI_STATE_EXPIRED');
    } finally {
      clockOffsetMs = 0;
    }
  });

  it("posted to another app's launch URL with a valid state and cookie → ERR_LTI_STATE_UNKNOWN", async () => {
    const prepared = await prepare();
    await refuse(prepared, 400, 'ERR_LTI_STATE_UNKNOWN', { launchUrl: brokenApp.urls.launchUrl });
    // The login is still good for its own app.
    const ok = await postLaunch(app.urls.launchUrl, { id_token: prepared.idToken, state: prepared.state }, prepared.jar.header());
    expect(ok.status).toBe(303);
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
      { status: 400, code: 'ERR_LTI_PLATFORM_ERROR', unusedState: prepared.state, secrets: ['<script>', 'login_required'] },
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
      { status: 400, code: 'ERR_LTI_BAD_REQUEST', idToken: prepared.idToken, unusedState: prepared.state },
    );
  });

  it('an oversized body (declared length) → 413 ERR_LTI_BODY_TOO_LARGE', async () => {
    const prepared = await prepare();
    await expectLaunchRefused(
      () => postLaunch(app.urls.launchUrl, { id_token: prepared.idToken, state: prepared.state, pad: 'x'.repeat(70_000) }, prepared.jar.header()),
      { status: 413, code: 'ERR_LTI_BODY_TOO_LARGE', idToken: prepared.idToken, unusedState: prepared.state },
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
      { status: 413, code: 'ERR_LTI_BODY_TOO_LARGE', unusedState: prepared.state },
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
    await db.prisma.app.update({ where: { id: app.appId }, data: { isPublic: false } });
    try {
      await expectLoginRefused(loginUrl(), 403, 'ERR_LTI_APP_NOT_PUBLIC');
    } finally {
      await db.prisma.app.update({ where: { id: app.appId }, data: { isPublic: true } });
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
  /** A tool server whose log lines are kept, `now` may throw, and a platform with a public app on it. */
  async function brokenServer() {
    const { logger, lines } = capturingLogger();
    const clock = { failing: false, detail: '' };
    const server = await startToolServer(db, {
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
        CREATE FUNCTION "test_refuse_login"() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW."appId" = '${broken.app.appId}' THEN RAISE EXCEPTION 'injected: ${detail}'; END IF;
          RETURN NEW;
        END $$`);
      await db.prisma.$executeRawUnsafe('CREATE TRIGGER "test_refuse_login" BEFORE INSERT ON "LoginState" FOR EACH ROW EXECUTE FUNCTION "test_refuse_login"()');
      const audited = await db.prisma.launchRefusal.count({ where: { appId: broken.app.appId, code: 'ERR_LTI_INTERNAL' } });
      const response = await fetch(broken.loginUrl, { redirect: 'manual' });
      await expectRefusalPage(response, 500, 'ERR_LTI_INTERNAL', [detail, 'injected']);
      const logged = broken.lines.find((l) => l.msg === 'lti request failed');
      expect(logged, JSON.stringify(broken.lines)).toBeDefined();
      expect(logged!.level).toBe(50); // error
      expect(JSON.stringify(logged!.err)).toContain(detail);
      expect((logged!.err as { stack?: string }).stack).toMatch(/\bat /);
      expect(await db.prisma.launchRefusal.count({ where: { appId: broken.app.appId, code: 'ERR_LTI_INTERNAL' } })).toBe(audited + 1);
    } finally {
      await db.prisma.$executeRawUnsafe('DROP TRIGGER IF EXISTS "test_refuse_login" ON "LoginState"');
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
