/**
 * The owner's audit trail of refused logins and launches (App.launchRefusals): a refused
 * request for an existing app is stored with its code and time and shown to that app's
 * owner only; unknown app ids write nothing; a burst is capped per app and code; old rows
 * are deleted; a failing audit write never changes the learner's error page.
 */
import { randomUUID } from 'node:crypto';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Database } from '../../server/db/client.ts';
import { randomToken, uuidv7 } from '../../server/ids.ts';
import { createLogger, createSilentLogger } from '../../server/logger.ts';
import { Metrics } from '../../server/metrics.ts';
import { deleteOldRefusals, REFUSAL_RETENTION_MS } from '../../server/lti/cleanup.ts';
import { LTI_ERRORS } from '../../server/lti/errors.ts';
import { RefusalAudit, RefusalThrottle } from '../../server/lti/refusal-audit.ts';
import { ltiToolUrls } from '../../server/lti/tool-urls.ts';
import { AppLaunchRefusalsDocument, LaunchRefusalNodeDocument } from '../generated/graphql.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { CookieJar, errorCode, initiateLogin, launch, postLaunch, publicAppFor, type PublicApp } from '../helpers/lti-flow.ts';
import { parseExposition } from '../helpers/metrics.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { createOwner, graphqlClient, type GraphQLClient } from '../helpers/server.ts';
import { startToolServer, type ToolServer } from '../helpers/tool-server.ts';

let db: Database;
let tool: ToolServer;
let openedx: TestPlatform;
let app: PublicApp;
let appGid: string;
let owner: GraphQLClient;
let stranger: GraphQLClient;
let aliceId: string;
let recorded: string[] | undefined;
/** The tool's clock runs this far ahead of real time. */
let clockOffsetMs = 0;

beforeAll(async () => {
  db = await createTestDatabase({ onQuery: (sql) => recorded?.push(sql) });
  tool = await startToolServer(db, { now: () => new Date(Date.now() + clockOffsetMs) });
  openedx = await startTestPlatform();
  const alice = await createOwner(db, 'Alice');
  aliceId = alice.ownerId;
  owner = graphqlClient(tool.app, alice.token);
  stranger = graphqlClient(tool.app, (await createOwner(db, 'Bob')).token);
  app = await publicAppFor(db, openedx, tool.baseUrl, { ownerId: alice.ownerId });
  appGid = encodeGlobalID('App', app.appId);
});
afterAll(async () => {
  await openedx?.close();
  await tool?.close();
  await db?.close();
});
afterEach(() => {
  clockOffsetMs = 0;
  vi.useRealTimers();
});

async function refusals(client = owner, first = 50) {
  const { app: found } = await client.run(AppLaunchRefusalsDocument, { id: appGid, first });
  return found?.launchRefusals.edges.map((e) => e.node);
}

/** A launch post with a well-formed state but no cookie for it: refused before any lookup. */
function launchWithoutCookie(launchUrl = app.urls.launchUrl) {
  return postLaunch(launchUrl, { id_token: 'x.y.z', state: randomToken() }, '');
}

