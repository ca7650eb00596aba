/**
 * A platform whose keyset is down or broken, over real HTTP: the learner gets 502
 * ERR_LTI_KEYSET_UNAVAILABLE (never a 400 that blames the token), the log has the reason,
 * nothing but the audit row is written — and the keyset is fetched at most once per launch,
 * and not at all while a recent failure is remembered. Fetches are counted at the tool's
 * outbound fetch; time is the tool's injected clock, moved by the test (never waited for).
 * The last block calls the handlers directly with the failure memory off, so that only the
 * launch itself can keep the full path from fetching again what the short road could not.
 */
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../server/db/client.ts';
import { LtiError } from '../../server/lti/errors.ts';
import type { LtiDeps } from '../../server/lti/deps.ts';
import { handleLaunch } from '../../server/lti/launch.ts';
import { handleLogin } from '../../server/lti/login.ts';
import { LoginStateKey } from '../../server/lti/login-state-key.ts';
import { PlatformKeysets } from '../../server/lti/platform-keysets.ts';
import { RegistrationCache } from '../../server/lti/registration-cache.ts';
import { createLogger, createSilentLogger } from '../../server/logger.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { CookieJar, errorCode, initiateLogin, postLaunch, publicAppFor, type PublicApp } from '../helpers/lti-flow.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { startToolServer, type ToolServer } from '../helpers/tool-server.ts';
import { tableDigests } from '../helpers/table-digests.ts';

/** Keysets served by the tool's (stubbed) outbound fetch, by URL. */
const KEYS_ORIGIN = 'https://keys.example.test';
const served = new Map<string, () => Response>();
/** Keyset fetches by URL. */
const fetches = new Map<string, number>();
let clockOffsetMs = 0;
const lines: Array<Record<string, unknown>> = [];

let db: Database;
let tool: ToolServer;
const platforms: TestPlatform[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  tool = await startToolServer(db, {
    now: () => new Date(Date.now() + clockOffsetMs),
    logger: createLogger('debug', { write: (text: string) => lines.push(JSON.parse(text) as Record<string, unknown>) } as never),
    fetch: async (url, init) => {
      if (!url.startsWith(`${KEYS_ORIGIN}/`)) return globalThis.fetch(url, init);
      fetches.set(url, (fetches.get(url) ?? 0) + 1);
      const serve = served.get(url);
      return serve ? serve() : new Response('not found', { status: 404 });
    },
  });
});
afterAll(async () => {
  await Promise.all(platforms.map((p) => p.close()));
  await tool?.close();
  await db?.close();
});

let counter = 0;
/**
 * A new platform (its own issuer and client id) with a public app whose registration's
 * keyset URL is a fresh one on KEYS_ORIGIN, answered by `serve(platform)`.
 */
async function appWithKeyset(serve: (platform: TestPlatform) => Response): Promise<{ platform: TestPlatform; app: PublicApp; keysetUrl: string }> {
  const platform = await startTestPlatform();
  platforms.push(platform);
  const keysetUrl = `${KEYS_ORIGIN}/keyset/${++counter}`;
  served.set(keysetUrl, () => serve(platform));
  const app = await publicAppFor(db, platform, tool.baseUrl);
  await db.prisma.ltiRegistration.update({ where: { id: app.registrationId }, data: { keysetUrl } });
  return { platform, app, keysetUrl };
}

/** Login (which caches the registration in this process: the launch takes the short road) and the platform's form. */
async function loggedIn(platform: TestPlatform, app: PublicApp) {
  const jar = new CookieJar();
  const login = await initiateLogin(platform, app, jar);
  expect(login.response.status).toBe(302);
  const auth = await platform.authorize(login.location!, { expectedRedirectUri: app.urls.launchUrl });
  return { jar, auth };
}


/** The launches, this app's keyset refusals, and every other table's rows. */
async function counts(appId: string) {
  return {
    launches: await db.prisma.launch.count(),
    refusals: await db.prisma.launchRefusal.count({ where: { appId, code: 'ERR_LTI_KEYSET_UNAVAILABLE' } }),
    otherTables: await tableDigests(db.prisma, ['LaunchRefusal']),
  };
}

