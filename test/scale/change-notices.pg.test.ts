/**
 * Change notices between processes on one PostgreSQL (server/db/change-notices.ts): an owner's
 * change made through one process reaches the logins of another at once, instead of when that
 * process's cached registration expires (a minute). Two apps in this test process stand for two
 * server processes: each has its own database connections and its own registration cache.
 * Runs in the PostgreSQL pass only (`*.pg.test.ts`).
 */
import { encodeGlobalID } from '@pothos/plugin-relay';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgChangeNotices } from '../../server/db/change-notices.ts';
import { openDatabase, type Database } from '../../server/db/client.ts';
import { ltiToolUrls } from '../../server/lti/tool-urls.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { CookieJar, initiateLogin, publicAppFor, type PublicApp } from '../helpers/lti-flow.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { createOwner } from '../helpers/server.ts';
import { createTestLogger } from '../helpers/test-logger.ts';
import { startToolServer, type ToolServer } from '../helpers/tool-server.ts';

let db: Database;
let otherDb: Database;
let platform: TestPlatform;
let a: ToolServer;
let b: ToolServer;
let stopListening: () => Promise<void>;
let token: string;
let app: PublicApp;
/** The app's URLs on process B (its own base URL). */
let onB: PublicApp;

beforeAll(async () => {
  db = await createTestDatabase();
  otherDb = await openDatabase({ url: db.url!, poolMax: 2 });
  platform = await startTestPlatform();
  a = await startToolServer(db);
  b = await startToolServer(otherDb);
  stopListening = await b.app.listenForChanges();
  const owner = await createOwner(db);
  token = owner.token;
  app = await publicAppFor(db, platform, a.baseUrl, { ownerId: owner.ownerId });
  onB = { ...app, urls: ltiToolUrls(b.baseUrl, app.appId) };
});
afterAll(async () => {
  await stopListening?.();
  await a?.close();
  await b?.close();
  await platform?.close();
  await otherDb?.close();
  await db?.close();
});

/** Where a login on `target` sends the browser (the registration's Auth Login URL, with the request). */
async function loginGoesTo(target: PublicApp): Promise<string> {
  const { response, location } = await initiateLogin(platform, target, new CookieJar());
  expect(response.status).toBe(302);
  return location!.split('?')[0]!;
}

