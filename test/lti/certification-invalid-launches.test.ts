/**
 * The 1EdTech LTI 1.3 certification's invalid-launch cases, as one reviewable table: each
 * named case, the code we answer, and the test that proves it. Cases already tested in
 * launch-refusals.test.ts are referenced (a test below checks the reference still exists
 * and names the same code); the others are tested here, over real HTTP like those.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../server/db/client.ts';
import { LTI_ERRORS, type LtiErrorCode } from '../../server/lti/errors.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { CookieJar, errorCode, initiateLogin, postLaunch, publicAppFor, type PublicApp } from '../helpers/lti-flow.ts';
import { AGS_ENDPOINT_CLAIM, LTI_CLAIM, startTestPlatform, type LaunchOverrides, type TestPlatform } from '../helpers/platform.ts';
import { startToolServer, type ToolServer } from '../helpers/tool-server.ts';

const REFUSALS = 'test/lti/launch-refusals.test.ts';

/** Every LTI claim of the platform's launch removed: what is left is a plain OIDC id_token. */
const WITHOUT_LTI_CLAIMS: Record<string, undefined> = Object.fromEntries(
  [...Object.values(LTI_CLAIM), AGS_ENDPOINT_CLAIM].map((claim) => [claim, undefined]),
);

type Case = { name: string; code: LtiErrorCode } & ({ testedIn: string; test: string } | { overrides: LaunchOverrides });

/** The certification's invalid launches (1EdTech LTI Advantage Complete, "Known bad payloads"). */
const CASES: Case[] = [
  { name: 'no kid in the JWT header', code: 'ERR_LTI_KID_MISSING', testedIn: REFUSALS, test: 'no kid → ERR_LTI_KID_MISSING' },
  { name: 'incorrect kid in the JWT header', code: 'ERR_LTI_UNKNOWN_KID', testedIn: REFUSALS, test: 'unknown kid → ERR_LTI_UNKNOWN_KID' },
  { name: 'expired token (bad exp)', code: 'ERR_LTI_TOKEN_EXPIRED', testedIn: REFUSALS, test: 'expired (exp an hour ago)' },
  { name: 'iat in the future (bad iat)', code: 'ERR_LTI_TOKEN_NOT_YET_VALID', testedIn: REFUSALS, test: 'iat in the future' },
  { name: 'no iat', code: 'ERR_LTI_TOKEN_MALFORMED', overrides: { claims: { iat: undefined } } },
  { name: 'a valid JWT from the platform that is not an LTI launch (no LTI claims)', code: 'ERR_LTI_DEPLOYMENT_ID_MISSING', overrides: { claims: WITHOUT_LTI_CLAIMS } },
  { name: 'wrong LTI version', code: 'ERR_LTI_VERSION', testedIn: REFUSALS, test: 'wrong version' },
  { name: 'no LTI version', code: 'ERR_LTI_VERSION', overrides: { claims: { [LTI_CLAIM.version]: undefined } } },
  { name: 'no deployment_id', code: 'ERR_LTI_DEPLOYMENT_ID_MISSING', testedIn: REFUSALS, test: 'no deployment' },
  { name: 'no message_type', code: 'ERR_LTI_MESSAGE_TYPE', overrides: { claims: { [LTI_CLAIM.messageType]: undefined } } },
  { name: 'wrong message_type', code: 'ERR_LTI_MESSAGE_TYPE', testedIn: REFUSALS, test: 'wrong message type' },
  { name: 'no roles claim', code: 'ERR_LTI_ROLES_MISSING', testedIn: REFUSALS, test: 'missing roles claim' },
  { name: 'no sub (user id)', code: 'ERR_LTI_SUB_MISSING', testedIn: REFUSALS, test: 'missing sub' },
  { name: 'no resource_link claim', code: 'ERR_LTI_RESOURCE_LINK_MISSING', testedIn: REFUSALS, test: 'missing resource link' },
  { name: 'resource_link without id', code: 'ERR_LTI_RESOURCE_LINK_MISSING', testedIn: REFUSALS, test: 'resource link without id' },
];

describe('1EdTech invalid launches: the table', () => {
  const source = readFileSync(REFUSALS, 'utf8');
  it.each(CASES.filter((c) => 'testedIn' in c).map((c) => ({ ...c })))('$name → $code is tested in launch-refusals', (c) => {
    if (!('testedIn' in c)) throw new Error('unreachable');
    // The referenced test exists and expects this very code: a table row names it on its own
    // line; an it() must assert it in its body (its title naming the code proves nothing).
    const lines = source.split('\n');
    const at = lines.findIndex((l) => l.includes(`'${c.test}'`));
    expect(at, `"${c.test}" in ${c.testedIn}`).toBeGreaterThanOrEqual(0);
    const title = lines[at]!;
    if (!/^\s*it\(/.test(title)) {
      expect(title).toContain(c.code);
      return;
    }
    const indent = title.match(/^\s*/)![0];
    const end = lines.findIndex((l, i) => i > at && l.startsWith(`${indent}});`));
    expect(end, `the end of "${c.test}"`).toBeGreaterThan(at);
    expect(lines.slice(at + 1, end).join('\n')).toContain(`'${c.code}'`);
  });

  it('every code in the table is a documented refusal', () => {
    for (const c of CASES) expect(LTI_ERRORS[c.code][0]).toBe(400);
  });
});

let db: Database;
let tool: ToolServer;
let platform: TestPlatform;
let app: PublicApp;

beforeAll(async () => {
  db = await createTestDatabase();
  tool = await startToolServer(db);
  platform = await startTestPlatform();
  app = await publicAppFor(db, platform, tool.baseUrl);
});
afterAll(async () => {
  await platform?.close();
  await tool?.close();
  await db?.close();
});

describe('1EdTech invalid launches: tested here', () => {
  it.each(CASES.filter((c) => 'overrides' in c).map((c) => ({ ...c })))('$name → $code', async (c) => {
    if (!('overrides' in c)) throw new Error('unreachable');
    const jar = new CookieJar();
    const login = await initiateLogin(platform, app, jar);
    expect(login.response.status).toBe(302);
    const auth = await platform.authorize(login.location!, { expectedRedirectUri: app.urls.launchUrl, ...c.overrides });
    const launchesBefore = await db.prisma.launch.count();
    const response = await postLaunch(app.urls.launchUrl, { id_token: auth.idToken, state: auth.state }, jar.header());
    expect(response.status).toBe(400);
    expect(response.headers.get('location')).toBeNull();
    expect(await errorCode(response)).toBe(c.code);
    expect(await db.prisma.launch.count()).toBe(launchesBefore);
    // The refusal consumed nothing: no launch used the login's nonce, and the same login with
    // the platform's genuine token (same state and nonce) still launches, once.
    expect(await db.prisma.launch.count({ where: { nonce: auth.nonce } })).toBe(0);
    const genuine = await platform.authorize(login.location!, { expectedRedirectUri: app.urls.launchUrl });
    expect(genuine).toMatchObject({ state: auth.state, nonce: auth.nonce });
    const launched = await postLaunch(app.urls.launchUrl, { id_token: genuine.idToken, state: genuine.state }, jar.header());
    expect(launched.status).toBe(303);
    expect(await db.prisma.launch.count({ where: { nonce: auth.nonce } })).toBe(1);
  });
});