/** Launches and expects 502 ERR_LTI_KEYSET_UNAVAILABLE, nothing written but one audit row; returns the log's reason. */
async function expectKeysetUnavailable({ platform, app }: { platform: TestPlatform; app: PublicApp }): Promise<string> {
  const { jar, auth } = await loggedIn(platform, app);
  const before = await counts(app.appId);
  const logged = lines.length;
  const response = await postLaunch(app.urls.launchUrl, { id_token: auth.idToken, state: auth.state }, jar.header());
  expect(response.status).toBe(502);
  const page = await response.clone().text();
  expect(await errorCode(response)).toBe('ERR_LTI_KEYSET_UNAVAILABLE');
  expect(page).not.toContain(KEYS_ORIGIN);
  expect(await counts(app.appId)).toEqual({ ...before, refusals: before.refusals + 1 });
  // The login is not used up: no launch carries its nonce.
  expect(await db.prisma.launch.count({ where: { nonce: auth.nonce } })).toBe(0);
  // The log says why, and quotes nothing of the token.
  const logText = JSON.stringify(lines.slice(logged));
  for (const part of auth.idToken.split('.')) expect(logText).not.toContain(part);
  const refused = lines.slice(logged).filter((l) => l.msg === 'lti request refused');
  expect(refused).toHaveLength(1);
  expect(refused[0]).toMatchObject({ code: 'ERR_LTI_KEYSET_UNAVAILABLE', appId: app.appId, registrationId: app.registrationId });
  return refused[0]!.reason as string;
}

describe('a broken platform keyset is the keyset’s fault: 502, not the token’s 400', () => {
  it('{"keys":[null]} → ERR_LTI_KEYSET_UNAVAILABLE, the reason logged', async () => {
    const target = await appWithKeyset(() => Response.json({ keys: [null] }));
    const reason = await expectKeysetUnavailable(target);
    expect(reason).toContain(target.keysetUrl);
    expect(reason).toContain('keys[0] is not a JSON object');
  });

  it('two keys with the kid of the token → ERR_LTI_KEYSET_UNAVAILABLE', async () => {
    const target = await appWithKeyset((platform) => {
      const [key] = platform.publicJwks().keys;
      return Response.json({ keys: [key, { ...key }] });
    });
    expect(await expectKeysetUnavailable(target)).toContain(`several keys match kid "${target.platform.kid}" for RS256`);
  });

  it('an RSA key under 2048 bits under the kid of the token → ERR_LTI_KEYSET_UNAVAILABLE', async () => {
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' });
    const target = await appWithKeyset((platform) => Response.json({ keys: [{ ...weak, kid: platform.kid }] }));
    expect(await expectKeysetUnavailable(target)).toContain('RSA of 1024 bits');
  });

  it('a key that cannot be imported under the kid of the token → ERR_LTI_KEYSET_UNAVAILABLE', async () => {
    const target = await appWithKeyset((platform) => Response.json({ keys: [{ kty: 'RSA', e: 'AQAB', kid: platform.kid }] }));
    expect(await expectKeysetUnavailable(target)).toContain('cannot be imported');
  });
});

