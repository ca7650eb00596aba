/**
 * Launches that must succeed although they differ from Open edX's defaults: other LMSs
 * (Canvas: POST login, deployment_id, aud array + azp), other signature algorithms, keysets
 * with and without alg, platform key rotation, keyset caching, minimal and rich claims, two
 * logins in flight in one browser, and a PUBLIC_URL with a path prefix.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../server/app.ts';
import type { Database } from '../../server/db/client.ts';
import { hashCredential, LAUNCH_FRAGMENT_PARAM } from '../../server/lti/launch.ts';
import { createSilentLogger } from '../../server/logger.ts';
import { createTestDatabase } from '../helpers/db.ts';
import {
  CookieJar,
  errorCode,
  initiateLogin,
  launch,
  postLaunch,
  publicAppFor,
  type LaunchResult,
  type PublicApp,
} from '../helpers/lti-flow.ts';
import {
  AGS_ENDPOINT_CLAIM,
  LTI_CLAIM,
  startTestPlatform,
  type PlatformOptions,
  type TestPlatform,
} from '../helpers/platform.ts';
import { LOOPBACK_NETWORKS, testConfig } from '../helpers/server.ts';
import { startToolServer, type ToolServer } from '../helpers/tool-server.ts';

let db: Database;
let tool: ToolServer;
const platforms: TestPlatform[] = [];
/** Shared by tests that don't count keyset fetches. */
let openedx: { platform: TestPlatform; app: PublicApp };
let canvas: { platform: TestPlatform; app: PublicApp };

beforeAll(async () => {
  db = await createTestDatabase();
  tool = await startToolServer(db);
  [openedx, canvas] = await Promise.all([platformWithApp(), platformWithApp({ variant: 'canvas' })]);
});
afterAll(async () => {
  await Promise.all(platforms.map((p) => p.close()));
  await tool?.close();
  await db?.close();
});

/** A platform of its own (own keyset URL, so keyset counts and cooldowns are per test) and its app. */
async function platformWithApp(options: PlatformOptions = {}, baseUrl = tool.baseUrl) {
  const platform = await startTestPlatform(options);
  platforms.push(platform);
  const app = await publicAppFor(db, platform, baseUrl);
  return { platform, app };
}

/** The stored Launch behind a successful launch's redirect. */
async function storedLaunch(result: LaunchResult) {
  expect(result.response.status, await result.response.clone().text()).toBe(303);
  const credential = new URLSearchParams(new URL(result.location!).hash.slice(1)).get(LAUNCH_FRAGMENT_PARAM);
  return db.prisma.launch.findUniqueOrThrow({ where: { credentialHash: hashCredential(credential!) } });
}

describe('other platforms', () => {
  it('Canvas: POST login with deployment_id, aud array + azp, a Canvas-style deployment id', async () => {
    const { platform, app } = canvas;
    const init = platform.loginInitiation(app.urls.loginUrl, { targetLinkUri: app.urls.launchUrl });
    expect(init.method).toBe('POST');
    expect(init.body!.get('deployment_id')).toBe(platform.deploymentId);
    expect(init.body!.has('lti_deployment_id')).toBe(false);

    const result = await launch(platform, app);
    expect(result.login.response.status).toBe(302);
    const claims = decodeJwt(result.auth.idToken);
    expect(claims.aud).toEqual([platform.clientId, 'other']);
    expect(claims.azp).toBe(platform.clientId);
    const row = await storedLaunch(result);
    expect(row).toMatchObject({ appId: app.appId, registrationId: app.registrationId, deploymentId: platform.deploymentId });
    expect(platform.deploymentId).toMatch(/^\d+:[0-9a-f]{40}$/);
  });

  it('Canvas: an unknown deployment_id at POST login is refused', async () => {
    const { platform, app } = canvas;
    const init = platform.loginInitiation(app.urls.loginUrl, { targetLinkUri: app.urls.launchUrl, extra: { deployment_id: '99:nope' } });
    const response = await fetch(init.url, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: init.body!,
    });
    expect(response.status).toBe(400);
    expect(await errorCode(response)).toBe('ERR_LTI_UNKNOWN_DEPLOYMENT');
  });

  it('the issuer is compared exactly at login: a trailing slash the launch would refuse (ERR_LTI_ISSUER) is refused here, before the round trip', async () => {
    const { platform, app } = openedx;
    for (const iss of [`${platform.issuer}/`, `${platform.issuer}//`, platform.issuer.toUpperCase()]) {
      const url = new URL(platform.loginInitiation(app.urls.loginUrl, { targetLinkUri: app.urls.launchUrl }).url);
      url.searchParams.set('iss', iss);
      const response = await fetch(url, { redirect: 'manual' });
      expect(response.status, iss).toBe(400);
      expect(await errorCode(response), iss).toBe('ERR_LTI_UNKNOWN_REGISTRATION');
      // No login was issued: no state cookie, no redirect to the platform.
      expect(response.headers.get('set-cookie'), iss).toBeNull();
      expect(response.headers.get('location'), iss).toBeNull();
    }
    // The exact issuer still logs in.
    const url = new URL(platform.loginInitiation(app.urls.loginUrl, { targetLinkUri: app.urls.launchUrl }).url);
    expect(url.searchParams.get('iss')).toBe(platform.issuer);
    const exact = await fetch(url, { redirect: 'manual' });
    expect(exact.status).toBe(302);
    expect(exact.headers.get('set-cookie')).toMatch(/^lti_state_/);
  });
});

