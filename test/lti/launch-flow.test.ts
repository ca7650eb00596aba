import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../server/db/client.ts';
import { hashCredential, LAUNCH_FRAGMENT_PARAM } from '../../server/lti/launch.ts';
import { LoginStateKey } from '../../server/lti/login-state-key.ts';
import { openLogin } from '../../server/lti/sealed-login.ts';
import { stateCookieName } from '../../server/lti/state-cookie.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { CookieJar, errorCode, launch, publicAppFor, type PublicApp } from '../helpers/lti-flow.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { startToolServer, type ToolServer } from '../helpers/tool-server.ts';

let db: Database;
let tool: ToolServer;
let openedx: TestPlatform;
let app: PublicApp;

beforeAll(async () => {
  db = await createTestDatabase();
  tool = await startToolServer(db);
  openedx = await startTestPlatform();
  app = await publicAppFor(db, openedx, tool.baseUrl);
});
afterAll(async () => {
  await openedx.close();
  await tool.close();
  await db.close();
});

describe('a launch from Open edX', () => {
  it('runs login → auth → launch and lands on the exercise with a credential in the fragment', async () => {
    const sub = 'edx-learner-1';
    const result = await launch(openedx, app, { sub });

    // Login: 302 to the platform with every OIDC parameter, state bound by cookie.
    expect(result.login.response.status).toBe(302);
    const auth = new URL(result.login.location!);
    expect(`${auth.origin}${auth.pathname}`).toBe(openedx.authLoginUrl);
    expect(Object.fromEntries(auth.searchParams)).toMatchObject({
      scope: 'openid',
      response_type: 'id_token',
      response_mode: 'form_post',
      prompt: 'none',
      client_id: openedx.clientId,
      redirect_uri: app.urls.launchUrl,
      login_hint: sub,
    });
    expect(auth.searchParams.get('lti_message_hint')).toBeTruthy();
    const setCookie = result.login.response.headers.getSetCookie()[0]!;
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toContain(`Path=${new URL(app.urls.launchUrl).pathname}`);
    expect(setCookie).toMatch(/Max-Age=600/);
    // The login is the cookie: sealed (with the key every process shares) for this state and
    // app, it carries the nonce sent to the platform, the registration and the expiry.
    const state = auth.searchParams.get('state')!;
    const nonce = auth.searchParams.get('nonce')!;
    expect(state).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const [cookieName, sealed] = setCookie.split(';')[0]!.split('=') as [string, string];
    expect(cookieName).toBe(stateCookieName(state));
    const key = await new LoginStateKey(db.prisma).get();
    const opened = openLogin(key, sealed, state, app.appId);
    expect(opened).toMatchObject({ ok: true, login: { state, nonce, appId: app.appId, registrationId: app.registrationId } });
    const expiresAt = opened.ok ? opened.login.expiresAt.getTime() : 0;
    expect(expiresAt).toBeGreaterThan(Date.now() + 590_000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 600_000);
    // Not for another state or app.
    expect(openLogin(key, sealed, result.auth.nonce, app.appId)).toEqual({ ok: false, reason: 'forged' });
    expect(openLogin(key, sealed, state, app.registrationId)).toEqual({ ok: false, reason: 'forged' });
    expect(result.auth).toMatchObject({ state, nonce });

    // Launch: 303 to the exercise, the credential only in the fragment.
    expect(result.response.status).toBe(303);
    const target = new URL(result.location!);
    expect(`${target.origin}${target.pathname}${target.search}`).toBe(app.exerciseUrl);
    const credential = new URLSearchParams(target.hash.slice(1)).get(LAUNCH_FRAGMENT_PARAM);
    expect(credential).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // The state cookie is cleared.
    expect(result.jar.cookies.size).toBe(0);

    const row = await db.prisma.launch.findUniqueOrThrow({ where: { credentialHash: hashCredential(credential!) } });
    expect(row).toMatchObject({
      appId: app.appId,
      registrationId: app.registrationId,
      deploymentId: '1',
      subject: sub,
      name: null,
      email: null,
      contextId: expect.stringMatching(/^course-v1:/),
      resourceLinkId: expect.stringMatching(/^block-v1:/),
      agsLineitem: expect.stringContaining('/lti-ags/'),
      agsScopes: expect.arrayContaining(['https://purl.imsglobal.org/spec/lti-ags/scope/score']),
    });
    expect(row.roles.length).toBeGreaterThan(0);
    expect(row.credentialExpiresAt.getTime()).toBeGreaterThan(Date.now() + 5 * 3600_000);
    // The launch used the login: recorded under its nonce.
    expect(row.nonce).toBe(nonce);
  });

  it('fetches the platform keyset once, not per launch', async () => {
    const before = openedx.keysetFetches;
    for (let i = 0; i < 3; i++) expect((await launch(openedx, app)).response.status).toBe(303);
    expect(openedx.keysetFetches).toBe(before);
  });

  it('refuses to replay a launch form, even with the browser cookie', async () => {
    const first = await launch(openedx, app);
    expect(first.response.status).toBe(303);
    const launchesBefore = await db.prisma.launch.count({ where: { appId: app.appId } });
    // The browser's cookie as the login set it (the launch cleared it from the jar since).
    const jar = new CookieJar();
    jar.store(first.login.response);
    expect(jar.cookies.size).toBe(1);
    const replay = await fetch(app.urls.launchUrl, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: jar.header() },
      body: new URLSearchParams({ id_token: first.auth.idToken, state: first.auth.state }),
    });
    expect(replay.status).toBe(400);
    expect(await errorCode(replay)).toBe('ERR_LTI_NONCE_REUSED');
    expect(await db.prisma.launch.count({ where: { appId: app.appId } })).toBe(launchesBefore);
    expect(await db.prisma.launch.count({ where: { nonce: first.auth.nonce } })).toBe(1);
  });
});
