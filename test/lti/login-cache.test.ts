import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Database } from '../../server/db/client.ts';
import { UpdateAppDocument, UpdateLtiRegistrationDocument } from '../generated/graphql.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { CookieJar, errorCode, initiateLogin, launch, publicAppFor, type PublicApp } from '../helpers/lti-flow.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { createOwner, graphqlClient, type GraphQLClient } from '../helpers/server.ts';
import { startToolServer, type ToolServer } from '../helpers/tool-server.ts';

/**
 * The login trusts the registration this process read recently (server/lti/login.ts), as the
 * launch's short road does: what that may and may not change.
 */
let statements: string[] = [];
let db: Database;
let tool: ToolServer;
let openedx: TestPlatform;
let app: PublicApp;
let owner: GraphQLClient;

beforeAll(async () => {
  db = await createTestDatabase({ onQuery: (sql) => statements.push(sql) });
  tool = await startToolServer(db);
  openedx = await startTestPlatform();
  const { ownerId, token } = await createOwner(db, 'Teacher');
  owner = graphqlClient(tool.app, token);
  app = await publicAppFor(db, openedx, tool.baseUrl, { ownerId });
});
afterAll(async () => {
  await openedx.close();
  await tool.close();
  await db.close();
});
beforeEach(async () => {
  // Every test starts from a launch that succeeded, so the registration is cached as it is now.
  await db.prisma.app.update({ where: { id: app.appId }, data: { isPublic: true } });
  const warm = await launch(openedx, app);
  expect(warm.response.status).toBe(303);
  statements = [];
});

async function login(options: { clientId?: boolean } = {}) {
  const extra: Record<string, string> = options.clientId === false ? { client_id: '' } : {};
  return initiateLogin(openedx, app, new CookieJar(), { extra });
}

describe('a login with the registration cached', () => {
  it('runs no statement, and a whole launch runs exactly one (the launch insert)', async () => {
    const result = await launch(openedx, app);
    expect(result.response.status).toBe(303);
    expect(statements).toHaveLength(1);
    expect(statements[0]).toMatch(/INSERT INTO "Launch"/);
  });

  it('without a client_id reads the registrations (only they can tell whether the issuer is ambiguous)', async () => {
    const result = await login({ clientId: false });
    expect(result.response.status).toBe(302);
    expect(statements).toHaveLength(1);
    expect(statements[0]).toMatch(/FROM "App"/);
  });

  it('reads the rows when the cached entry would refuse the login, and only the rows refuse it', async () => {
    // An unknown deployment: the cache cannot vouch for it, the read refuses it.
    const refused = await initiateLogin(openedx, app, new CookieJar(), { extra: { lti_deployment_id: 'not-registered' } });
    expect(refused.response.status).toBe(400);
    expect(await errorCode(refused.response)).toBe('ERR_LTI_UNKNOWN_DEPLOYMENT');
    expect(statements.some((s) => /FROM "App"/.test(s))).toBe(true);
  });

  it('an app made private by another process: the login goes ahead from the cache, the launch is refused, and the next login reads and refuses', async () => {
    // Another process's change: straight to the database, this process's cache is not told.
    await db.prisma.app.update({ where: { id: app.appId }, data: { isPublic: false } });
    const refusedLaunch = await launch(openedx, app);
    expect(refusedLaunch.response.status).toBe(403);
    expect(await errorCode(refusedLaunch.response)).toBe('ERR_LTI_APP_NOT_PUBLIC');
    expect(await db.prisma.launch.count({ where: { nonce: refusedLaunch.auth.nonce } })).toBe(0);
    // The launch that missed dropped the stale entry (and its full path cached the row as read: private).
    const refusedLogin = await login();
    expect(refusedLogin.response.status).toBe(403);
    expect(await errorCode(refusedLogin.response)).toBe('ERR_LTI_APP_NOT_PUBLIC');
  });
});

describe('an owner change on this process', () => {
  it('a new Auth Login URL is used by the very next login (a mutation clears the cache)', async () => {
    const moved = `${new URL(openedx.authLoginUrl).origin}/moved/authorize`;
    const { updateLtiRegistration } = await owner.run(UpdateLtiRegistrationDocument, {
      input: { id: encodeGlobalID('LtiRegistration', app.registrationId), authLoginUrl: moved },
    });
    expect(updateLtiRegistration.__typename).toBe('LtiRegistrationPayload');
    const result = await login();
    expect(result.response.status).toBe(302);
    const location = new URL(result.location!);
    expect(`${location.origin}${location.pathname}`).toBe(moved);
    // Put it back for the other tests.
    await owner.run(UpdateLtiRegistrationDocument, { input: { id: encodeGlobalID('LtiRegistration', app.registrationId), authLoginUrl: openedx.authLoginUrl } });
  });

  it('an app made private through the API refuses the very next login', async () => {
    const { updateApp } = await owner.run(UpdateAppDocument, { input: { id: encodeGlobalID('App', app.appId), isPublic: false } });
    expect(updateApp.__typename).toBe('AppPayload');
    const result = await login();
    expect(result.response.status).toBe(403);
    expect(await errorCode(result.response)).toBe('ERR_LTI_APP_NOT_PUBLIC');
  });
});
