/**
 * The grade outbox across processes: pending deliveries survive a restart (a new app on
 * the same database delivers them), several replicas polling at once never send the same
 * delivery twice, a crashed worker's lease expires and its rows are picked up, a live
 * lease is respected, and a worker that lost its lease does not overwrite the outcome.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Database } from '../../server/db/client.ts';
import { hashCredential } from '../../server/lti/launch.ts';
import { AGS_SCOPE_SCORE } from '../../server/grades/ags.ts';
import type { FetchLike } from '../../server/http/limited-fetch.ts';
import { randomToken, uuidv7 } from '../../server/ids.ts';
import { createTestDatabase } from '../helpers/db.ts';
import {
  createClock,
  gradeRow,
  newSubject,
  startBench,
  startPlatformFixture,
  type Bench,
  type Clock,
  type PlatformFixture,
} from './fixtures.ts';

let db: Database;
let clock: Clock;
let fixture: PlatformFixture;
const benches: Bench[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  clock = createClock();
  fixture = await startPlatformFixture(db, { clock });
});
afterAll(async () => {
  await fixture.close();
  await db.close();
});
afterEach(async () => {
  for (const bench of benches.splice(0)) await bench.close();
  expect(await db.prisma.grade.count({ where: { state: 'PENDING' } })).toBe(0);
});

async function bench(options: Parameters<typeof startBench>[1] = {}): Promise<Bench> {
  const b = await startBench(fixture, options);
  benches.push(b);
  return b;
}

/** Pending grades inserted directly (launches that were completed but not yet delivered). */
async function insertPendingGrades(count: number): Promise<Array<{ gradeId: string; sub: string }>> {
  const now = clock.now();
  const rows = Array.from({ length: count }, (_, i) => {
    const sub = newSubject('replica');
    // A few placements (line items, each with a query string), many learners.
    const lineitem = fixture.platform.lineitemUrl(`block-v1:Org+Course+Run+type@lti_consumer+block@r${i % 4}`);
    const launchId = uuidv7(now.getTime());
    return {
      sub,
      launch: {
        id: launchId,
        appId: fixture.appId,
        registrationId: fixture.registrationId,
        deploymentId: fixture.platform.deploymentId,
        subject: sub,
        roles: [],
        resourceLinkId: `r${i % 4}`,
        agsLineitem: lineitem,
        agsScopes: [AGS_SCOPE_SCORE],
        credentialHash: hashCredential(randomToken()),
        credentialExpiresAt: new Date(now.getTime() + 3_600_000),
        completedAt: now,
      },
      grade: {
        id: uuidv7(now.getTime()),
        launchId,
        appId: fixture.appId,
        registrationId: fixture.registrationId,
        scoreGiven: 100,
        scoreMaximum: 100,
        state: 'PENDING' as const,
        nextAttemptAt: now,
        createdAt: now,
      },
    };
  });
  await db.prisma.launch.createMany({ data: rows.map((r) => r.launch) });
  await db.prisma.grade.createMany({ data: rows.map((r) => r.grade) });
  return rows.map((r) => ({ gradeId: r.grade.id, sub: r.sub }));
}

