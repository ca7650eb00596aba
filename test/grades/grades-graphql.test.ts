/**
 * Grades in the GraphQL API, through typed operations: each launch's completion and
 * grade with its delivery state, the grades of an app, and retryGradeDelivery — all
 * visible and usable by the app's owner only.
 */
import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Database } from '../../server/db/client.ts';
import type { Grade } from '../../server/generated/prisma/client.ts';
import {
  AppGradesAndLaunchesDocument,
  GradeNodeDocument,
  RetryGradeDeliveryDocument,
  type GradeDeliveryFieldsFragment,
} from '../generated/graphql.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { AGS_ENDPOINT_CLAIM } from '../helpers/platform.ts';
import { createOwner, graphqlClient, type GraphQLClient } from '../helpers/server.ts';
import {
  createClock,
  gradeRow,
  startBench,
  startPlatformFixture,
  type Bench,
  type Clock,
  type Launched,
  type PlatformFixture,
} from './fixtures.ts';

let db: Database;
let clock: Clock;
let fixture: PlatformFixture;
let bench: Bench;
let alice: GraphQLClient;
let bob: GraphQLClient;
let bobAppId: string;
let aliceToken: string;

/** The scenario: one launch per delivery state, plus one never completed. */
const launched = {} as Record<'delivered' | 'failed' | 'notGradable' | 'open' | 'pending', Launched & { grade?: Grade }>;

const gid = (type: string, id: string) => encodeGlobalID(type, id);

beforeAll(async () => {
  db = await createTestDatabase();
  clock = createClock();
  const aliceOwner = await createOwner(db, 'Alice');
  const bobOwner = await createOwner(db, 'Bob');
  fixture = await startPlatformFixture(db, { clock, ownerId: aliceOwner.ownerId });
  bench = await startBench(fixture);
  aliceToken = aliceOwner.token;
  alice = graphqlClient(bench.tool.app, aliceOwner.token);
  bob = graphqlClient(bench.tool.app, bobOwner.token);
  bobAppId = (await db.prisma.app.create({ data: { ownerId: bobOwner.ownerId, name: "Bob's", exerciseUrl: 'https://e.example/b' } })).id;

  launched.delivered = await bench.launchAndComplete({ sub: 'learner-delivered' });
  await bench.worker.runOnce();
  clock.advance(1_000);
  fixture.platform.failNext('scores', { status: 400, body: 'Score refused: line item is locked.' });
  launched.failed = await bench.launchAndComplete({ sub: 'learner-failed' });
  await bench.worker.runOnce();
  clock.advance(1_000);
  launched.notGradable = await bench.launchAndComplete({
    sub: 'learner-ungraded',
    overrides: { claims: { [AGS_ENDPOINT_CLAIM]: undefined } },
  });
  clock.advance(1_000);
  launched.open = await bench.launch({ sub: 'learner-open' });
  clock.advance(1_000);
  fixture.platform.failNext('scores', { status: 503 });
  launched.pending = await bench.launchAndComplete({ sub: 'learner-pending' });
  await bench.worker.runOnce();
  for (const l of Object.values(launched)) {
    const grade = await db.prisma.grade.findUnique({ where: { launchId: l.launchId } });
    if (grade) l.grade = grade;
  }
});
afterAll(async () => {
  await bench.close();
  await fixture.close();
  await db.close();
});

/** What the API should say about a grade row. */
function expected(grade: Grade): GradeDeliveryFieldsFragment {
  return {
    id: gid('Grade', grade.id),
    state: grade.state,
    scoreGiven: grade.scoreGiven,
    scoreMaximum: grade.scoreMaximum,
    attempts: grade.attempts,
    lastError: grade.lastError,
    lastStatus: grade.lastStatus,
    nextAttemptAt: grade.nextAttemptAt?.toISOString() ?? null,
    deliveredAt: grade.deliveredAt?.toISOString() ?? null,
    createdAt: grade.createdAt.toISOString(),
    launch: { id: gid('Launch', grade.launchId), subject: expect.any(String) as unknown as string },
  };
}