describe('keyset fetches while the keyset is down', () => {
  it('one fetch per launch', async () => {
    const target = await appWithKeyset(() => new Response('down', { status: 503 }));
    expect(await expectKeysetUnavailable(target)).toContain('HTTP 503');
    expect(fetches.get(target.keysetUrl)).toBe(1);
  });

  it('no fetch within the failure memory (5 s on the tool clock), one after it', async () => {
    const target = await appWithKeyset(() => new Response('down', { status: 503 }));
    await expectKeysetUnavailable(target);
    expect(fetches.get(target.keysetUrl)).toBe(1);
    clockOffsetMs += 4_000;
    expect(await expectKeysetUnavailable(target)).toContain('not fetched again');
    await expectKeysetUnavailable(target);
    expect(fetches.get(target.keysetUrl)).toBe(1);
    clockOffsetMs += 1_000;
    await expectKeysetUnavailable(target);
    expect(fetches.get(target.keysetUrl)).toBe(2);
  });

  it('a malformed keyset is remembered too: the next launch does not refetch it', async () => {
    const target = await appWithKeyset(() => Response.json({ keys: [null] }));
    await expectKeysetUnavailable(target);
    await expectKeysetUnavailable(target);
    expect(fetches.get(target.keysetUrl)).toBe(1);
  });

  it('a keyset URL changed between login and launch is fetched although the old one just failed', async () => {
    const { platform, app, keysetUrl: down } = await appWithKeyset(() => new Response('down', { status: 503 }));
    const fixed = `${KEYS_ORIGIN}/keyset/fixed-${++counter}`;
    served.set(fixed, () => Response.json(platform.publicJwks()));
    const { jar, auth } = await loggedIn(platform, app);
    await db.prisma.ltiRegistration.update({ where: { id: app.registrationId }, data: { keysetUrl: fixed } });
    const response = await postLaunch(app.urls.launchUrl, { id_token: auth.idToken, state: auth.state }, jar.header());
    expect(response.status).toBe(303);
    // The short road (registration as cached at login) tried the old URL; the full path the new one.
    expect(fetches.get(down)).toBe(1);
    expect(fetches.get(fixed)).toBe(1);
  });
});

/**
 * The launch itself, without the failure memory that would hide a second fetch: the handlers
 * called directly with a PlatformKeysets that remembers nothing (failureMemoryMs 0).
 */
describe('within one launch, a keyset that failed is not fetched again (failure memory off)', () => {
  const publicUrl = 'https://tool.example.test';
  let keysetFetches = 0;
  let deps: LtiDeps;

  beforeAll(() => {
    const logger = createSilentLogger();
    const now = () => new Date();
    deps = {
      prisma: db.prisma,
      sql: db.sql,
      publicUrl,
      now,
      logger,
      requestLogger: logger,
      keysets: new PlatformKeysets({
        fetch: async () => {
          keysetFetches++;
          return new Response('down', { status: 503 });
        },
        logger,
        failureMemoryMs: 0,
      }),
      registrations: new RegistrationCache({ ttlMs: 60_000, maxEntries: 100 }, () => now().getTime()),
      loginStateKey: new LoginStateKey(db.prisma),
      loginStateTtlMs: 600_000,
      launchCredentialTtlMs: 3_600_000,
      clockToleranceSeconds: 5,
    };
  });

  /** Login through handleLogin (caching the registration, as a served login does), then the platform's form. */
  async function launchForm(platform: TestPlatform, app: PublicApp): Promise<Request> {
    const init = platform.loginInitiation(app.urls.loginUrl, { targetLinkUri: app.urls.launchUrl });
    const login = await handleLogin(new Request(init.url), app.appId, deps);
    expect(login.status).toBe(302);
    const auth = await platform.authorize(login.headers.get('location')!, { expectedRedirectUri: app.urls.launchUrl });
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    return new Request(app.urls.launchUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
      body: new URLSearchParams({ id_token: auth.idToken, state: auth.state }),
    });
  }

  async function refusalOf(request: Request, appId: string): Promise<LtiError> {
    try {
      await handleLaunch(request, appId, deps);
    } catch (err) {
      return err as LtiError;
    }
    throw new Error('expected a refusal');
  }

  it('the short road fails to fetch; the full path, same keyset URL, refuses without a second fetch', async () => {
    const platform = await startTestPlatform();
    platforms.push(platform);
    const app = await publicAppFor(db, platform, publicUrl);
    const request = await launchForm(platform, app);
    const launchesBefore = await db.prisma.launch.count();
    keysetFetches = 0;
    const err = await refusalOf(request, app.appId);
    expect(err).toBeInstanceOf(LtiError);
    expect(err.code).toBe('ERR_LTI_KEYSET_UNAVAILABLE');
    expect(err.context).toMatchObject({ appId: app.appId, registrationId: app.registrationId });
    expect(keysetFetches).toBe(1);
    expect(await db.prisma.launch.count()).toBe(launchesBefore);
  });
});
