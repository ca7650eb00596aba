/**
 * Database work per launch: a whole successful login + launch is two statements when the
 * process knows the registration (the login's check-and-store, then one statement that
 * checks and consumes the login and records the launch) and runs no audit statement; a
 * refusal writes only its row of the owner's audit trail (LaunchRefusal) and changes nothing else.
 * Statements are seen through the Prisma client's query events (DatabaseTarget.onQuery),
 * on PGlite and on PostgreSQL alike.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../server/db/client.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { CookieJar, errorCode, initiateLogin, launch, postLaunch, publicAppFor, type PublicApp } from '../helpers/lti-flow.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { startToolServer, type ToolServer } from '../helpers/tool-server.ts';

let db: Database;
let tool: ToolServer;
let openedx: TestPlatform;
let app: PublicApp;
let recorded: string[] | undefined;

beforeAll(async () => {
  db = await createTestDatabase({ onQuery: (sql) => recorded?.push(sql) });
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
    expect(isWrite('INSERT INTO "public"."LoginState" ("state") VALUES ($1)')).toBe(true);
    expect(isWrite('  update "LoginState" set "usedAt" = $1')).toBe(true);
    expect(isWrite('DELETE FROM "LoginState" WHERE "expiresAt" < $1')).toBe(true);
    expect(isWrite('WITH consumed AS (UPDATE "LoginState" SET x = 1 RETURNING "state") INSERT INTO "Launch" SELECT 1 FROM consumed')).toBe(true);
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

/** Row counts a refused request must leave as they were (its audit row aside). */
async function rowCounts(): Promise<Record<string, number>> {
  const [row] = await db.prisma.$queryRaw<Array<Record<string, bigint>>>`
    SELECT (SELECT count(*) FROM "LoginState") AS "logins",
      (SELECT count(*) FROM "LoginState" WHERE "usedAt" IS NOT NULL) AS "usedLogins",
      (SELECT count(*) FROM "Launch") AS "launches"`;
  return Object.fromEntries(Object.entries(row!).map(([k, v]) => [k, Number(v)]));
}

describe('statements per launch', () => {
  it('a whole successful login + launch is two statements, both writes, on a warm process', async () => {
    let status = 0;
    const statements = await statementsOf(async () => {
      status = (await launch(openedx, app)).response.status;
    });
    expect(status).toBe(303);
    expect(statements, statements.join('\n---\n')).toHaveLength(2);
    expect(statements.every(isWrite)).toBe(true);
    expect(statements[0]).toMatch(/INSERT INTO "(public"\.")?LoginState"/);
    // The second checks the login and the registration, consumes the login and records the launch.
    expect(statements[1]).toMatch(/UPDATE "LoginState"/);
    expect(statements[1]).toMatch(/INSERT INTO "Launch"/);
    expect(statements[1]).toMatch(/"LtiRegistration"/);
    // Success pays nothing for the audit trail of refusals.
    expect(statements.filter((sql) => /LaunchRefusal/.test(sql))).toEqual([]);
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
    const cookie = `lti_state_${first.auth.state.slice(0, 16)}=${first.auth.state}`;
    const before = await rowCounts();
    const audited = await auditRows();
    const replay = await postLaunch(app.urls.launchUrl, { id_token: first.auth.idToken, state: first.auth.state }, cookie);
    expect(await errorCode(replay)).toBe('ERR_LTI_NONCE_REUSED');
    expect(await rowCounts()).toEqual(before);
    expect(await auditRows()).toBe(audited + 1);
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
    // The login's check-and-store (which stored nothing), then the audit row.
    expect(statements, statements.join('\n---\n')).toHaveLength(2);
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
    ): Promise<{ response: Response; app: PublicApp }> {
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
        return { response, app: changed };
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
      const before = await rowCounts();
      const { response } = await launchWithChangeDuringKeysetFetch(change);
      expect(await errorCode(response)).toBe(code);
      const after = await rowCounts();
      expect(after.launches).toBe(before.launches);
      expect(after.usedLogins).toBe(before.usedLogins);
    });

    /** The registration's keyset URL moves (the platform serves the same keys there): the re-read fetches it. */
    const rotateKeyset = async (a: PublicApp) => {
      const registration = await db.prisma.ltiRegistration.findUniqueOrThrow({ where: { id: a.registrationId } });
      await db.prisma.ltiRegistration.update({ where: { id: a.registrationId }, data: { keysetUrl: `${registration.keysetUrl}?rotated=1` } });
    };

    it('a second change during the re-read\'s own keyset fetch (app made private) → ERR_LTI_APP_NOT_PUBLIC, named by a last read', async () => {
      const before = await rowCounts();
      const { response } = await launchWithChangeDuringKeysetFetch(rotateKeyset, (a) =>
        db.prisma.app.update({ where: { id: a.appId }, data: { isPublic: false } }),
      );
      expect(await errorCode(response)).toBe('ERR_LTI_APP_NOT_PUBLIC');
      expect((await rowCounts()).launches).toBe(before.launches);
    });

    it('a second change that leaves the launch acceptable (exercise URL) → ERR_LTI_STATE_UNKNOWN: no third write', async () => {
      const before = await rowCounts();
      const { response } = await launchWithChangeDuringKeysetFetch(rotateKeyset, (a) =>
        db.prisma.app.update({ where: { id: a.appId }, data: { exerciseUrl: 'https://exercises.example.test/moved-twice' } }),
      );
      expect(await errorCode(response)).toBe('ERR_LTI_STATE_UNKNOWN');
      const after = await rowCounts();
      expect(after.launches).toBe(before.launches);
      expect(after.usedLogins).toBe(before.usedLogins);
    });

    it('exercise URL changed → recorded, and the learner lands on the new one', async () => {
      const before = await rowCounts();
      const { response } = await launchWithChangeDuringKeysetFetch((a) =>
        db.prisma.app.update({ where: { id: a.appId }, data: { exerciseUrl: 'https://exercises.example.test/moved-meanwhile' } }),
      );
      expect(response.status).toBe(303);
      expect(response.headers.get('location')).toMatch(/^https:\/\/exercises\.example\.test\/moved-meanwhile#/);
      expect((await rowCounts()).launches).toBe(before.launches! + 1);
    });
  });

  it('the same form posted twice at once records one launch', async () => {
    const jar = new CookieJar();
    const login = await initiateLogin(openedx, app, jar);
    const auth = await openedx.authorize(login.location!);
    const before = await db.prisma.launch.count({ where: { appId: app.appId } });
    const fields = { id_token: auth.idToken, state: auth.state };
    const responses = await Promise.all([postLaunch(app.urls.launchUrl, fields, jar.header()), postLaunch(app.urls.launchUrl, fields, jar.header())]);
    expect(responses.map((r) => r.status).sort()).toEqual([303, 400]);
    const refused = responses.find((r) => r.status === 400)!;
    expect(await errorCode(refused)).toBe('ERR_LTI_NONCE_REUSED');
    expect(await db.prisma.launch.count({ where: { appId: app.appId } })).toBe(before + 1);
  });
});
