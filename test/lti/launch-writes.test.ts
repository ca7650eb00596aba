/**
 * Database work per launch: a whole successful login + launch is one statement when the
 * process knows the registration (the login writes and reads nothing: its state is the sealed
 * cookie; the launch's one statement checks the registration and records the launch under the
 * login's nonce, unique among launches) and runs no audit statement; a login never changes a
 * row; a refusal writes only its row of the owner's audit trail (LaunchRefusal) and changes
 * nothing else; a launch, replayed or raced, is recorded once.
 * Statements are seen through the Prisma client's query events (DatabaseTarget.onQuery),
 * on PGlite and on PostgreSQL alike.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../server/app.ts';
import type { Database } from '../../server/db/client.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { CookieJar, errorCode, initiateLogin, launch, postLaunch, publicAppFor, type LaunchResult, type PublicApp } from '../helpers/lti-flow.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { registerConfigSecrets, testConfig } from '../helpers/server.ts';
import { createTestLogger } from '../helpers/test-logger.ts';
import { startToolServer, type ToolServer } from '../helpers/tool-server.ts';
import { tableDigests } from '../helpers/table-digests.ts';

let db: Database;
let tool: ToolServer;
let openedx: TestPlatform;
let app: PublicApp;
let recorded: string[] | undefined;
/** Sees every statement's SQL too (a test waits for statements with it). */
let onStatement: ((sql: string) => void) | undefined;

beforeAll(async () => {
  db = await createTestDatabase({
    onQuery: (sql) => {
      recorded?.push(sql);
      onStatement?.(sql);
    },
  });
  tool = await startToolServer(db);
  openedx = await startTestPlatform();
  app = await publicAppFor(db, openedx, tool.baseUrl);
  // Warm up: the keyset is cached and nothing is created lazily during the measured launches.
  expect((await launch(openedx, app)).response.status).toBe(303);
});
afterAll(async () => {
  await openedx?.close();
  await tool?.close();
  await db?.close();
});

/** Leading SQL comments and whitespace removed. */
function stripLeadingComments(sql: string): string {
  return sql.replace(/^(\s+|--[^\n]*(\n|$)|\/\*[\s\S]*?\*\/)+/, '');
}

/**
 * A statement writes if it is an INSERT/UPDATE/DELETE/MERGE, or a WITH whose CTEs or
 * main statement are one. A statement counts once, however many tables it touches.
 */
function isWrite(sql: string): boolean {
  const s = stripLeadingComments(sql);
  if (/^(INSERT|UPDATE|DELETE|MERGE|TRUNCATE)\b/i.test(s)) return true;
  return /^WITH\b/i.test(s) && /\b(INSERT|UPDATE|DELETE|MERGE)\b/i.test(s);
}

/** Runs `fn` and returns the statements the database client ran meanwhile. */
async function statementsOf(fn: () => Promise<unknown>): Promise<string[]> {
  recorded = [];
  try {
    await fn();
    // Query events are emitted after each statement completes; let the last ones arrive.
    await new Promise((resolve) => setImmediate(resolve));
    return recorded;
  } finally {
    recorded = undefined;
  }
}

describe('isWrite', () => {
  it('classifies statements', () => {
    expect(isWrite('INSERT INTO "public"."ServerSecret" ("name") VALUES ($1)')).toBe(true);
    expect(isWrite('  update "Launch" set "completedAt" = $1')).toBe(true);
    expect(isWrite('DELETE FROM "LaunchRefusal" WHERE "createdAt" < $1')).toBe(true);
    expect(isWrite('WITH fresh AS (SELECT 1 FROM "LtiRegistration") INSERT INTO "Launch" SELECT 1 FROM fresh')).toBe(true);
    expect(isWrite('WITH gone AS (DELETE FROM "Launch" RETURNING "id") SELECT count(*) FROM gone')).toBe(true);
    expect(isWrite('-- comment\nINSERT INTO t VALUES (1)')).toBe(true);
    expect(isWrite('SELECT "public"."App"."id" FROM "public"."App" WHERE "id" = $1')).toBe(false);
    expect(isWrite('WITH a AS (SELECT 1) SELECT * FROM a')).toBe(false);
    expect(isWrite('-- Implicit "COMMIT" query via underlying driver')).toBe(false);
  });
});

