/**
 * Database writes per launch: a whole successful login + launch writes at most twice (the
 * login state, then one statement that consumes it and records the launch) and runs no
 * audit statement; refusals write only their row of the owner's audit trail (LaunchRefusal)
 * and change nothing else. Statements are seen through the Prisma client's query events
 * (DatabaseTarget.onQuery), on PGlite and on PostgreSQL alike.
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

/** The one write a refusal may do: its audit row. */
function isAuditInsert(sql: string): boolean {
  return /^INSERT INTO "LaunchRefusal"/.test(stripLeadingComments(sql));
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

describe('writes per launch', () => {
  it('a whole successful login + launch writes at most twice', async () => {
    let status = 0;
    const statements = await statementsOf(async () => {
      status = (await launch(openedx, app)).response.status;
    });
    expect(status).toBe(303);
    const writes = statements.filter(isWrite);
    // The hook sees the writes at all (else this test could not fail): the login state's insert.
    expect(writes.some((sql) => /INSERT INTO "(public"\.")?LoginState"/.test(sql)), statements.join('\n')).toBe(true);
    expect(writes.length, writes.join('\n---\n')).toBeLessThanOrEqual(2);
    // The second is the single consume-and-record statement.
    expect(writes.filter((sql) => /UPDATE "LoginState"/.test(sql) && /INSERT INTO "Launch"/.test(sql))).toHaveLength(1);
    // Success pays nothing for the audit trail of refusals.
    expect(statements.filter((sql) => /LaunchRefusal/.test(sql))).toEqual([]);
  });

  it('a refused launch writes only its audit row', async () => {
    const jar = new CookieJar();
    const statements = await statementsOf(async () => {
      const result = await launch(openedx, app, { jar, overrides: { signWith: 'foreign-key' } });
      expect(await errorCode(result.response)).toBe('ERR_LTI_BAD_SIGNATURE');
    });
    // The login's own insert, then the refusal's audit row.
    const writes = statements.filter(isWrite);
    expect(writes, writes.join('\n---\n')).toHaveLength(2);
    expect(writes.filter(isAuditInsert)).toHaveLength(1);
  });

  it('a replayed launch writes only its audit row', async () => {
    const first = await launch(openedx, app);
    expect(first.response.status).toBe(303);
    const cookie = `lti_state_${first.auth.state.slice(0, 16)}=${first.auth.state}`;
    const statements = await statementsOf(async () => {
      const replay = await postLaunch(app.urls.launchUrl, { id_token: first.auth.idToken, state: first.auth.state }, cookie);
      expect(await errorCode(replay)).toBe('ERR_LTI_NONCE_REUSED');
    });
    expect(statements.length).toBeGreaterThan(0);
    const writes = statements.filter(isWrite);
    expect(writes).toHaveLength(1);
    expect(writes.filter(isAuditInsert)).toHaveLength(1);
  });

  it('a refused login writes only its audit row', async () => {
    const init = new URL(openedx.loginInitiation(app.urls.loginUrl, { targetLinkUri: app.urls.launchUrl }).url);
    init.searchParams.set('lti_deployment_id', 'nope');
    const statements = await statementsOf(async () => {
      const response = await fetch(init, { redirect: 'manual' });
      expect(await errorCode(response)).toBe('ERR_LTI_UNKNOWN_DEPLOYMENT');
    });
    expect(statements.length).toBeGreaterThan(0);
    const writes = statements.filter(isWrite);
    expect(writes).toHaveLength(1);
    expect(writes.filter(isAuditInsert)).toHaveLength(1);
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