describe('what the owner sees', () => {
  it('a launch without the state cookie: its code, route and time', async () => {
    const before = Date.now();
    const jar = new CookieJar();
    const login = await initiateLogin(openedx, app, jar);
    const auth = await openedx.authorize(login.location!, { expectedRedirectUri: app.urls.launchUrl });
    const response = await postLaunch(auth.redirectUri, { id_token: auth.idToken, state: auth.state }, '');
    expect(await errorCode(response)).toBe('ERR_LTI_STATE_COOKIE_MISSING');

    const [newest] = (await refusals())!;
    expect(newest).toMatchObject({
      route: 'LAUNCH',
      code: 'ERR_LTI_STATE_COOKIE_MISSING',
      reason: LTI_ERRORS.ERR_LTI_STATE_COOKIE_MISSING[1],
      app: { id: appGid },
      // Refused before the login was looked up: no registration to tie it to.
      registration: null,
    });
    const at = Date.parse(newest!.createdAt);
    expect(at).toBeGreaterThanOrEqual(before - 5);
    expect(at).toBeLessThanOrEqual(Date.now() + 5);
  });

  it('a bad signature, tied to the registration the login was for', async () => {
    const result = await launch(openedx, app, { overrides: { signWith: 'foreign-key' } });
    expect(await errorCode(result.response)).toBe('ERR_LTI_BAD_SIGNATURE');
    const [newest] = (await refusals())!;
    expect(newest).toMatchObject({
      route: 'LAUNCH',
      code: 'ERR_LTI_BAD_SIGNATURE',
      registration: { id: encodeGlobalID('LtiRegistration', app.registrationId) },
    });
  });

  it('an expired token', async () => {
    const result = await launch(openedx, app, { overrides: { iatOffsetSeconds: -7200 } });
    expect(await errorCode(result.response)).toBe('ERR_LTI_TOKEN_EXPIRED');
    expect((await refusals())![0]).toMatchObject({ route: 'LAUNCH', code: 'ERR_LTI_TOKEN_EXPIRED', reason: LTI_ERRORS.ERR_LTI_TOKEN_EXPIRED[1] });
  });

  it('a refused login (unknown deployment)', async () => {
    const init = new URL(openedx.loginInitiation(app.urls.loginUrl, { targetLinkUri: app.urls.launchUrl }).url);
    init.searchParams.set('lti_deployment_id', 'no-such-deployment');
    const response = await fetch(init, { redirect: 'manual' });
    expect(await errorCode(response)).toBe('ERR_LTI_UNKNOWN_DEPLOYMENT');
    expect((await refusals())![0]).toMatchObject({
      route: 'LOGIN',
      code: 'ERR_LTI_UNKNOWN_DEPLOYMENT',
      registration: { id: encodeGlobalID('LtiRegistration', app.registrationId) },
    });
  });

  it('stores no part of the token and no claim value, only the sentence for the code', async () => {
    const result = await launch(openedx, app, { overrides: { claims: { aud: 'attacker-chosen-audience-value' } } });
    expect(await errorCode(result.response)).toBe('ERR_LTI_AUDIENCE');
    const rows = await db.prisma.launchRefusal.findMany({ where: { appId: app.appId } });
    // The checks below would pass on a row that was never written: it must be there, once.
    const audience = rows.filter((row) => row.code === 'ERR_LTI_AUDIENCE');
    expect(audience).toHaveLength(1);
    const [row] = audience;
    expect(row).toMatchObject({ route: 'LAUNCH', registrationId: app.registrationId, reason: LTI_ERRORS.ERR_LTI_AUDIENCE[1] });
    // That row, then every row of the app: no token part, claim value or state.
    for (const stored of [JSON.stringify(row), JSON.stringify(rows)]) {
      expect(stored).not.toContain('attacker-chosen-audience-value');
      for (const part of result.auth.idToken.split('.')) expect(stored).not.toContain(part);
      expect(stored).not.toContain(result.auth.state);
    }
    for (const each of rows) expect(each.reason).toBe(LTI_ERRORS[each.code as keyof typeof LTI_ERRORS][1]);
  });

  it('lists newest first and pages', async () => {
    const all = (await refusals())!;
    expect(all.length).toBeGreaterThanOrEqual(5);
    const times = all.map((n) => Date.parse(n.createdAt));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    const first = await owner.run(AppLaunchRefusalsDocument, { id: appGid, first: 2 });
    const page = first.app!.launchRefusals;
    expect(page.edges.map((e) => e.node.id)).toEqual(all.slice(0, 2).map((n) => n.id));
    expect(page.pageInfo.hasNextPage).toBe(true);
    const second = await owner.run(AppLaunchRefusalsDocument, { id: appGid, first: 2, after: page.pageInfo.endCursor });
    expect(second.app!.launchRefusals.edges.map((e) => e.node.id)).toEqual(all.slice(2, 4).map((n) => n.id));
  });

  it('is invisible to another owner, by app and by node id', async () => {
    const [newest] = (await refusals())!;
    expect(await refusals(stranger)).toBeUndefined();
    expect((await stranger.run(LaunchRefusalNodeDocument, { id: newest!.id })).node).toBeNull();
    expect((await owner.run(LaunchRefusalNodeDocument, { id: newest!.id })).node).toMatchObject({
      __typename: 'LaunchRefusal',
      id: newest!.id,
      code: newest!.code,
    });
  });
});

