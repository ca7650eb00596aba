/**
 * retryFailedGradeDeliveries and App.failedGradeCount: every FAILED grade of one app queued
 * again at once (as retryGradeDelivery queues one), in one statement, by the app's owner only;
 * the grades of other states and other apps untouched, and the delivery worker woken.
 */
import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Database } from '../../server/db/client.ts';
import type { Grade } from '../../server/generated/prisma/client.ts';
import { uuidv7 } from '../../server/ids.ts';
import { AppFailedGradeCountDocument, AppsFailedGradeCountsDocument, RetryFailedGradeDeliveriesDocument } from '../generated/graphql.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { seedRegistration } from '../helpers/seed.ts';
import { createOwner, graphqlClient, type GraphQLClient } from '../helpers/server.ts';
import { createClock, gradeRow, startBench, startPlatformFixture, type Bench, type Clock, type PlatformFixture } from '../grades/fixtures.ts';

let db: Database;
let clock: Clock;
let fixture: PlatformFixture;
let bench: Bench;
let alice: GraphQLClient;
let bob: GraphQLClient;
let aliceToken: string;
/** Alice's app on the test platform (fixture.appId) and another app of hers; Bob's app. */
let otherAppId: string;
let bobAppId: string;
/** Alice's grades on the platform's app, by state. */
const grades = { failed: [] as Grade[], delivered: undefined as unknown as Grade, pending: undefined as unknown as Grade };
/** Counts UPDATEs of grades, to check that one statement queues them all. */
let gradeUpdates = 0;
/** Counts the statements that count grades (App.failedGradeCount). */
let gradeCounts = 0;
let aliceOwnerId: string;

const gid = (type: string, id: string) => encodeGlobalID(type, id);

/** A FAILED grade of an app that is not on the test platform (rows only; never delivered here). */
async function seedFailedGrade(appId: string): Promise<Grade> {
  const registration = await seedRegistration(db, appId);
  const launch = await db.prisma.launch.create({
    data: {
      id: uuidv7(),
      appId,
      registrationId: registration.id,
      deploymentId: '1',
      subject: 'learner-elsewhere',
      roles: [],
      resourceLinkId: 'block-1',
      agsLineitem: 'https://lms.example.org/lineitem',
      agsScopes: [],
      credentialHash: uuidv7(),
      credentialExpiresAt: new Date(Date.now() + 3_600_000),
      completedAt: new Date(),
    },
  });
  return db.prisma.grade.create({
    data: {
      id: uuidv7(),
      launchId: launch.id,
      appId,
      registrationId: registration.id,
      scoreGiven: 100,
      scoreMaximum: 100,
      state: 'FAILED',
      attempts: 8,
      credentialRefusals: 8,
      lastError: 'the platform refused our client credentials',
      lastStatus: 400,
    },
  });
}

/** Every grade row in the database, by id. */
async function allGrades(): Promise<Map<string, Grade>> {
  return new Map((await db.prisma.grade.findMany()).map((g) => [g.id, g]));
}

async function failedCount(client: GraphQLClient, appId: string): Promise<number | undefined> {
  return (await client.run(AppFailedGradeCountDocument, { id: gid('App', appId) })).app?.failedGradeCount;
}

