/**
 * Logins are stateless (server/lti/sealed-login.ts): there are no login rows, so nothing
 * cleans them up, and a launch in flight can no longer lose its login to a cleanup. What the
 * login rows and their cleanup used to give, and what this file now checks:
 * - single use: the launch's one write is unique on the login's nonce, on every process and
 *   for ever (no cleanup frees a nonce), and a write refused for another reason does not
 *   use the nonce up;
 * - the cleanup that remains (deleteOldRefusals) deletes a backlog one bounded batch per
 *   statement.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../server/db/client.ts';
import { uuidv7 } from '../../server/ids.ts';
import { deleteOldRefusals, REFUSAL_RETENTION_MS } from '../../server/lti/cleanup.ts';
import { findRegistrationForLaunch, type LaunchRegistration } from '../../server/lti/launch-queries.ts';
import { recordLaunchIfUnusedAndRegistrationMatches, type LaunchData } from '../../server/lti/launch-record.ts';
import { createTestDatabase } from '../helpers/db.ts';

let db: Database;
let appId: string;
let registrationId: string;
let registration: LaunchRegistration;
/** Every statement's SQL, as the database saw it. */
const statements: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase({ onQuery: (sql) => void statements.push(sql) });
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

const newNonce = () => randomBytes(32).toString('base64url');

function launchData(now: Date, subject = 'learner'): LaunchData {
  const credential = randomBytes(32).toString('base64url');
  return {
    id: uuidv7(now.getTime()),
    appId,
    registrationId,
    deploymentId: 'd',
    subject,
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

const record = (nonce: string, now: Date, reg: LaunchRegistration = registration) =>
  recordLaunchIfUnusedAndRegistrationMatches(db.sql, { nonce, registration: reg, launch: launchData(now), now });
const launchesWith = (nonce: string) => db.prisma.launch.count({ where: { nonce } });

describe('the launch is unique on the login nonce (the replay guard that replaced used login rows)', () => {
  it('records the first launch with a nonce, and writes nothing for a second one with it', async () => {
    const now = new Date('2031-01-01T12:00:00.000Z');
    const nonce = newNonce();
    expect((await findRegistrationForLaunch(db.sql, { registrationId, nonce })).nonceUsed).toBe(false);
    expect(await record(nonce, now)).toBe(true);
    expect(await launchesWith(nonce)).toBe(1);
    expect((await findRegistrationForLaunch(db.sql, { registrationId, nonce })).nonceUsed).toBe(true);
    // The replay (another launch id and credential, a moment later): refused by the insert.
    expect(await record(nonce, new Date(now.getTime() + 1_000))).toBe(false);
    expect(await launchesWith(nonce)).toBe(1);
    // Another login's nonce on the same registration is not affected.
    const fresh = newNonce();
    expect((await findRegistrationForLaunch(db.sql, { registrationId, nonce: fresh })).nonceUsed).toBe(false);
    expect(await record(fresh, now)).toBe(true);
  });

  it('the same nonce raced by concurrent writes: exactly one launch', async () => {
    const now = new Date('2031-01-02T12:00:00.000Z');
    const nonce = newNonce();
    const results = await Promise.all(Array.from({ length: 5 }, () => record(nonce, now)));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await launchesWith(nonce)).toBe(1);
  });

  it('a nonce stays used for ever: the cleanup, however late, never frees it', async () => {
    const now = new Date('2031-01-03T12:00:00.000Z');
    const nonce = newNonce();
    expect(await record(nonce, now)).toBe(true);
    const years = new Date(now.getTime() + 10 * 365 * 24 * 3600_000);
    await deleteOldRefusals(db.prisma, years);
    expect(await launchesWith(nonce)).toBe(1);
    expect(await record(nonce, years)).toBe(false);
    expect((await findRegistrationForLaunch(db.sql, { registrationId, nonce })).nonceUsed).toBe(true);
  });

  it('a write refused because the registration changed does not use the nonce up', async () => {
    const now = new Date('2031-01-04T12:00:00.000Z');
    const nonce = newNonce();
    // The caller's copy of the registration is stale (another keyset URL): nothing written.
    expect(await record(nonce, now, { ...registration, keysetUrl: 'https://platform.test/old-jwks' })).toBe(false);
    expect(await launchesWith(nonce)).toBe(0);
    expect((await findRegistrationForLaunch(db.sql, { registrationId, nonce })).nonceUsed).toBe(false);
    // Verified against the current registration, the same login launches.
    expect(await record(nonce, now)).toBe(true);
    expect(await launchesWith(nonce)).toBe(1);
  });

  it('launches recorded before the nonce column (nonce NULL) do not collide with each other', async () => {
    const now = new Date('2031-01-05T12:00:00.000Z');
    for (const subject of ['old-1', 'old-2']) {
      const { credential: _, ...data } = launchData(now, subject);
      await db.prisma.launch.create({ data: { ...data, nonce: null } });
    }
    expect(await db.prisma.launch.count({ where: { nonce: null, subject: { in: ['old-1', 'old-2'] } } })).toBe(2);
  });
});

describe('deleteOldRefusals: a backlog, one bounded batch per statement', () => {
  async function refusals(count: number, createdAt: Date): Promise<void> {
    await db.prisma.launchRefusal.createMany({
      data: Array.from({ length: count }, () => ({ id: uuidv7(createdAt.getTime()), appId, route: 'LAUNCH' as const, code: 'ERR_LTI_STATE_EXPIRED', reason: 'r', createdAt })),
    });
  }
  const deletes = () => statements.filter((sql) => /^\s*DELETE FROM "LaunchRefusal"/.test(sql)).length;

  it('deletes 7 old refusals in batches of 3 (three statements) and keeps the young ones', async () => {
    const now = new Date('2031-02-01T12:00:00.000Z');
    await db.prisma.launchRefusal.deleteMany();
    await refusals(7, new Date(now.getTime() - REFUSAL_RETENTION_MS - 3600_000));
    await refusals(2, new Date(now.getTime() - REFUSAL_RETENTION_MS + 3600_000));
    const before = deletes();
    expect(await deleteOldRefusals(db.prisma, now, REFUSAL_RETENTION_MS, 3)).toBe(7);
    expect(deletes() - before).toBe(3);
    expect(await db.prisma.launchRefusal.count({ where: { createdAt: { lt: new Date(now.getTime() - REFUSAL_RETENTION_MS) } } })).toBe(0);
    expect(await db.prisma.launchRefusal.count()).toBe(2);
  });

  it('a backlog of exactly two batches takes a third, empty statement to see it is done; nothing to delete takes one', async () => {
    const now = new Date('2031-03-01T12:00:00.000Z');
    await db.prisma.launchRefusal.deleteMany();
    await refusals(6, new Date(now.getTime() - REFUSAL_RETENTION_MS - 1));
    let before = deletes();
    expect(await deleteOldRefusals(db.prisma, now, REFUSAL_RETENTION_MS, 3)).toBe(6);
    expect(deletes() - before).toBe(3);
    before = deletes();
    expect(await deleteOldRefusals(db.prisma, now, REFUSAL_RETENTION_MS, 3)).toBe(0);
    expect(deletes() - before).toBe(1);
  });
});