describe('what is written', () => {
  it('a successful launch runs no audit statement', async () => {
    recorded = [];
    try {
      expect((await launch(openedx, app)).response.status).toBe(303);
      await new Promise((resolve) => setImmediate(resolve));
      expect(recorded.length).toBeGreaterThan(0);
      expect(recorded.filter((sql) => /LaunchRefusal/.test(sql))).toEqual([]);
    } finally {
      recorded = undefined;
    }
  });

  it('requests for unknown app ids store nothing, whatever the check that refuses them', async () => {
    const before = await db.prisma.launchRefusal.count();
    const failedWrites = async () => parseExposition(await tool.app.metrics.render()).value('lti_launch_refusals_dropped_total', { reason: 'error' });
    const failedBefore = await failedWrites();
    const ghost = randomUUID();
    const urls = { launchUrl: `${tool.baseUrl}/lti/apps/${ghost}/launch`, loginUrl: `${tool.baseUrl}/lti/apps/${ghost}/login` };
    // Login: the app lookup refuses it.
    const login = new URL(openedx.loginInitiation(urls.loginUrl, { targetLinkUri: urls.launchUrl }).url);
    expect(await errorCode(await fetch(login, { redirect: 'manual' }))).toBe('ERR_LTI_UNKNOWN_APP');
    // Launch: refused by checks that run before any app lookup.
    expect(await errorCode(await launchWithoutCookie(urls.launchUrl))).toBe('ERR_LTI_STATE_COOKIE_MISSING');
    expect(await errorCode(await fetch(urls.launchUrl, { redirect: 'manual' }))).toBe('ERR_LTI_METHOD');
    // A real login of our app finished at the unknown app's URL: its cookie is sealed for our app.
    const jar = new CookieJar();
    const started = await initiateLogin(openedx, app, jar);
    const auth = await openedx.authorize(started.location!, { expectedRedirectUri: app.urls.launchUrl });
    const misdirected = await postLaunch(urls.launchUrl, { id_token: auth.idToken, state: auth.state }, jar.header());
    expect(await errorCode(misdirected)).toBe('ERR_LTI_STATE_MISMATCH');

    expect(await db.prisma.launchRefusal.count()).toBe(before);
    // Not by a write the foreign key refused: no attempt failed.
    expect(await failedWrites()).toBe(failedBefore);
  });

  it('a failing audit write still answers with the error page, and is counted', async () => {
    const own = await createTestDatabase();
    const server = await startToolServer(own);
    try {
      const ownApp = await publicAppFor(own, openedx, server.baseUrl);
      openedx.setToolLaunchUrl(app.urls.launchUrl);
      await own.prisma.$executeRawUnsafe('DROP TABLE "LaunchRefusal"');
      const response = await launchWithoutCookie(ownApp.urls.launchUrl);
      expect(response.status).toBe(400);
      expect(await errorCode(response)).toBe('ERR_LTI_STATE_COOKIE_MISSING');
      const metrics = parseExposition(await server.app.metrics.render());
      expect(metrics.value('lti_launch_refusals_dropped_total', { reason: 'error' })).toBe(1);
      expect(metrics.value('lti_launches_total', { outcome: 'refused', code: 'ERR_LTI_STATE_COOKIE_MISSING' })).toBe(1);
    } finally {
      await server.close();
      await own.close();
    }
  });
});