describe('signature algorithms and keysets', () => {
  it.each(['ES256', 'ES384', 'RS384', 'RS512'] as const)('a platform signing with %s', async (alg) => {
    const { platform, app } = await platformWithApp({ alg });
    const result = await launch(platform, app);
    expect(result.response.status).toBe(303);
    expect(decodeProtectedHeader(result.auth.idToken)).toMatchObject({ alg });
  });

  it('a keyset without alg/use (Open edX) works', async () => {
    const { platform, app } = openedx;
    const [key] = platform.publicJwks().keys;
    expect(key).not.toHaveProperty('alg');
    expect(key).not.toHaveProperty('use');
    expect((await launch(platform, app)).response.status).toBe(303);
  });

  it('a keyset with alg and use published works', async () => {
    const { platform, app } = await platformWithApp({ publishAlg: true, alg: 'ES256' });
    expect(platform.publicJwks().keys[0]).toMatchObject({ alg: 'ES256', use: 'sig' });
    expect((await launch(platform, app)).response.status).toBe(303);
  });
});

describe('platform keyset cache', () => {
  it('is fetched once for concurrent first launches and never again while the key is cached', async () => {
    const { platform, app } = await platformWithApp();
    const toolFetchesBefore = tool.app.keysets.fetchCount;
    const first = await Promise.all(Array.from({ length: 5 }, () => launch(platform, app)));
    expect(first.map((r) => r.response.status)).toEqual([303, 303, 303, 303, 303]);
    expect(platform.keysetFetches).toBe(1);
    for (let i = 0; i < 5; i++) expect((await launch(platform, app)).response.status).toBe(303);
    expect(platform.keysetFetches).toBe(1);
    expect(tool.app.keysets.fetchCount - toolFetchesBefore).toBe(1);
  });

  it('after the platform rotates its key, the next launch succeeds with exactly one extra fetch', async () => {
    const { platform, app } = await platformWithApp();
    expect((await launch(platform, app)).response.status).toBe(303);
    expect(platform.keysetFetches).toBe(1);
    const { oldKid, newKid } = await platform.rotateKey();
    expect(newKid).not.toBe(oldKid);
    const result = await launch(platform, app);
    expect(result.response.status).toBe(303);
    expect(decodeProtectedHeader(result.auth.idToken).kid).toBe(newKid);
    expect(platform.keysetFetches).toBe(2);
    // The new key is cached now.
    for (let i = 0; i < 3; i++) expect((await launch(platform, app)).response.status).toBe(303);
    expect(platform.keysetFetches).toBe(2);
  });

  it('an unknown kid makes one refetch; another within the cooldown makes none', async () => {
    const { platform, app } = await platformWithApp();
    expect((await launch(platform, app)).response.status).toBe(303);
    expect(platform.keysetFetches).toBe(1);
    const forged = await launch(platform, app, { overrides: { header: { kid: 'forged-1' } } });
    expect(await errorCode(forged.response)).toBe('ERR_LTI_UNKNOWN_KID');
    expect(platform.keysetFetches).toBe(2);
    const again = await launch(platform, app, { overrides: { header: { kid: 'forged-2' } } });
    expect(await errorCode(again.response)).toBe('ERR_LTI_UNKNOWN_KID');
    expect(platform.keysetFetches).toBe(2);
    // Known kids keep working from the cache.
    expect((await launch(platform, app)).response.status).toBe(303);
    expect(platform.keysetFetches).toBe(2);
  });
});

