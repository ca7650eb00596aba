/**
 * The login cleanup must not delete a login that a launch still in flight is about to consume.
 * A launch reads its clock once, when it starts, and consumes the login in its last statement,
 * after verifying the token (a keyset fetch can take seconds): a login that expires in between
 * is still the launch's to consume, as the statement checks expiry against that start time.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../server/db/client.ts';
import { uuidv7 } from '../../server/ids.ts';
import { deleteExpiredLoginStates } from '../../server/lti/cleanup.ts';
import type { LaunchRegistration } from '../../server/lti/launch-queries.ts';
import { recordLaunchIfLoginAndRegistrationMatch, type LaunchData } from '../../server/lti/launch-record.ts';
import { createTestDatabase } from '../helpers/db.ts';

let db: Database;
let appId: string;
let registrationId: string;
let registration: LaunchRegistration;

beforeAll(async () => {
  db = await createTestDatabase();
  const owner = await db.prisma.owner.create({ data: { name: 'o' } });
  const app = await db.prisma.app.create({ data: { ownerId: owner.id, name: 'a', exerciseUrl: 'https://x.test/', isPublic: true } });
  const row = await db.prisma.ltiRegistration.create({
    data: {
      appId: app.id,
      issuer: 'https://platform.test',
      clientId: 'c',
      authLoginUrl: 'https://platform.test/auth',
      authTokenUrl: 'https://platform.test/token',
      keysetUrl: 'https://platform.test/jwks',
      deploymentIds: ['d'],
    },
  });
  appId = app.id;
  registrationId = row.id;
  registration = {
    id: row.id,
    appId: app.id,
    issuer: row.issuer,
    clientId: row.clientId,
    keysetUrl: row.keysetUrl,
    authLoginUrl: row.authLoginUrl,
    deploymentIds: row.deploymentIds,
    isPublic: app.isPublic,
    exerciseUrl: app.exerciseUrl,
  };
});
afterAll(() => db?.close());

const nonces = new Map<string, string>();

async function login(expiresAt: Date): Promise<string> {
  const state = randomBytes(32).toString('base64url');
  const nonce = randomBytes(32).toString('base64url');
  nonces.set(state, nonce);
  await db.prisma.loginState.create({
    data: { state, nonce, appId, registrationId, createdAt: new Date(expiresAt.getTime() - 600_000), expiresAt },
  });
  return state;
}

function launchData(now: Date): LaunchData {
  const credential = randomBytes(32).toString('base64url');
  return {
    id: uuidv7(now.getTime()),
    appId,
    registrationId,
    deploymentId: 'd',
    subject: 'learner',
    name: null,
    givenName: null,
    familyName: null,
    email: null,
    roles: [],
    contextId: null,
    contextTitle: null,
    contextLabel: null,
    resourceLinkId: 'rl',
    resourceLinkTitle: null,
    agsLineitem: null,
    agsLineitems: null,
    agsScopes: [],
    credential,
    credentialHash: randomBytes(32).toString('hex'),
    credentialExpiresAt: new Date(now.getTime() + 3600_000),
  };
}

describe('deleteExpiredLoginStates and a launch in flight', () => {
  it('leaves a login that expired moments ago to the launch that started before', async () => {
    const started = new Date('2031-01-01T12:00:00.000Z');
    // The learner posted the launch 1 s before the login's ten minutes ran out.
    const state = await login(new Date(started.getTime() + 1_000));
    // While the launch verifies the token, another process's cleanup runs, 2 s after the start.
    await deleteExpiredLoginStates(db.prisma, new Date(started.getTime() + 2_000));
    // The launch's write, on its start time: the login was unused and unexpired then.
    const launch = launchData(started);
    expect(await recordLaunchIfLoginAndRegistrationMatch(db.sql, { state, nonce: nonces.get(state)!, registration, launch, now: started })).toBe(true);
  });

  it('still deletes logins once no launch can be finishing them', async () => {
    const now = new Date('2031-01-02T12:00:00.000Z');
    const expired = await login(new Date(now.getTime() - 60_000));
    const live = await login(new Date(now.getTime() + 1_000));
    expect(await deleteExpiredLoginStates(db.prisma, now)).toBeGreaterThanOrEqual(1);
    expect(await db.prisma.loginState.findUnique({ where: { state: expired } })).toBeNull();
    expect(await db.prisma.loginState.findUnique({ where: { state: live } })).not.toBeNull();
  });

  it('deletes a backlog larger than one batch, one batch per statement', async () => {
    const now = new Date('2031-01-03T12:00:00.000Z');
    await db.prisma.loginState.deleteMany();
    for (let i = 0; i < 7; i++) await login(new Date(now.getTime() - 3600_000));
    expect(await deleteExpiredLoginStates(db.prisma, now, 3)).toBe(7);
    expect(await db.prisma.loginState.count({ where: { expiresAt: { lt: now } } })).toBe(0);
  });
});