describe('throttling', () => {
  it('stores at most N refusals per app and code per minute; drops are counted', async () => {
    const limited = await startToolServer(db, {
      now: () => new Date(Date.now() + clockOffsetMs),
      refusalAuditLimits: { perAppAndCode: 2 },
    });
    try {
      // No registration needed: these launches are refused before any lookup.
      const created = await db.prisma.app.create({ data: { ownerId: aliceId, name: 'Burst', exerciseUrl: app.exerciseUrl, isPublic: true } });
      const ownApp = { appId: created.id, urls: ltiToolUrls(limited.baseUrl, created.id) };
      const count = (code: string) => db.prisma.launchRefusal.count({ where: { appId: ownApp.appId, code } });
      for (let i = 0; i < 5; i++) expect((await launchWithoutCookie(ownApp.urls.launchUrl)).status).toBe(400);
      expect(await count('ERR_LTI_STATE_COOKIE_MISSING')).toBe(2);
      const metrics = parseExposition(await limited.app.metrics.render());
      expect(metrics.value('lti_launch_refusals_dropped_total', { reason: 'throttled' })).toBe(3);
      // Every refusal is still counted by code.
      expect(metrics.value('lti_launches_total', { outcome: 'refused', code: 'ERR_LTI_STATE_COOKIE_MISSING' })).toBe(5);

      // Another code has its own allowance.
      const malformed = await postLaunch(ownApp.urls.launchUrl, { state: 'short' }, '');
      expect(await errorCode(malformed)).toBe('ERR_LTI_BAD_REQUEST');
      expect(await count('ERR_LTI_BAD_REQUEST')).toBe(1);

      // The next minute, again.
      clockOffsetMs = 60_000;
      await launchWithoutCookie(ownApp.urls.launchUrl);
      expect(await count('ERR_LTI_STATE_COOKIE_MISSING')).toBe(3);
    } finally {
      await limited.close();
    }
  });

  it('tracks a bounded number of (app, code) pairs per window', () => {
    const throttle = new RefusalThrottle({ perAppAndCode: 2, maxKeys: 3, windowMs: 60_000 });
    const t = 1_000_000 * 60_000;
    expect(['a', 'b', 'c'].map((id) => throttle.admit(id, 'X', t))).toEqual([true, true, true]);
    // A fourth pair is refused (a flood of invented app ids cannot grow the map)…
    expect(throttle.admit('d', 'X', t + 1)).toBe(false);
    // …while the known pairs keep their allowance, up to the limit.
    expect(throttle.admit('a', 'X', t + 2)).toBe(true);
    expect(throttle.admit('a', 'X', t + 3)).toBe(false);
    // A new window starts afresh.
    expect(throttle.admit('d', 'X', t + 60_000)).toBe(true);
    expect(throttle.admit('a', 'X', t + 60_000)).toBe(true);
  });

  it('logs a failed write with the refused request’s logger (its reqId), which may outlive the response', async () => {
    const prisma = { $executeRaw: () => Promise.reject(new Error('database down')) } as unknown as Database['prisma'];
    const audit = new RefusalAudit({ prisma, now: () => new Date(), metrics: new Metrics() });
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger('debug', { write: (text: string) => lines.push(JSON.parse(text) as Record<string, unknown>) } as never);
    const id = await audit.record('launch', randomUUID(), 'ERR_LTI_STATE_EXPIRED', undefined, logger.child({ reqId: 'req-00000001' }));
    expect(id).toBeUndefined();
    expect(lines).toEqual([expect.objectContaining({ msg: 'launch refusal not recorded', reqId: 'req-00000001', component: 'refusal-audit' })]);
  });

  it('does not even count unknown-app refusals', async () => {
    const metrics = new Metrics();
    const prisma = {
      $executeRaw: () => {
        throw new Error('must not be called');
      },
    } as unknown as Database['prisma'];
    const audit = new RefusalAudit({ prisma, now: () => new Date(), metrics, limits: { perAppAndCode: 0 } });
    expect(await audit.record('login', randomUUID(), 'ERR_LTI_UNKNOWN_APP', undefined, createSilentLogger())).toBeUndefined();
    expect(parseExposition(await metrics.render()).value('lti_launch_refusals_dropped_total')).toBe(0);
  });
});

describe('retention', () => {
  async function refusalAt(createdAt: Date): Promise<string> {
    const id = uuidv7(createdAt.getTime());
    await db.prisma.launchRefusal.create({
      data: { id, appId: app.appId, route: 'LAUNCH', code: 'ERR_LTI_STATE_EXPIRED', reason: 'r', createdAt },
    });
    return id;
  }

  it('deletes refusals older than 30 days and keeps younger ones', async () => {
    const now = new Date('2031-06-01T00:00:00Z');
    const old = await refusalAt(new Date(now.getTime() - REFUSAL_RETENTION_MS - 1000));
    const young = await refusalAt(new Date(now.getTime() - REFUSAL_RETENTION_MS + 60_000));
    expect(await deleteOldRefusals(db.prisma, now)).toBeGreaterThanOrEqual(1);
    expect(await db.prisma.launchRefusal.findUnique({ where: { id: old } })).toBeNull();
    expect(await db.prisma.launchRefusal.findUnique({ where: { id: young } })).not.toBeNull();
    await db.prisma.launchRefusal.delete({ where: { id: young } });
  });

  it('the background cleanup job runs it', async () => {
    const old = await refusalAt(new Date(Date.now() - REFUSAL_RETENTION_MS - 60_000));
    const recent = await refusalAt(new Date());
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const stop = tool.app.startBackgroundJobs();
    try {
      vi.advanceTimersByTime(60_000);
      await vi.waitFor(async () => {
        expect(await db.prisma.launchRefusal.findUnique({ where: { id: old } })).toBeNull();
      });
    } finally {
      await stop();
    }
    expect(await db.prisma.launchRefusal.findUnique({ where: { id: recent } })).not.toBeNull();
  });
});
