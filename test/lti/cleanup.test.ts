/**
 * Expired logins are deleted (used or not), live ones are kept; the background job does it
 * every minute, and a launch that finishes a cleaned-up login is refused.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Database } from '../../server/db/client.ts';
import { deleteExpiredLoginStates } from '../../server/lti/cleanup.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { CookieJar, errorCode, initiateLogin, postLaunch, publicAppFor, type PublicApp } from '../helpers/lti-flow.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { startToolServer, type ToolServer } from '../helpers/tool-server.ts';

let db: Database;
let tool: ToolServer;
let openedx: TestPlatform;
let app: PublicApp;
let clockOffsetMs = 0;

beforeAll(async () => {
  db = await createTestDatabase();
  tool = await startToolServer(db, { now: () => new Date(Date.now() + clockOffsetMs) });
  openedx = await startTestPlatform();
  app = await publicAppFor(db, openedx, tool.baseUrl);
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

async function loginRow(expiresAt: Date, usedAt: Date | null): Promise<string> {
  const state = randomBytes(32).toString('base64url');
  await db.prisma.loginState.create({
    data: {
      state,
      nonce: randomBytes(32).toString('base64url'),
      appId: app.appId,
      registrationId: app.registrationId,
      createdAt: new Date(expiresAt.getTime() - 600_000),
      expiresAt,
      usedAt,
    },
  });
  return state;
}

describe('deleteExpiredLoginStates', () => {
  it('deletes expired logins, used or not, and keeps live ones, used or not', async () => {
    await db.prisma.loginState.deleteMany();
    const now = new Date('2031-01-01T12:00:00Z');
    const minutes = (n: number) => new Date(now.getTime() + n * 60_000);
    const expiredUnused = await loginRow(minutes(-1), null);
    const expiredUsed = await loginRow(minutes(-30), minutes(-35));
    const liveUnused = await loginRow(minutes(5), null);
    const liveUsed = await loginRow(minutes(1), minutes(-2));

    expect(await deleteExpiredLoginStates(db.prisma, now)).toBe(2);
    const left = (await db.prisma.loginState.findMany({ select: { state: true } })).map((r) => r.state).sort();
    expect(left).toEqual([liveUnused, liveUsed].sort());
    expect(left).not.toContain(expiredUnused);
    expect(left).not.toContain(expiredUsed);

    // Idempotent; later, the rest expire too.
    expect(await deleteExpiredLoginStates(db.prisma, now)).toBe(0);
    expect(await deleteExpiredLoginStates(db.prisma, minutes(10))).toBe(2);
    expect(await db.prisma.loginState.count()).toBe(0);
  });
});

describe('the background job', () => {
  it('deletes an expired real login within a minute; its launch is then refused as unknown', async () => {
    const jar = new CookieJar();
    const login = await initiateLogin(openedx, app, jar);
    expect(login.response.status).toBe(302);
    const auth = await openedx.authorize(login.location!, { expectedRedirectUri: app.urls.launchUrl });
    const live = await loginRow(new Date(Date.now() + 3600_000), null);

    // Eleven minutes later (the login lives ten), the cleanup runs.
    clockOffsetMs = 11 * 60_000;
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const stop = tool.app.startBackgroundJobs();
    try {
      vi.advanceTimersByTime(60_000);
      await vi.waitFor(async () => {
        expect(await db.prisma.loginState.findUnique({ where: { state: auth.state } })).toBeNull();
      });
    } finally {
      await stop();
    }
    expect(await db.prisma.loginState.findUnique({ where: { state: live } })).not.toBeNull();

    const response = await postLaunch(auth.redirectUri, { id_token: auth.idToken, state: auth.state }, jar.header());
    expect(response.status).toBe(400);
    expect(await errorCode(response)).toBe('ERR_LTI_STATE_UNKNOWN');
  });
});