describe('restart', () => {
  it('a delivery pending when the server stops is delivered, once, by the next server on the same database', async () => {
    const first = await bench({ deliveryPolicy: { pollIntervalMs: 20, baseBackoffMs: 60_000 } });
    const stopJobs = first.tool.app.startBackgroundJobs();
    fixture.platform.failNext('scores', { status: 503 });
    // The completion wakes the running worker; its attempt fails.
    const { sub, grade } = await first.launchAndComplete();
    await vi.waitFor(
      async () => expect(await gradeRow(db, grade.id)).toMatchObject({ state: 'PENDING', attempts: 1, leaseOwner: null, lastStatus: 503 }),
      { timeout: 5_000, interval: 20 },
    );
    await stopJobs();
    await first.close();
    benches.splice(benches.indexOf(first), 1);

    // A new process: new app, new worker, new token cache.
    const second = await bench({ deliveryPolicy: { pollIntervalMs: 20 } });
    const pending = await gradeRow(db, grade.id);
    clock.advanceTo(pending.nextAttemptAt!);
    const stopSecond = second.tool.app.startBackgroundJobs();
    try {
      await vi.waitFor(async () => expect((await gradeRow(db, grade.id)).state).toBe('DELIVERED'), { timeout: 5_000, interval: 20 });
    } finally {
      await stopSecond();
    }
    expect(await gradeRow(db, grade.id)).toMatchObject({ attempts: 2, lastError: null, deliveredAt: clock.now() });
    expect(fixture.platform.scores.filter((s) => s.body.userId === sub)).toHaveLength(1);
    expect(first.scoreAttempts().filter((a) => a.status === 200)).toHaveLength(1);
  });

  it('start() delivers right after a completion (woken), without waiting for a poll', async () => {
    const b = await bench({ deliveryPolicy: { pollIntervalMs: 600_000 } });
    const stopJobs = b.tool.app.startBackgroundJobs();
    try {
      // Let the first (immediate) poll go by: from now on only a wake can start one.
      await new Promise((resolve) => setTimeout(resolve, 100));
      const { sub, grade } = await b.launchAndComplete();
      await vi.waitFor(async () => expect((await gradeRow(db, grade.id)).state).toBe('DELIVERED'), { timeout: 5_000, interval: 20 });
      expect(b.scoresOf(sub)).toHaveLength(1);
    } finally {
      await stopJobs();
    }
  });
});