const extraPlatforms: TestPlatform[] = [];
afterAll(async () => {
  for (const platform of extraPlatforms) await platform.close();
});

/** Another platform (its own issuer and client id) with a public app on `baseUrl`. */
async function anotherPlatformApp(baseUrl: string): Promise<{ platform: TestPlatform; app: PublicApp }> {
  const platform = await startTestPlatform();
  extraPlatforms.push(platform);
  return { platform, app: await publicAppFor(db, platform, baseUrl) };
}

/** The refusals in the owner's audit trail. */
async function auditRows(): Promise<number> {
  return db.prisma.launchRefusal.count();
}


/** What a refused request must leave as it was (its audit row aside): the launches, and every other table's rows. */
async function rowCounts(): Promise<{ launches: number; tables: Record<string, string> }> {
  return { launches: await db.prisma.launch.count(), tables: await tableDigests(db.prisma, ['LaunchRefusal']) };
}

/** Launches recorded with this nonce (a login's single use). */
function launchesWithNonce(nonce: string): Promise<number> {
  return db.prisma.launch.count({ where: { nonce } });
}

/** The state cookie a login set, as the browser sends it back (`name=sealed value`). */
function loginCookie(result: LaunchResult): string {
  const [setCookie] = result.login.response.headers.getSetCookie();
  expect(setCookie).toMatch(/^lti_state_[A-Za-z0-9_-]{16}=l1\./);
  return setCookie!.split(';')[0]!;
}