beforeAll(async () => {
  db = await createTestDatabase({
    onQuery: (sql) => {
      if (/^\s*UPDATE\s+\S*"Grade"/i.test(sql)) gradeUpdates += 1;
      if (/COUNT\(/i.test(sql) && /FROM\s+\S*"Grade"/i.test(sql)) gradeCounts += 1;
    },
  });
  clock = createClock();
  const aliceOwner = await createOwner(db, 'Alice');
  const bobOwner = await createOwner(db, 'Bob');
  aliceToken = aliceOwner.token;
  aliceOwnerId = aliceOwner.ownerId;
  fixture = await startPlatformFixture(db, { clock, ownerId: aliceOwner.ownerId });
  bench = await startBench(fixture);
  alice = graphqlClient(bench.tool.app, aliceOwner.token);
  bob = graphqlClient(bench.tool.app, bobOwner.token);

  // Three grades the platform refuses for good (400), one it accepts, one it answers 503 (retried later).
  for (const sub of ['learner-a', 'learner-b', 'learner-c']) {
    fixture.platform.failNext('scores', { status: 400, body: 'Score refused.' });
    await bench.launchAndComplete({ sub });
    await bench.worker.runOnce();
    clock.advance(1_000);
  }
  await bench.launchAndComplete({ sub: 'learner-delivered' });
  await bench.worker.runOnce();
  clock.advance(1_000);
  fixture.platform.failNext('scores', { status: 503 });
  await bench.launchAndComplete({ sub: 'learner-pending' });
  await bench.worker.runOnce();
  for (const g of await db.prisma.grade.findMany({ where: { appId: fixture.appId }, orderBy: { id: 'asc' } })) {
    if (g.state === 'FAILED') grades.failed.push(g);
    else if (g.state === 'DELIVERED') grades.delivered = g;
    else if (g.state === 'PENDING') grades.pending = g;
  }
  expect(grades.failed).toHaveLength(3);
  expect([grades.delivered?.state, grades.pending?.state]).toEqual(['DELIVERED', 'PENDING']);
  // A stale lease left on a failed grade: queuing it again must clear it.
  await db.prisma.grade.update({
    where: { id: grades.failed[0]!.id },
    data: { leaseUntil: new Date(clock.ms + 60_000), leaseOwner: 'a-worker-gone' },
  });

  otherAppId = (await db.prisma.app.create({ data: { ownerId: aliceOwner.ownerId, name: 'Other', exerciseUrl: 'https://e.example/o' } })).id;
  await seedFailedGrade(otherAppId);
  bobAppId = (await db.prisma.app.create({ data: { ownerId: bobOwner.ownerId, name: "Bob's", exerciseUrl: 'https://e.example/b' } })).id;
  await seedFailedGrade(bobAppId);
});
afterAll(async () => {
  await bench?.close();
  await fixture?.close();
  await db?.close();
});

describe('App.failedGradeCount', () => {
  it("counts the app's FAILED grades only, for its owner", async () => {
    expect(await failedCount(alice, fixture.appId)).toBe(3);
    expect(await failedCount(alice, otherAppId)).toBe(1);
    expect(await failedCount(bob, bobAppId)).toBe(1);
    expect(await failedCount(bob, fixture.appId)).toBeUndefined(); // app: null
  });

  it('counts a whole page of apps, aliases included, in one statement', async () => {
    const emptyAppId = (await db.prisma.app.create({ data: { ownerId: aliceOwnerId, name: 'Empty', exerciseUrl: 'https://e.example/e' } })).id;
    gradeCounts = 0;
    const { apps } = await alice.run(AppsFailedGradeCountsDocument, {});
    const counts = Object.fromEntries(apps.edges.map(({ node }) => [node.id, [node.failedGradeCount, node.again]]));
    expect(counts).toEqual({
      [gid('App', fixture.appId)]: [3, 3],
      [gid('App', otherAppId)]: [1, 1],
      [gid('App', emptyAppId)]: [0, 0],
    });
    expect(gradeCounts).toBe(1);
    await db.prisma.app.delete({ where: { id: emptyAppId } });
  });
});

describe('retryFailedGradeDeliveries', () => {
  it.each([
    ["Alice's app, for Bob", 'bob', (): string => gid('App', fixture.appId)],
    ['a malformed id', 'alice', (): string => 'not-an-id'],
    ['a grade id', 'alice', (): string => gid('Grade', grades.failed[0]!.id)],
    ['an unknown app', 'alice', (): string => gid('App', '00000000-0000-7000-8000-000000000000')],
  ] as const)('%s is NotFound, and nothing changes', async (_label, who, appIdOf) => {
    const appId = appIdOf();
    const before = await allGrades();
    const wake = vi.spyOn(bench.worker, 'wake');
    try {
      const { retryFailedGradeDeliveries } = await (who === 'bob' ? bob : alice).run(RetryFailedGradeDeliveriesDocument, { input: { appId } });
      expect(retryFailedGradeDeliveries).toEqual({ __typename: 'NotFoundError', code: 'ERR_NOT_FOUND', message: expect.any(String), id: appId });
      expect(wake).not.toHaveBeenCalled();
    } finally {
      wake.mockRestore();
    }
    expect(await allGrades()).toEqual(before);
  });

  it("queues exactly the app's FAILED grades in one statement, as retryGradeDelivery does, and wakes the worker", async () => {
    const before = await allGrades();
    const wake = vi.spyOn(bench.worker, 'wake');
    gradeUpdates = 0;
    try {
      const { retryFailedGradeDeliveries } = await alice.run(RetryFailedGradeDeliveriesDocument, { input: { appId: gid('App', fixture.appId) } });
      expect(retryFailedGradeDeliveries).toEqual({
        __typename: 'RetryFailedGradeDeliveriesPayload',
        queued: 3,
        app: { id: gid('App', fixture.appId), failedGradeCount: 0 },
      });
      expect(gradeUpdates).toBe(1);
      expect(wake).toHaveBeenCalledTimes(1);
    } finally {
      wake.mockRestore();
    }

    const after = await allGrades();
    for (const failed of grades.failed) {
      const row = after.get(failed.id)!;
      expect(row).toEqual({
        ...before.get(failed.id)!,
        state: 'PENDING',
        attempts: 0,
        credentialRefusals: 0,
        nextAttemptAt: clock.now(),
        leaseUntil: null,
        leaseOwner: null,
        updatedAt: expect.any(Date),
      });
    }
    // Everything else as it was: the app's delivered and pending grades, the other apps' failed ones.
    const failedIds = new Set(grades.failed.map((g) => g.id));
    expect(new Map([...after].filter(([id]) => !failedIds.has(id)))).toEqual(new Map([...before].filter(([id]) => !failedIds.has(id))));
    expect(await failedCount(alice, fixture.appId)).toBe(0);
    expect(await failedCount(alice, otherAppId)).toBe(1);
    expect(await failedCount(bob, bobAppId)).toBe(1);

    // The worker then delivers them (a fresh attempt budget: the first attempt is attempt 1).
    expect(await bench.worker.runOnce()).toBe(3);
    for (const failed of grades.failed) expect(await gradeRow(db, failed.id)).toMatchObject({ state: 'DELIVERED', attempts: 1, lastError: null });
  });

  it('with nothing failed, queues 0: a normal answer that changes nothing and wakes nobody', async () => {
    const before = await allGrades();
    const wake = vi.spyOn(bench.worker, 'wake');
    try {
      const { retryFailedGradeDeliveries } = await alice.run(RetryFailedGradeDeliveriesDocument, { input: { appId: gid('App', fixture.appId) } });
      expect(retryFailedGradeDeliveries).toMatchObject({ __typename: 'RetryFailedGradeDeliveriesPayload', queued: 0, app: { failedGradeCount: 0 } });
      expect(wake).not.toHaveBeenCalled();
    } finally {
      wake.mockRestore();
    }
    expect(await allGrades()).toEqual(before);
  });

  it('wakes a running worker, which delivers them at once', async () => {
    for (const sub of ['learner-d', 'learner-e']) {
      fixture.platform.failNext('scores', { status: 400, body: 'Score refused.' });
      await bench.launchAndComplete({ sub });
      await bench.worker.runOnce();
    }
    const failed = await db.prisma.grade.findMany({ where: { appId: fixture.appId, state: 'FAILED' } });
    expect(failed).toHaveLength(2);
    // A server whose worker polls rarely: only a wake makes it deliver within the test.
    const waker = await startBench(fixture, { deliveryPolicy: { pollIntervalMs: 600_000 } });
    const stopJobs = waker.tool.app.startBackgroundJobs();
    try {
      await new Promise((resolve) => setTimeout(resolve, 100)); // the start-up poll finds nothing due
      const owner = graphqlClient(waker.tool.app, aliceToken);
      const { retryFailedGradeDeliveries } = await owner.run(RetryFailedGradeDeliveriesDocument, { input: { appId: gid('App', fixture.appId) } });
      expect(retryFailedGradeDeliveries).toMatchObject({ queued: 2 });
      await vi.waitFor(
        async () => {
          for (const g of failed) expect(await gradeRow(db, g.id)).toMatchObject({ state: 'DELIVERED' });
        },
        { timeout: 5_000, interval: 20 },
      );
      expect(waker.scoresOf('learner-d')).toHaveLength(1);
      expect(waker.scoresOf('learner-e')).toHaveLength(1);
    } finally {
      await stopJobs();
      await waker.close();
    }
  });
});