/** Changes the registration's Auth Login URL through process A's GraphQL API. */
async function moveAuthLoginUrlOnA(to: string): Promise<void> {
  const response = await fetch(`${a.baseUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({
      query: 'mutation($input: UpdateLtiRegistrationInput!) { updateLtiRegistration(input: $input) { __typename } }',
      variables: { input: { id: encodeGlobalID('LtiRegistration', app.registrationId), authLoginUrl: to } },
    }),
  });
  expect(await response.json()).toEqual({ data: { updateLtiRegistration: { __typename: 'LtiRegistrationPayload' } } });
}

describe('change notices between processes', () => {
  it("an Auth Login URL changed through one process is used by another's next logins, not a minute later", async () => {
    const original = platform.registration().authLoginUrl;
    // B reads and caches the registration; A has not seen it yet.
    expect(await loginGoesTo(onB)).toBe(original);
    const moved = new URL('/moved/auth', original).toString();
    await moveAuthLoginUrlOnA(moved);
    // The cache's entries live 60 s: 5 s tells the notice from the expiry.
    await expect.poll(() => loginGoesTo(onB), { timeout: 5_000, interval: 25 }).toBe(moved);
    expect(await loginGoesTo(app)).toBe(moved);
  });

  it('a process that does not listen keeps its cached registration (what the notice clears)', async () => {
    const deaf = await startToolServer(otherDb);
    try {
      const onDeaf = { ...app, urls: ltiToolUrls(deaf.baseUrl, app.appId) };
      const before = await loginGoesTo(onDeaf);
      const moved = new URL('/moved/again', before).toString();
      await moveAuthLoginUrlOnA(moved);
      await expect.poll(() => loginGoesTo(onB), { timeout: 5_000, interval: 25 }).toBe(moved);
      // B heard it; the process that does not listen still sends learners to the old URL.
      expect(await loginGoesTo(onDeaf)).toBe(before);
    } finally {
      await deaf.close();
    }
  });

  it('a lost listening connection comes back, and its return clears the cache (notices may have been missed)', async () => {
    const logger = createTestLogger();
    let changes = 0;
    const notices = pgChangeNotices({
      notify: (channel) => db.prisma.$executeRaw`SELECT pg_notify(${channel}, NULL)`,
      newClient: () => new pg.Client({ connectionString: db.url!, application_name: 'change-notices-test' }),
      logger,
      reconnectDelaysMs: { first: 300, max: 600 },
    });
    const listeners = () =>
      db.prisma.$queryRaw<Array<{ pid: number }>>`
        SELECT pid FROM pg_stat_activity WHERE application_name = 'change-notices-test' AND datname = current_database()`;
    expect(notices.listening).toBe(false);
    const stop = await notices.listen(() => changes++);
    try {
      expect(notices.listening).toBe(true);
      const [listener] = await listeners();
      expect(listener).toBeDefined();
      await notices.announce();
      await expect.poll(() => changes, { timeout: 5_000, interval: 25 }).toBe(1);

      await db.prisma.$queryRaw`SELECT pg_terminate_backend(${listener!.pid})`;
      await expect.poll(() => notices.listening, { timeout: 5_000, interval: 25 }).toBe(false);
      // No announcement: the reconnection alone counts as a change.
      await expect.poll(() => changes, { timeout: 5_000, interval: 25 }).toBe(2);
      expect(notices.listening).toBe(true);
      const [back] = await listeners();
      expect(back?.pid).toBeDefined();
      expect(back!.pid).not.toBe(listener!.pid);
      // And it listens again.
      await notices.announce();
      await expect.poll(() => changes, { timeout: 5_000, interval: 25 }).toBe(3);
    } finally {
      await stop();
    }
    expect(notices.listening).toBe(false);
    // Stopped: its connection is closed, and not opened again.
    const open = async () => (await listeners()).length;
    await expect.poll(open, { timeout: 5_000, interval: 25 }).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await open()).toBe(0);
  });

  it('a process that cannot listen at start still starts, and listens once the database answers', async () => {
    const lines: string[] = [];
    let attempts = 0;
    let changes = 0;
    const notices = pgChangeNotices({
      notify: (channel) => db.prisma.$executeRaw`SELECT pg_notify(${channel}, NULL)`,
      // The first two connections are refused (nothing listens on port 1).
      newClient: () => new pg.Client(++attempts <= 2 ? { host: '127.0.0.1', port: 1 } : { connectionString: db.url! }),
      logger: pino({ level: 'info', base: undefined }, { write: (line: string) => void lines.push(line) }),
      reconnectDelaysMs: { first: 100, max: 200 },
    });
    const stop = await notices.listen(() => changes++);
    try {
      expect(notices.listening).toBe(false);
      await expect.poll(() => notices.listening, { timeout: 5_000, interval: 25 }).toBe(true);
      expect(attempts).toBe(3);
      // It may have missed a change while it could not listen.
      expect(changes).toBe(1);
      await notices.announce();
      await expect.poll(() => changes, { timeout: 5_000, interval: 25 }).toBe(2);
      const messages = lines.map((line) => (JSON.parse(line) as { msg: string }).msg);
      expect(messages).toEqual([
        'change notice connection failed; retrying',
        'change notice connection failed; retrying',
        'change notice connection back',
      ]);
    } finally {
      await stop();
    }
  });

  it('a notice that cannot be sent is logged, never thrown (the mutation it follows has committed)', async () => {
    const lines: string[] = [];
    const notices = pgChangeNotices({
      notify: () => Promise.reject(new Error('connection refused')),
      newClient: () => new pg.Client({ connectionString: db.url! }),
      logger: pino({ level: 'warn', base: undefined }, { write: (line: string) => void lines.push(line) }),
    });
    await expect(notices.announce()).resolves.toBeUndefined();
    expect(lines.map((line) => JSON.parse(line) as Record<string, unknown>)).toEqual([
      expect.objectContaining({ err: 'connection refused', msg: expect.stringContaining('could not tell the other processes') }),
    ]);
  });
});