describe('replicas', () => {
  it('three workers polling at once deliver 40 grades, each exactly once', async () => {
    const policy = { batchSize: 4 };
    const workers = [await bench({ deliveryPolicy: policy }), await bench({ deliveryPolicy: policy }), await bench({ deliveryPolicy: policy })];
    const scoresBefore = fixture.platform.scores.length;
    const attemptsBefore = fixture.platform.scoreAttempts.length;
    const tokensBefore = fixture.platform.tokenRequests.length;
    const grades = await insertPendingGrades(40);

    const handled = [0, 0, 0];
    for (let round = 0; round < 20; round++) {
      const counts = await Promise.all(workers.map((w) => w.worker.runOnce()));
      counts.forEach((c, i) => (handled[i]! += c));
      if ((await db.prisma.grade.count({ where: { state: 'PENDING' } })) === 0) break;
    }

    const rows = await db.prisma.grade.findMany({ where: { id: { in: grades.map((g) => g.gradeId) } } });
    expect(rows.map((r) => r.state)).toEqual(Array(40).fill('DELIVERED'));
    expect(rows.every((r) => r.attempts === 1)).toBe(true);
    // Every grade claimed once, over all workers; the work was shared.
    expect(handled.reduce((a, b) => a + b, 0)).toBe(40);
    expect(handled.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
    // The platform saw one POST, and one score, per grade.
    expect(fixture.platform.scoreAttempts.length - attemptsBefore).toBe(40);
    const scores = fixture.platform.scores.slice(scoresBefore);
    expect(scores).toHaveLength(40);
    expect(new Set(scores.map((s) => s.body.userId))).toEqual(new Set(grades.map((g) => g.sub)));
    // One token per worker that delivered anything: concurrent deliveries shared it.
    const tokenRequests = fixture.platform.tokenRequests.slice(tokensBefore);
    expect(tokenRequests.every((t) => t.ok)).toBe(true);
    expect(tokenRequests).toHaveLength(handled.filter((n) => n > 0).length);
  });

  it('an expired lease (a worker that crashed mid-delivery) is reclaimed and delivered', async () => {
    const b = await bench();
    const { sub, grade } = await b.launchAndComplete();
    await db.prisma.grade.update({
      where: { id: grade.id },
      data: { attempts: 1, leaseOwner: 'dead', leaseUntil: new Date(clock.ms - 1_000) },
    });
    expect(await b.worker.runOnce()).toBe(1);
    expect(await gradeRow(db, grade.id)).toMatchObject({ state: 'DELIVERED', attempts: 2, leaseOwner: null, leaseUntil: null });
    expect(b.scoresOf(sub)).toHaveLength(1);
  });

  it('a live lease held by another worker is left alone until it expires', async () => {
    const b = await bench();
    const { sub, grade } = await b.launchAndComplete();
    const leaseUntil = new Date(clock.ms + 30_000);
    await db.prisma.grade.update({ where: { id: grade.id }, data: { attempts: 1, leaseOwner: 'other-replica', leaseUntil } });
    const held = await gradeRow(db, grade.id);
    expect(await b.worker.runOnce()).toBe(0);
    clock.advance(29_999);
    expect(await b.worker.runOnce()).toBe(0);
    expect(await gradeRow(db, grade.id)).toEqual(held);
    expect(b.scoreAttempts()).toHaveLength(0);
    // The other worker never finished: its lease runs out.
    clock.advance(2);
    expect(await b.worker.runOnce()).toBe(1);
    expect(await gradeRow(db, grade.id)).toMatchObject({ state: 'DELIVERED', attempts: 2 });
    expect(b.scoresOf(sub)).toHaveLength(1);
  });

  it('GRADE_DELIVERY_LEASE_SECONDS decides when a dead worker\'s claim is picked up: after it expires, not before', async () => {
    // Worker A claims the grade, then "dies": its score POST never returns.
    const neverAnswers: FetchLike = async (url, init) =>
      new URL(url).pathname.endsWith('/scores') ? new Promise<Response>(() => {}) : fetch(url, init);
    const config = { gradeDeliveryLeaseSeconds: 300, gradeDeliveryTimeoutSeconds: 100 };
    const a = await bench({ fetch: neverAnswers, config });
    const { sub, grade } = await a.launchAndComplete();
    const claimedAt = clock.ms;
    void a.worker.runOnce();
    await vi.waitFor(async () => expect((await gradeRow(db, grade.id)).leaseOwner).not.toBeNull(), { timeout: 5_000, interval: 10 });
    const held = await gradeRow(db, grade.id);
    expect(held.leaseUntil!.getTime()).toBe(claimedAt + 300_000);

    // Worker B (another process, same configuration) respects the lease to the millisecond.
    const b = await bench({ config });
    clock.advance(299_999);
    expect(await b.worker.runOnce()).toBe(0);
    expect(await gradeRow(db, grade.id)).toEqual(held);
    clock.advance(2);
    expect(await b.worker.runOnce()).toBe(1);
    expect(await gradeRow(db, grade.id)).toMatchObject({ state: 'DELIVERED', attempts: 2, leaseOwner: null, leaseUntil: null });
    expect(b.scoresOf(sub)).toHaveLength(1);
  });

  it('a worker whose lease ran out while it waited does not overwrite what the next worker recorded', async () => {
    // Worker A's score POST hangs (its network stalls) until we let it answer 503.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let stalled!: () => void;
    const hasStalled = new Promise<void>((resolve) => (stalled = resolve));
    const stallingFetch: FetchLike = async (url, init) => {
      if (new URL(url).pathname.endsWith('/scores')) {
        stalled();
        await released;
        return new Response('{"error":"late"}', { status: 503 });
      }
      return fetch(url, init);
    };
    const a = await bench({ fetch: stallingFetch, deliveryPolicy: { leaseMs: 10_000, timeoutMs: 60_000 } });
    const { sub, grade } = await a.launchAndComplete();
    const aRun = a.worker.runOnce();
    await hasStalled;
    expect((await gradeRow(db, grade.id)).leaseOwner).not.toBeNull();

    // A's lease expires; worker B takes over and delivers.
    clock.advance(10_001);
    const b = await bench({ deliveryPolicy: { leaseMs: 10_000 } });
    expect(await b.worker.runOnce()).toBe(1);
    const delivered = await gradeRow(db, grade.id);
    expect(delivered).toMatchObject({ state: 'DELIVERED', attempts: 2 });

    // A finally hears back (503) and must not turn the delivered grade back into a retry.
    release();
    expect(await aRun).toBe(1);
    expect(await gradeRow(db, grade.id)).toEqual(delivered);
    expect(fixture.platform.scores.filter((s) => s.body.userId === sub)).toHaveLength(1);
  });
});
