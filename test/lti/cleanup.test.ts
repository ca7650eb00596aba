/**
 * The housekeeping job. Logins keep no rows (the login is its sealed state cookie, its single
 * use the launch's unique nonce), so all there is to clean is the owner's audit trail of
 * refused launches: refusals older than the retention are deleted, in batches, younger ones
 * kept; nothing else is touched — least of all the launches whose nonces refuse replays. An
 * expired login needs no cleanup: its cookie says when it expires.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Database } from '../../server/db/client.ts';
import { uuidv7 } from '../../server/ids.ts';
import { CLEANUP_BATCH_SIZE, deleteOldRefusals, REFUSAL_RETENTION_MS } from '../../server/lti/cleanup.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { capturingLogger } from '../helpers/log-capture.ts';
import { CookieJar, errorCode, initiateLogin, launch, postLaunch, publicAppFor, type PublicApp } from '../helpers/lti-flow.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { startToolServer, type ToolServer } from '../helpers/tool-server.ts';
import { tableDigests } from '../helpers/table-digests.ts';

let db: Database;
let tool: ToolServer;
let openedx: TestPlatform;
let app: PublicApp;
let clockOffsetMs = 0;
let recorded: string[] | undefined;
const { logger, lines } = capturingLogger();

beforeAll(async () => {
  db = await createTestDatabase({ onQuery: (sql) => recorded?.push(sql) });
  tool = await startToolServer(db, { logger, now: () => new Date(Date.now() + clockOffsetMs) });
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
  recorded = undefined;
  vi.useRealTimers();
});

/** A refusal of the app stored at `createdAt`. */
async function refusalAt(createdAt: Date): Promise<string> {
  const id = uuidv7(createdAt.getTime());
  await db.prisma.launchRefusal.create({
    data: { id, appId: app.appId, route: 'LAUNCH', code: 'ERR_LTI_STATE_EXPIRED', reason: 'r', createdAt },
  });
  return id;
}

async function refusalIds(): Promise<string[]> {
  return (await db.prisma.launchRefusal.findMany({ select: { id: true } })).map((r) => r.id).sort();
}


describe('deleteOldRefusals', () => {
  it('deletes refusals older than the retention, keeps the others (the boundary included), and nothing else', async () => {
    // Launches and their nonces exist, old ones included: the cleanup must leave them all.
    expect((await launch(openedx, app)).response.status).toBe(303);
    await db.prisma.launchRefusal.deleteMany();
    const now = new Date('2031-01-01T12:00:00Z');
    const cutoff = now.getTime() - REFUSAL_RETENTION_MS;
    const at = (offsetMs: number) => new Date(cutoff + offsetMs);
    const old = [await refusalAt(at(-1)), await refusalAt(at(-3600_000)), await refusalAt(at(-400 * 24 * 3600_000))];
    const kept = [await refusalAt(at(0)), await refusalAt(at(1)), await refusalAt(at(REFUSAL_RETENTION_MS))];
    const others = await tableDigests(db.prisma, ['LaunchRefusal']);

    expect(await deleteOldRefusals(db.prisma, now)).toBe(3);
    expect(await refusalIds()).toEqual([...kept].sort());
    expect(await tableDigests(db.prisma, ['LaunchRefusal'])).toEqual(others);
    for (const id of old) expect(await db.prisma.launchRefusal.findUnique({ where: { id } })).toBeNull();

    // Idempotent; later, the rest go too; a shorter retention deletes more.
    expect(await deleteOldRefusals(db.prisma, now)).toBe(0);
    expect(await deleteOldRefusals(db.prisma, now, 1)).toBe(2);
    expect(await refusalIds()).toEqual([kept[2]!]);
    expect(await deleteOldRefusals(db.prisma, new Date(now.getTime() + REFUSAL_RETENTION_MS + 1))).toBe(1);
    expect(await db.prisma.launchRefusal.count()).toBe(0);
    expect(await tableDigests(db.prisma, ['LaunchRefusal'])).toEqual(others);
  });

  it('deletes in batches of the given size, one statement each, until a batch comes back short', async () => {
    expect(CLEANUP_BATCH_SIZE).toBeGreaterThan(1);
    await db.prisma.launchRefusal.deleteMany();
    const now = new Date('2031-01-01T12:00:00Z');
    const oldAt = new Date(now.getTime() - REFUSAL_RETENTION_MS - 60_000);
    for (let i = 0; i < 5; i++) await refusalAt(new Date(oldAt.getTime() - i));
    const young = await refusalAt(now);

    recorded = [];
    expect(await deleteOldRefusals(db.prisma, now, REFUSAL_RETENTION_MS, 2)).toBe(5);
    const deletes = recorded.filter((sql) => /DELETE FROM "LaunchRefusal"/.test(sql));
    recorded = undefined;
    // 2 + 2 + 1: the third batch is short, so it is the last.
    expect(deletes).toHaveLength(3);
    for (const sql of deletes) expect(sql).toMatch(/LIMIT .* FOR UPDATE SKIP LOCKED/s);
    expect(await refusalIds()).toEqual([young]);

    // A backlog that is an exact multiple of the batch: one more statement finds nothing and stops.
    for (let i = 0; i < 4; i++) await refusalAt(new Date(oldAt.getTime() - i));
    recorded = [];
    expect(await deleteOldRefusals(db.prisma, now, REFUSAL_RETENTION_MS, 2)).toBe(4);
    expect(recorded.filter((sql) => /DELETE FROM "LaunchRefusal"/.test(sql))).toHaveLength(3);
    recorded = undefined;
    expect(await refusalIds()).toEqual([young]);
  });
});