describe('reading grades', () => {
  it('the owner sees each launch with completedAt and its grade, and the app’s grades newest first', async () => {
    const { app } = await alice.run(AppGradesAndLaunchesDocument, { id: gid('App', fixture.appId), first: 50 });
    expect(app).not.toBeNull();
    const bySubject = new Map(app!.launches.edges.map((e) => [e.node.subject, e.node]));

    const delivered = bySubject.get('learner-delivered')!;
    expect(delivered.completedAt).not.toBeNull();
    expect(delivered.grade).toEqual(expected(launched.delivered.grade!));
    expect(delivered.grade).toMatchObject({ state: 'DELIVERED', attempts: 1, lastError: null, nextAttemptAt: null, scoreGiven: 100, scoreMaximum: 100 });
    expect(delivered.grade!.deliveredAt).not.toBeNull();

    const failed = bySubject.get('learner-failed')!.grade!;
    expect(failed).toMatchObject({ state: 'FAILED', attempts: 1, lastStatus: 400, nextAttemptAt: null, deliveredAt: null });
    expect(failed.lastError).toContain('Score refused: line item is locked.');

    const pending = bySubject.get('learner-pending')!.grade!;
    expect(pending).toMatchObject({ state: 'PENDING', attempts: 1, lastStatus: 503, deliveredAt: null });
    expect(new Date(pending.nextAttemptAt!).getTime()).toBeGreaterThan(clock.ms);
    expect(pending).toEqual(expected(launched.pending.grade!));

    const notGradable = bySubject.get('learner-ungraded')!.grade!;
    expect(notGradable).toMatchObject({ state: 'NOT_GRADABLE', attempts: 0, nextAttemptAt: null });
    expect(notGradable.lastError).toMatch(/no line item/);

    const open = bySubject.get('learner-open')!;
    expect(open).toMatchObject({ completedAt: null, grade: null });

    // The app's grades: the four completed launches, newest first.
    expect(app!.grades.edges.map((e) => e.node.launch.subject)).toEqual([
      'learner-pending',
      'learner-ungraded',
      'learner-failed',
      'learner-delivered',
    ]);
    expect(app!.grades.edges.map((e) => e.node.id)).toEqual(app!.grades.edges.map((e) => bySubject.get(e.node.launch.subject)!.grade!.id));
  });

  it('pages through grades', async () => {
    const { app } = await alice.run(AppGradesAndLaunchesDocument, { id: gid('App', fixture.appId), first: 2 });
    expect(app!.grades.edges).toHaveLength(2);
    expect(app!.grades.pageInfo.hasNextPage).toBe(true);
  });

  it('a grade is a node its owner can fetch', async () => {
    const { node } = await alice.run(GradeNodeDocument, { id: gid('Grade', launched.failed.grade!.id) });
    expect(node).toMatchObject({ __typename: 'Grade', state: 'FAILED', launch: { subject: 'learner-failed' } });
  });

  it('another owner sees none of it', async () => {
    expect((await bob.run(AppGradesAndLaunchesDocument, { id: gid('App', fixture.appId), first: 50 })).app).toBeNull();
    for (const l of Object.values(launched)) {
      if (l.grade) expect((await bob.run(GradeNodeDocument, { id: gid('Grade', l.grade.id) })).node).toBeNull();
    }
    const own = await bob.run(AppGradesAndLaunchesDocument, { id: gid('App', bobAppId), first: 50 });
    expect(own.app).toMatchObject({ launches: { edges: [] }, grades: { edges: [] } });
  });
});