describe('statements per launch', () => {
  it('a whole successful login + launch is one statement, a write, on a warm process', async () => {
    let result: LaunchResult | undefined;
    const statements = await statementsOf(async () => {
      result = await launch(openedx, app);
    });
    expect(result!.response.status).toBe(303);
    expect(statements, statements.join('\n---\n')).toHaveLength(1);
    expect(statements.every(isWrite)).toBe(true);
    // It checks the registration and records the launch under the login's nonce (unique: the replay guard).
    expect(statements[0]).toMatch(/INSERT INTO "Launch"/);
    expect(statements[0]).toMatch(/"LtiRegistration"/);
    expect(statements[0]).toMatch(/ON CONFLICT \("nonce"\) DO NOTHING/);
    expect(await launchesWithNonce(result!.auth.nonce)).toBe(1);
    // Success pays nothing for the audit trail of refusals.
    expect(statements.filter((sql) => /LaunchRefusal/.test(sql))).toEqual([]);
  });

  it('a login changes no row of any table, on a warm process (no statement at all) and on a new one', async () => {
    const before = await tableDigests(db.prisma);
    const statements = await statementsOf(async () => {
      const login = await initiateLogin(openedx, app, new CookieJar());
      expect(login.response.status).toBe(302);
    });
    expect(statements, statements.join('\n---\n')).toEqual([]);
    expect(await tableDigests(db.prisma)).toEqual(before);

    // A process that has not read the registration, nor the login state key, yet.
    const other = await startToolServer(db);
    try {
      const { platform, app: otherApp } = await anotherPlatformApp(other.baseUrl);
      const fresh = await tableDigests(db.prisma);
      const otherStatements = await statementsOf(async () => {
        const jar = new CookieJar();
        for (let i = 0; i < 3; i++) expect((await initiateLogin(platform, otherApp, jar)).response.status).toBe(302);
        expect(jar.cookies.size).toBe(3);
      });
      expect(await tableDigests(db.prisma)).toEqual(fresh);
      // Whatever the first login on a process runs, the next ones run nothing.
      expect(otherStatements.filter((sql) => /FROM "App"/.test(sql))).toHaveLength(1);
    } finally {
      await other.close();
    }

    // The digests do see writes: a launch changes the Launch table's (and only it).
    const beforeLaunch = await tableDigests(db.prisma);
    const result = await launch(openedx, app);
    expect(result.response.status).toBe(303);
    const after = await tableDigests(db.prisma);
    expect(after.Launch).not.toBe(beforeLaunch.Launch);
    expect({ ...after, Launch: beforeLaunch.Launch }).toEqual(beforeLaunch);
  });

  it('a refused launch changes no row but its audit row', async () => {
    const jar = new CookieJar();
    const login = await initiateLogin(openedx, app, jar);
    const auth = await openedx.authorize(login.location!, { signWith: 'foreign-key' });
    const before = await rowCounts();
    const audited = await auditRows();
    const response = await postLaunch(app.urls.launchUrl, { id_token: auth.idToken, state: auth.state }, jar.header());
    expect(await errorCode(response)).toBe('ERR_LTI_BAD_SIGNATURE');
    expect(await rowCounts()).toEqual(before);
    expect(await auditRows()).toBe(audited + 1);
  });

  it('a replayed launch changes no row but its audit row', async () => {
    const first = await launch(openedx, app);
    expect(first.response.status).toBe(303);
    const cookie = loginCookie(first);
    const before = await rowCounts();
    const audited = await auditRows();
    const replay = await postLaunch(app.urls.launchUrl, { id_token: first.auth.idToken, state: first.auth.state }, cookie);
    expect(await errorCode(replay)).toBe('ERR_LTI_NONCE_REUSED');
    expect(await rowCounts()).toEqual(before);
    expect(await auditRows()).toBe(audited + 1);
    expect(await launchesWithNonce(first.auth.nonce)).toBe(1);
  });

  it('a refused login changes no row but its audit row', async () => {
    const init = new URL(openedx.loginInitiation(app.urls.loginUrl, { targetLinkUri: app.urls.launchUrl }).url);
    init.searchParams.set('lti_deployment_id', 'nope');
    const before = await rowCounts();
    const audited = await auditRows();
    const statements = await statementsOf(async () => {
      const response = await fetch(init, { redirect: 'manual' });
      expect(await errorCode(response)).toBe('ERR_LTI_UNKNOWN_DEPLOYMENT');
    });
    // The read of the registration (the cached one cannot vouch for the deployment), then the audit row.
    expect(statements, statements.join('\n---\n')).toHaveLength(2);
    expect(isWrite(statements[0]!)).toBe(false);
    expect(statements[1]).toMatch(/^\s*INSERT INTO "LaunchRefusal"/);
    expect(await rowCounts()).toEqual(before);
    expect(await auditRows()).toBe(audited + 1);
  });

  it('a process that has not seen the registration reads it, then records the launch', async () => {
    // A second process on the same database: it did not serve the login.
    let offsetMs = 0;
    const other = await startToolServer(db, { now: () => new Date(Date.now() + offsetMs) });
    try {
      const { platform, app: otherApp } = await anotherPlatformApp(other.baseUrl);
      const jar = new CookieJar();
      const login = await initiateLogin(platform, otherApp, jar);
      const auth = await platform.authorize(login.location!, { expectedRedirectUri: otherApp.urls.launchUrl });
      offsetMs = 61_000; // past the registration cache's minute, well within the login's ten
      const statements = await statementsOf(async () => {
        const response = await postLaunch(otherApp.urls.launchUrl, { id_token: auth.idToken, state: auth.state }, jar.header());
        expect(response.status).toBe(303);
      });
      expect(statements).toHaveLength(2);
      expect(isWrite(statements[0]!)).toBe(false);
      expect(statements[1]).toMatch(/INSERT INTO "Launch"/);
    } finally {
      await other.close();
    }
  });

  it('a nonce the database could not even compare (a NUL) → ERR_LTI_NONCE_MISMATCH on the warm road too, not a 500', async () => {
    // Found by test/fuzz/launch.test.ts: the short road passed the claim to its SQL as is.
    const jar = new CookieJar();
    const login = await initiateLogin(openedx, app, jar);
    const auth = await openedx.authorize(login.location!, { claims: { nonce: 'a\u0000b' } });
    const before = await rowCounts();
    const response = await postLaunch(app.urls.launchUrl, { id_token: auth.idToken, state: auth.state }, jar.header());
    expect(await errorCode(response)).toBe('ERR_LTI_NONCE_MISMATCH');
    expect(await rowCounts()).toEqual(before);
  });

  describe('a registration changed between login and launch is read again, not trusted from the login', () => {
    /** A login done on a platform of its own, its id_token in hand; `finish` posts it. What changes before that happens between login and launch. */
    async function loggedIn(): Promise<{ changed: PublicApp; finish: () => Promise<Response> }> {
      const { platform, app: changed } = await anotherPlatformApp(tool.baseUrl);
      const jar = new CookieJar();
      const login = await initiateLogin(platform, changed, jar);
      const auth = await platform.authorize(login.location!, { expectedRedirectUri: changed.urls.launchUrl });
      return { changed, finish: () => postLaunch(changed.urls.launchUrl, { id_token: auth.idToken, state: auth.state }, jar.header()) };
    }

    it('deployment removed → ERR_LTI_UNKNOWN_DEPLOYMENT, nothing recorded', async () => {
      const { changed, finish } = await loggedIn();
      await db.prisma.ltiRegistration.update({ where: { id: changed.registrationId }, data: { deploymentIds: ['another-deployment'] } });
      const before = await rowCounts();
      const response = await finish();
      expect(await errorCode(response)).toBe('ERR_LTI_UNKNOWN_DEPLOYMENT');
      expect(await rowCounts()).toEqual(before);
    });

    it('keyset URL changed → verified against the new keyset and recorded (the cached one is not used)', async () => {
      const { changed, finish } = await loggedIn();
      const registration = await db.prisma.ltiRegistration.findUniqueOrThrow({ where: { id: changed.registrationId } });
      const newKeysetUrl = `${registration.keysetUrl}?rotated=1`;
      await db.prisma.ltiRegistration.update({ where: { id: changed.registrationId }, data: { keysetUrl: newKeysetUrl } });
      const statements = await statementsOf(async () => {
        const response = await finish();
        expect(response.status).toBe(303);
      });
      // The short road's write matched nothing; the full path read the new registration and recorded.
      expect(statements).toHaveLength(3);
      expect(statements[2]).toMatch(/INSERT INTO "Launch"/);
      expect(tool.app.keysets.fetchCount).toBeGreaterThan(0);
    });

    it.each<[string, string, (registrationId: string) => Promise<unknown>]>([
      [
        'issuer changed (the write re-checks the issuer)',
        'ERR_LTI_ISSUER',
        (id) => db.prisma.ltiRegistration.update({ where: { id }, data: { issuer: 'https://moved-lms.example.org' } }),
      ],
      [
        'client ID changed (the write re-checks the client ID)',
        'ERR_LTI_AUDIENCE',
        (id) => db.prisma.ltiRegistration.update({ where: { id }, data: { clientId: 'another-client-id' } }),
      ],
      ['registration removed', 'ERR_LTI_UNKNOWN_REGISTRATION', (id) => db.prisma.ltiRegistration.delete({ where: { id } })],
    ])('%s → %s, nothing recorded, the refusal audited', async (_label, code, change) => {
      const { changed, finish } = await loggedIn();
      await change(changed.registrationId);
      const before = await rowCounts();
      const audited = await auditRows();
      const response = await finish();
      expect(response.status).toBe(400);
      expect(await errorCode(response)).toBe(code);
      expect(await rowCounts()).toEqual(before);
      expect(await auditRows()).toBe(audited + 1);
    });

    it('exercise URL changed → the learner lands on the new one', async () => {
      const { changed, finish } = await loggedIn();
      await db.prisma.app.update({ where: { id: changed.appId }, data: { exerciseUrl: 'https://exercises.example.test/moved' } });
      const response = await finish();
      expect(response.status).toBe(303);
      expect(response.headers.get('location')).toMatch(/^https:\/\/exercises\.example\.test\/moved#/);
    });
  });

  describe('a change made while a process without the registration fetches the keyset is seen by the write', () => {
    /**
     * The full path (a process whose registration cache has lapsed) reads the login and the
     * registration, then fetches the platform's keyset, then writes: `change` runs while that
     * fetch is in flight. The write must re-check what the read returned.
     */
    async function launchWithChangeDuringKeysetFetch(
      ...changes: Array<(app: PublicApp) => Promise<unknown>>
    ): Promise<{ response: Response; app: PublicApp; nonce: string }> {
      let offsetMs = 0;
      // One change per keyset fetch, in order.
      const pending: Array<() => Promise<unknown>> = [];
      const other = await startToolServer(db, {
        now: () => new Date(Date.now() + offsetMs),
        fetch: async (input, init) => {
          await pending.shift()?.();
          return globalThis.fetch(input, init);
        },
      });
      try {
        const { platform, app: changed } = await anotherPlatformApp(other.baseUrl);
        const jar = new CookieJar();
        const login = await initiateLogin(platform, changed, jar);
        const auth = await platform.authorize(login.location!, { expectedRedirectUri: changed.urls.launchUrl });
        offsetMs = 61_000; // past the registration cache's minute: the launch takes the full path
        pending.push(...changes.map((change) => () => change(changed)));
        const response = await postLaunch(changed.urls.launchUrl, { id_token: auth.idToken, state: auth.state }, jar.header());
        expect(pending, 'a keyset fetch for each change').toEqual([]);
        return { response, app: changed, nonce: auth.nonce };
      } finally {
        await other.close();
      }
    }

    it.each<[string, string, (app: PublicApp) => Promise<unknown>]>([
      ['app made private', 'ERR_LTI_APP_NOT_PUBLIC', (a) => db.prisma.app.update({ where: { id: a.appId }, data: { isPublic: false } })],
      ['deployment removed', 'ERR_LTI_UNKNOWN_DEPLOYMENT', (a) => db.prisma.ltiRegistration.update({ where: { id: a.registrationId }, data: { deploymentIds: ['another-deployment'] } })],
      ['registration removed', 'ERR_LTI_UNKNOWN_REGISTRATION', (a) => db.prisma.ltiRegistration.delete({ where: { id: a.registrationId } })],
      ['issuer changed', 'ERR_LTI_ISSUER', (a) => db.prisma.ltiRegistration.update({ where: { id: a.registrationId }, data: { issuer: 'https://moved-lms.example.org' } })],
    ])('%s → %s, nothing recorded', async (_label, code, change) => {
      const before = await db.prisma.launch.count();
      const { response, nonce } = await launchWithChangeDuringKeysetFetch(change);
      expect(await errorCode(response)).toBe(code);
      expect(await db.prisma.launch.count()).toBe(before);
      expect(await launchesWithNonce(nonce)).toBe(0);
    });

    /** The registration's keyset URL moves (the platform serves the same keys there): the re-read fetches it. */
    const rotateKeyset = async (a: PublicApp) => {
      const registration = await db.prisma.ltiRegistration.findUniqueOrThrow({ where: { id: a.registrationId } });
      await db.prisma.ltiRegistration.update({ where: { id: a.registrationId }, data: { keysetUrl: `${registration.keysetUrl}?rotated=1` } });
    };

    it('a second change during the re-read\'s own keyset fetch (app made private) → ERR_LTI_APP_NOT_PUBLIC, named by a last read', async () => {
      const before = await db.prisma.launch.count();
      const { response, nonce } = await launchWithChangeDuringKeysetFetch(rotateKeyset, (a) =>
        db.prisma.app.update({ where: { id: a.appId }, data: { isPublic: false } }),
      );
      expect(await errorCode(response)).toBe('ERR_LTI_APP_NOT_PUBLIC');
      expect(await db.prisma.launch.count()).toBe(before);
      expect(await launchesWithNonce(nonce)).toBe(0);
    });

    it('a second change that leaves the launch acceptable (exercise URL) → ERR_LTI_REGISTRATION_CHANGED (409): no third write', async () => {
      const before = await db.prisma.launch.count();
      const { response, nonce } = await launchWithChangeDuringKeysetFetch(rotateKeyset, (a) =>
        db.prisma.app.update({ where: { id: a.appId }, data: { exerciseUrl: 'https://exercises.example.test/moved-twice' } }),
      );
      expect(response.status).toBe(409);
      expect(await errorCode(response)).toBe('ERR_LTI_REGISTRATION_CHANGED');
      expect(await db.prisma.launch.count()).toBe(before);
      expect(await launchesWithNonce(nonce)).toBe(0);
    });

    it('exercise URL changed → recorded, and the learner lands on the new one', async () => {
      const before = await db.prisma.launch.count();
      const { response, nonce } = await launchWithChangeDuringKeysetFetch((a) =>
        db.prisma.app.update({ where: { id: a.appId }, data: { exerciseUrl: 'https://exercises.example.test/moved-meanwhile' } }),
      );
      expect(response.status).toBe(303);
      expect(response.headers.get('location')).toMatch(/^https:\/\/exercises\.example\.test\/moved-meanwhile#/);
      expect(await db.prisma.launch.count()).toBe(before + 1);
      expect(await launchesWithNonce(nonce)).toBe(1);
    });
  });

  describe('the same form and cookie posted several times at once: one launch recorded, the others ERR_LTI_NONCE_REUSED', () => {
    /** Posts `fields` `times` at once; expects one 303 and the rest refused as reused, and returns nothing else. */
    async function expectOneRecorded(launchUrl: string, fields: Record<string, string>, cookie: string, nonce: string, times: number) {
      const before = await db.prisma.launch.count();
      const responses = await Promise.all(Array.from({ length: times }, () => postLaunch(launchUrl, fields, cookie)));
      const statuses = responses.map((r) => r.status);
      expect(statuses.filter((s) => s === 303), statuses.join()).toHaveLength(1);
      for (const refused of responses.filter((r) => r.status !== 303)) {
        expect(refused.status).toBe(400);
        expect(await errorCode(refused)).toBe('ERR_LTI_NONCE_REUSED');
      }
      expect(await launchesWithNonce(nonce)).toBe(1);
      expect(await db.prisma.launch.count()).toBe(before + 1);
    }

    it('on a warm process (the short road: the insert itself refuses the second)', async () => {
      const jar = new CookieJar();
      const login = await initiateLogin(openedx, app, jar);
      const auth = await openedx.authorize(login.location!);
      await expectOneRecorded(app.urls.launchUrl, { id_token: auth.idToken, state: auth.state }, jar.header(), auth.nonce, 2);
    });

    it('on several processes without the registration, all of them having read the nonce as unused before any writes', async () => {
      const times = 4;
      // Processes of one deployment (one PUBLIC_URL, one database), requests handed to each in-process.
      // Each one's keyset fetch waits until every process has read the registration and found
      // the nonce unused: then they all verify the token and write, and only the insert's
      // unique nonce can keep the others out.
      let reads = 0;
      let allRead: () => void = () => {};
      const readsDone = new Promise<void>((resolve) => (allRead = resolve));
      const config = testConfig();
      registerConfigSecrets(config);
      const start = () =>
        createApp(config, {
          db,
          logger: createTestLogger(),
          fetch: async (input, init) => {
            await Promise.race([readsDone, new Promise((resolve) => setTimeout(resolve, 3_000))]);
            return globalThis.fetch(input, init);
          },
        });
      // The login on a process of its own: none of the launching processes has the registration.
      const [loginProcess, ...processes] = Array.from({ length: times + 1 }, start);
      const platform = await startTestPlatform();
      extraPlatforms.push(platform);
      try {
        const target = await publicAppFor(db, platform, config.publicUrl);
        const init = platform.loginInitiation(target.urls.loginUrl, { targetLinkUri: target.urls.launchUrl });
        const login = await loginProcess!.fetch(new Request(init.url));
        expect(login.status).toBe(302);
        const cookie = login.headers.getSetCookie()[0]!.split(';')[0]!;
        const auth = await platform.authorize(login.headers.get('location')!, { expectedRedirectUri: target.urls.launchUrl });
        onStatement = (sql) => {
          if (/"nonceUsed"/.test(sql) && ++reads === times) allRead();
        };
        const before = await db.prisma.launch.count();
        const responses = await Promise.all(
          processes.map((process) =>
            process.fetch(
              new Request(target.urls.launchUrl, {
                method: 'POST',
                headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
                body: new URLSearchParams({ id_token: auth.idToken, state: auth.state }),
              }),
            ),
          ),
        );
        const statuses = responses.map((r) => r.status);
        expect(statuses.filter((s) => s === 303), statuses.join()).toHaveLength(1);
        for (const refused of responses.filter((r) => r.status !== 303)) {
          expect(refused.status).toBe(400);
          expect(await errorCode(refused)).toBe('ERR_LTI_NONCE_REUSED');
        }
        expect(await launchesWithNonce(auth.nonce)).toBe(1);
        expect(await db.prisma.launch.count()).toBe(before + 1);
        // The race was run: every process read before any keyset came, and the losers read again to name the reason.
        expect(reads).toBe(2 * times - 1);
      } finally {
        onStatement = undefined;
        await Promise.all([loginProcess!, ...processes].map((process) => process.deliveryWorker.stop()));
      }
    });
  });
});