describe('claims', () => {
  it('stores name, given_name, family_name and email when sent', async () => {
    const row = await storedLaunch(
      await launch(openedx.platform, openedx.app, {
        overrides: {
          claims: { name: 'Ada Lovelace', given_name: 'Ada', family_name: 'Lovelace', email: 'ada@example.org' },
        },
      }),
    );
    expect(row).toMatchObject({ name: 'Ada Lovelace', givenName: 'Ada', familyName: 'Lovelace', email: 'ada@example.org' });
  });

  it('a minimal launch: no name/email, no context, no AGS, unknown roles', async () => {
    const roles = ['urn:example:role:Wizard', 'http://purl.imsglobal.org/vocab/lis/v2/membership#Whatever'];
    const row = await storedLaunch(
      await launch(openedx.platform, openedx.app, {
        overrides: {
          claims: {
            [LTI_CLAIM.roles]: roles,
            [LTI_CLAIM.context]: undefined,
            [LTI_CLAIM.toolPlatform]: undefined,
            [LTI_CLAIM.launchPresentation]: undefined,
            [AGS_ENDPOINT_CLAIM]: undefined,
          },
        },
      }),
    );
    expect(row).toMatchObject({
      name: null,
      givenName: null,
      familyName: null,
      email: null,
      roles,
      contextId: null,
      contextTitle: null,
      contextLabel: null,
      agsLineitem: null,
      agsLineitems: null,
      agsScopes: [],
    });
  });

  it('stores AGS URLs whole (a cut URL would name another line item), and cuts descriptive text at 1000 characters', async () => {
    const { platform, app } = openedx;
    const pad = (url: string, length: number) => `${url}${url.includes('?') ? '&' : '?'}pad=${'x'.repeat(length)}`.slice(0, length);
    const lineitem = pad(platform.lineitemUrl(), 1_500);
    const lineitems = pad(platform.lineitemsUrl, 1_200);
    expect(lineitem).toHaveLength(1_500);
    const scopes = ['https://purl.imsglobal.org/spec/lti-ags/scope/score'];
    const row = await storedLaunch(
      await launch(platform, app, {
        overrides: { claims: { [AGS_ENDPOINT_CLAIM]: { lineitem, lineitems, scope: scopes }, name: 'n'.repeat(1_500) } },
      }),
    );
    expect(row.agsLineitem).toBe(lineitem);
    expect(row.agsLineitems).toBe(lineitems);
    expect(row.agsScopes).toEqual(scopes);
    expect(row.name).toBe('n'.repeat(1_000));
  });

  it('an empty roles array succeeds', async () => {
    const row = await storedLaunch(await launch(openedx.platform, openedx.app, { overrides: { claims: { [LTI_CLAIM.roles]: [] } } }));
    expect(row.roles).toEqual([]);
  });

  it('nbf in the past and a token a few seconds from expiry succeed', async () => {
    await storedLaunch(
      await launch(openedx.platform, openedx.app, { overrides: { nbfOffsetSeconds: -30, iatOffsetSeconds: -3590 } }),
    );
  });
});

describe('one browser', () => {
  it('two logins in flight (two tabs, two state cookies) both launch, in either order', async () => {
    const { platform, app } = openedx;
    const jar = new CookieJar();
    const loginA = await initiateLogin(platform, app, jar, { sub: 'tab-a' });
    const loginB = await initiateLogin(platform, app, jar, { sub: 'tab-b' });
    expect(jar.cookies.size).toBe(2);
    const authA = await platform.authorize(loginA.location!);
    const authB = await platform.authorize(loginB.location!);

    const launchB = await postLaunch(authB.redirectUri, { id_token: authB.idToken, state: authB.state }, jar.header());
    jar.store(launchB);
    expect(launchB.status).toBe(303);
    expect(jar.cookies.size).toBe(1);
    const launchA = await postLaunch(authA.redirectUri, { id_token: authA.idToken, state: authA.state }, jar.header());
    jar.store(launchA);
    expect(launchA.status).toBe(303);
    expect(jar.cookies.size).toBe(0);

    const subjects = await db.prisma.launch.findMany({
      where: { appId: app.appId, subject: { in: ['tab-a', 'tab-b'] } },
      select: { subject: true },
    });
    expect(subjects.map((s) => s.subject).sort()).toEqual(['tab-a', 'tab-b']);
  });
});

describe('PUBLIC_URL with a path prefix (behind a proxy that keeps it)', () => {
  it('login, launch and JWKS all answer under the prefix', async () => {
    let handler: ((req: never, res: never) => void) | undefined;
    const server: Server = createServer((req, res) => void handler!(req as never, res as never));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const publicUrl = `http://localhost:${(server.address() as AddressInfo).port}/tools/lti`;
    // The test platform listens on loopback: allowed explicitly.
    const app = createApp(testConfig({ publicUrl, outboundAllowedNetworks: LOOPBACK_NETWORKS }), { db, logger: createSilentLogger() });
    handler = app.nodeHandler as never;
    try {
      await app.toolKeys.ensureKey();
      const platform = await startTestPlatform();
      platforms.push(platform);
      const registered = await publicAppFor(db, platform, publicUrl);
      expect(registered.urls.launchUrl).toBe(`${publicUrl}/lti/apps/${registered.appId}/launch`);

      const result = await launch(platform, registered);
      expect(result.login.response.headers.getSetCookie()[0]).toContain(`Path=/tools/lti/lti/apps/${registered.appId}/launch`);
      expect(result.response.status).toBe(303);
      expect(new URL(result.location!).origin).toBe('https://exercises.example.org');

      const jwks = await fetch(`${publicUrl}/lti/jwks`);
      expect(jwks.status).toBe(200);
      expect(((await jwks.json()) as { keys: unknown[] }).keys.length).toBeGreaterThan(0);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