describe('the background job', () => {
  it('deletes old refusals within a minute and touches nothing else: a used login stays refused, an expired one is refused by its cookie', async () => {
    // A login that launched (its form and cookie kept), and one that has not launched yet.
    const used = await launch(openedx, app);
    expect(used.response.status).toBe(303);
    const usedCookie = used.login.response.headers.getSetCookie()[0]!.split(';')[0]!;
    const pendingJar = new CookieJar();
    const pendingLogin = await initiateLogin(openedx, app, pendingJar);
    const pending = await openedx.authorize(pendingLogin.location!, { expectedRedirectUri: app.urls.launchUrl });
    const old = await refusalAt(new Date(Date.now() - REFUSAL_RETENTION_MS - 60_000));
    const recent = await refusalAt(new Date());
    const others = await tableDigests(db.prisma, ['LaunchRefusal']);

    // Eleven minutes later (a login lives ten), the job runs.
    clockOffsetMs = 11 * 60_000;
    const logged = lines.length;
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
    vi.useRealTimers();
    expect(await db.prisma.launchRefusal.findUnique({ where: { id: recent } })).not.toBeNull();
    expect(await tableDigests(db.prisma, ['LaunchRefusal'])).toEqual(others);
    await vi.waitFor(() => {
      expect(lines.slice(logged)).toContainEqual(expect.objectContaining({ job: 'refusal-cleanup', msg: 'old launch refusals deleted' }));
    });

    // The login that expired meanwhile is refused, as expired: its cookie says so, no row is needed.
    const expired = await postLaunch(app.urls.launchUrl, { id_token: pending.idToken, state: pending.state }, pendingJar.header());
    expect(expired.status).toBe(400);
    expect(await errorCode(expired)).toBe('ERR_LTI_STATE_EXPIRED');

    // Back within the logins' ten minutes: the used login is still refused (its launch, the guard, was kept) …
    clockOffsetMs = 0;
    const replay = await postLaunch(app.urls.launchUrl, { id_token: used.auth.idToken, state: used.auth.state }, usedCookie);
    expect(replay.status).toBe(400);
    expect(await errorCode(replay)).toBe('ERR_LTI_NONCE_REUSED');
    expect(await db.prisma.launch.count({ where: { nonce: used.auth.nonce } })).toBe(1);
    // … and the other, which the job could not have touched, launches.
    const launched = await postLaunch(app.urls.launchUrl, { id_token: pending.idToken, state: pending.state }, pendingJar.header());
    expect(launched.status).toBe(303);
    expect(await db.prisma.launch.count({ where: { nonce: pending.nonce } })).toBe(1);
  });
});