describe('retryGradeDelivery', () => {
  it("another owner's grade is NotFound, and stays FAILED", async () => {
    const id = gid('Grade', launched.failed.grade!.id);
    const before = await gradeRow(db, launched.failed.grade!.id);
    const { retryGradeDelivery } = await bob.run(RetryGradeDeliveryDocument, { input: { id } });
    expect(retryGradeDelivery).toMatchObject({ __typename: 'NotFoundError', code: 'ERR_NOT_FOUND', id });
    expect(await gradeRow(db, launched.failed.grade!.id)).toEqual(before);
  });

  it.each([
    ['a malformed id', 'not-an-id'],
    ['a launch id', () => gid('Launch', launched.failed.launchId)],
    ['an unknown grade', gid('Grade', '00000000-0000-7000-8000-000000000000')],
  ])('%s is NotFound', async (_label, id) => {
    const { retryGradeDelivery } = await alice.run(RetryGradeDeliveryDocument, { input: { id: typeof id === 'function' ? id() : id } });
    expect(retryGradeDelivery.__typename).toBe('NotFoundError');
  });

  it.each(['delivered', 'pending', 'notGradable'] as const)('a %s grade cannot be retried (ValidationError, unchanged)', async (which) => {
    const gradeId = launched[which].grade!.id;
    const before = await gradeRow(db, gradeId);
    const { retryGradeDelivery } = await alice.run(RetryGradeDeliveryDocument, { input: { id: gid('Grade', gradeId) } });
    expect(retryGradeDelivery).toMatchObject({
      __typename: 'ValidationError',
      code: 'ERR_VALIDATION',
      fields: [{ field: 'id', message: expect.stringContaining(before.state) }],
    });
    expect(await gradeRow(db, gradeId)).toEqual(before);
  });

  it('a FAILED grade is queued again (PENDING, due now) and then delivered by the worker', async () => {
    const gradeId = launched.failed.grade!.id;
    // As a grade that gave up on refused client credentials has it: the retry starts that count again.
    await db.prisma.grade.update({ where: { id: gradeId }, data: { credentialRefusals: 8 } });
    const { retryGradeDelivery } = await alice.run(RetryGradeDeliveryDocument, { input: { id: gid('Grade', gradeId) } });
    expect(retryGradeDelivery.__typename).toBe('GradePayload');
    if (retryGradeDelivery.__typename !== 'GradePayload') return;
    expect(retryGradeDelivery.grade).toMatchObject({ state: 'PENDING', attempts: 0, nextAttemptAt: clock.now().toISOString(), deliveredAt: null });
    expect(await gradeRow(db, gradeId)).toMatchObject({ state: 'PENDING', attempts: 0, credentialRefusals: 0 });

    expect(await bench.worker.runOnce()).toBe(1);
    const { node } = await alice.run(GradeNodeDocument, { id: gid('Grade', gradeId) });
    expect(node).toMatchObject({ state: 'DELIVERED' });
    const row = await gradeRow(db, gradeId);
    expect(row).toMatchObject({ state: 'DELIVERED', attempts: 1, lastError: null, lastStatus: null });
    expect(fixture.platform.scores.filter((s) => s.body.userId === 'learner-failed')).toHaveLength(1);
    // Delivered now: a second retry is refused.
    const again = await alice.run(RetryGradeDeliveryDocument, { input: { id: gid('Grade', gradeId) } });
    expect(again.retryGradeDelivery.__typename).toBe('ValidationError');
  });

  it('a grade that gave up is retried with a fresh attempt budget, and the mutation wakes a running worker', async () => {
    const gradeId = launched.pending.grade!.id;
    await db.prisma.grade.update({
      where: { id: gradeId },
      data: { state: 'FAILED', attempts: 30, nextAttemptAt: null, lastError: 'gave up after 30 attempts; last: score service answered 503' },
    });
    // A server whose worker polls rarely: only a wake makes it deliver within the test.
    const waker = await startBench(fixture, { deliveryPolicy: { pollIntervalMs: 600_000 } });
    const stopJobs = waker.tool.app.startBackgroundJobs();
    try {
      await new Promise((resolve) => setTimeout(resolve, 100)); // the start-up poll finds nothing due
      const owner = graphqlClient(waker.tool.app, aliceToken);
      const { retryGradeDelivery } = await owner.run(RetryGradeDeliveryDocument, { input: { id: gid('Grade', gradeId) } });
      expect(retryGradeDelivery).toMatchObject({ __typename: 'GradePayload', grade: { state: 'PENDING', attempts: 0 } });
      await vi.waitFor(async () => expect(await gradeRow(db, gradeId)).toMatchObject({ state: 'DELIVERED' }), { timeout: 5_000, interval: 20 });
      expect(await gradeRow(db, gradeId)).toMatchObject({ attempts: 1, lastError: null });
      expect(fixture.platform.scores.filter((s) => s.body.userId === 'learner-pending')).toHaveLength(1);
    } finally {
      await stopJobs();
      await waker.close();
    }
  });
});
