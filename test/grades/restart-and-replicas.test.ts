/**
 * The grade outbox across processes: pending deliveries survive a restart (a new app on
 * the same database delivers them), several replicas polling at once never send the same
 * delivery twice, a crashed worker's lease expires and its rows are picked up, a live
 * lease is respected (also by a process whose clock is off), two grades of one learner and
 * line item go one after the other over all processes, and a worker that lost its lease
 * does not overwrite the outcome.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Database } from '../../server/db/client.ts';
import { hashCredential } from '../../server/lti/launch.ts';
import { AGS_SCOPE_SCORE, gradeDeliveryKey } from '../../server/grades/ags.ts';
import { DeliveryWorker } from '../../server/grades/delivery-worker.ts';
import type { FetchLike } from '../../server/http/limited-fetch.ts';
import { randomToken, uuidv7 } from '../../server/ids.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { createTestLogger } from '../helpers/test-logger.ts';
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

/**
 * Pending grades inserted directly (launches that were completed but not yet delivered). With
 * `gradesPerLearner` > 1, each learner has that many, of one placement, a second apart.
 */
async function insertPendingGrades(count: number, gradesPerLearner = 1): Promise<Array<{ gradeId: string; sub: string }>> {
  const now = clock.now();
  const subs = Array.from({ length: Math.ceil(count / gradesPerLearner) }, () => newSubject('replica'));
  const rows = Array.from({ length: count }, (_, i) => {
    const learner = Math.floor(i / gradesPerLearner);
    const sub = subs[learner]!;
    const completedAt = new Date(now.getTime() - (gradesPerLearner - 1 - (i % gradesPerLearner)) * 1_000);
    // A few placements (line items, each with a query string), many learners.
    const lineitem = fixture.platform.lineitemUrl(`block-v1:Org+Course+Run+type@lti_consumer+block@r${learner % 4}`);
    const launchId = uuidv7(completedAt.getTime());
    return {
      sub,
      launch: {
        id: launchId,
        appId: fixture.appId,
        registrationId: fixture.registrationId,
        deploymentId: fixture.platform.deploymentId,
        subject: sub,
        roles: [],
        resourceLinkId: `r${learner % 4}`,
        agsLineitem: lineitem,
        agsScopes: [AGS_SCOPE_SCORE],
        credentialHash: hashCredential(randomToken()),
        credentialExpiresAt: new Date(now.getTime() + 3_600_000),
        completedAt,
      },
      grade: {
        id: uuidv7(completedAt.getTime()),
        launchId,
        appId: fixture.appId,
        registrationId: fixture.registrationId,
        scoreGiven: 100,
        scoreMaximum: 100,
        state: 'PENDING' as const,
        nextAttemptAt: now,
        // As a completion writes it (server/grades/completion.ts).
        deliveryKey: gradeDeliveryKey(lineitem, sub),
        createdAt: completedAt,
      },
    };
  });
  await db.prisma.launch.createMany({ data: rows.map((r) => r.launch) });
  await db.prisma.grade.createMany({ data: rows.map((r) => r.grade) });
  return rows.map((r) => ({ gradeId: r.grade.id, sub: r.sub }));
}

/** A fetch whose score POSTs never answer (the worker stays mid-delivery), and a promise for the first. */
function stallingScores(): { fetch: FetchLike; posted: Promise<void> } {
  let posted!: () => void;
  const promise = new Promise<void>((resolve) => (posted = resolve));
  const stalling: FetchLike = async (url, init) => {
    if (!new URL(url).pathname.endsWith('/scores')) return fetch(url, init);
    posted();
    return new Promise<Response>(() => {});
  };
  return { fetch: stalling, posted: promise };
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

  it('three workers polling at once, 15 learners with two grades each for one placement: all delivered, each learner\'s in order', async () => {
    const policy = { batchSize: 4 };
    const workers = [await bench({ deliveryPolicy: policy }), await bench({ deliveryPolicy: policy }), await bench({ deliveryPolicy: policy })];
    const attemptsBefore = fixture.platform.scoreAttempts.length;
    const scoresBefore = fixture.platform.scores.length;
    const grades = await insertPendingGrades(30, 2);
    for (let round = 0; round < 20; round++) {
      await Promise.all(workers.map((w) => w.worker.runOnce()));
      if ((await db.prisma.grade.count({ where: { state: 'PENDING' } })) === 0) break;
      // The next poll comes a second later.
      clock.advance(1_000);
    }
    const rows = await db.prisma.grade.findMany({ where: { id: { in: grades.map((g) => g.gradeId) } } });
    expect(rows.filter((r) => r.state !== 'DELIVERED' || r.attempts !== 1)).toEqual([]);
    expect(fixture.platform.scoreAttempts.slice(attemptsBefore).filter((a) => a.status !== 200)).toEqual([]);
    // Per learner: the older grade first, with the earlier timestamp.
    const byId = new Map(rows.map((r) => [r.id, r]));
    const scores = fixture.platform.scores.slice(scoresBefore);
    for (let i = 0; i < grades.length; i += 2) {
      const [older, newer] = [byId.get(grades[i]!.gradeId)!, byId.get(grades[i + 1]!.gradeId)!];
      expect(newer.deliveredAt!.getTime()).toBeGreaterThan(older.deliveredAt!.getTime());
      const timestamps = scores.filter((x) => x.body.userId === grades[i]!.sub).map((x) => Date.parse(String(x.body.timestamp)));
      expect(timestamps).toHaveLength(2);
      expect(timestamps[1]!).toBeGreaterThan(timestamps[0]!);
    }
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
    const stalling = stallingScores();
    const config = { gradeDeliveryLeaseSeconds: 300, gradeDeliveryTimeoutSeconds: 100 };
    const a = await bench({ fetch: stalling.fetch, config });
    const { sub, grade } = await a.launchAndComplete();
    const claimedAt = clock.ms;
    void a.worker.runOnce();
    // A is mid-delivery (its token request done, its score POST out) before the clock moves:
    // a token request still under way when the clock jumps could fail on its own instead.
    await stalling.posted;
    const held = await gradeRow(db, grade.id);
    expect(held.leaseOwner).not.toBeNull();
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
    // Worker A's score POST hangs (its network stalls) until we let it answer. Its late answer
    // is the one a stale POST gets once a newer one landed: 400, which would mean FAILED.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let stalled!: () => void;
    const hasStalled = new Promise<void>((resolve) => (stalled = resolve));
    const stallingFetch: FetchLike = async (url, init) => {
      if (new URL(url).pathname.endsWith('/scores')) {
        stalled();
        await released;
        return new Response('{"error":"timestamp must be later than the last score stored for this user"}', { status: 400 });
      }
      return fetch(url, init);
    };
    const a = await bench({ fetch: stallingFetch, deliveryPolicy: { leaseMs: 10_000, timeoutMs: 60_000 } });
    const { sub, grade } = await a.launchAndComplete();
    const aRun = a.worker.runOnce();
    await hasStalled;
    expect((await gradeRow(db, grade.id)).leaseOwner).not.toBeNull();

    // A's lease expires; worker B takes over, and its attempt is to be retried (503). The row
    // stays PENDING: only the lease owner check can keep A's late outcome out of it.
    clock.advance(10_001);
    const b = await bench({ deliveryPolicy: { leaseMs: 10_000 } });
    fixture.platform.failNext('scores', { status: 503 });
    expect(await b.worker.runOnce()).toBe(1);
    const retrying = await gradeRow(db, grade.id);
    expect(retrying).toMatchObject({ state: 'PENDING', attempts: 2, lastStatus: 503, leaseOwner: null, leaseUntil: null });

    // A finally hears back (400) and must not turn B's retry into a failure.
    release();
    expect(await aRun).toBe(1);
    expect(await gradeRow(db, grade.id)).toEqual(retrying);

    // B's retry then delivers it.
    clock.advanceTo(retrying.nextAttemptAt!);
    expect(await b.worker.runOnce()).toBe(1);
    expect(await gradeRow(db, grade.id)).toMatchObject({ state: 'DELIVERED', attempts: 3 });
    expect(b.scoresOf(sub)).toHaveLength(1);
  });

  it('two grades of one learner and line item, claimed by two workers at once, are both delivered, oldest first', async () => {
    // Open edX refuses (400) a score whose timestamp is not later than the stored one: two
    // processes sending one learner's grades for one line item at once end in a false FAILED.
    const a = await bench({ deliveryPolicy: { batchSize: 1 } });
    const b = await bench({ deliveryPolicy: { batchSize: 1 } });
    const sub = newSubject('two-workers');
    const first = await a.launchAndComplete({ sub });
    clock.advance(60_000);
    const second = await b.launchAndComplete({ sub });
    clock.advance(1_000);

    // Both poll at once: one takes the older grade, the other must not take the newer.
    const round1 = await Promise.all([a.worker.runOnce(), b.worker.runOnce()]);
    expect(await gradeRow(db, first.grade.id)).toMatchObject({ state: 'DELIVERED', attempts: 1 });
    expect(await gradeRow(db, second.grade.id)).toMatchObject({ state: 'PENDING', attempts: 0, leaseOwner: null });
    expect(round1.sort()).toEqual([0, 1]);

    // The next poll (a second later): the newer one, by whichever worker gets it.
    clock.advance(1_000);
    const round2 = await Promise.all([a.worker.runOnce(), b.worker.runOnce()]);
    expect(round2.sort()).toEqual([0, 1]);
    const [firstRow, secondRow] = [await gradeRow(db, first.grade.id), await gradeRow(db, second.grade.id)];
    expect(secondRow).toMatchObject({ state: 'DELIVERED', attempts: 1 });
    expect(secondRow.deliveredAt!.getTime()).toBeGreaterThan(firstRow.deliveredAt!.getTime());
    const posts = fixture.platform.scoreAttempts.slice(-2);
    expect(posts.map((p) => p.status)).toEqual([200, 200]);
    const stored = fixture.platform.scores.filter((s) => s.body.userId === sub).map((s) => Date.parse(String(s.body.timestamp)));
    expect(stored).toHaveLength(2);
    expect(stored[1]!).toBeGreaterThan(stored[0]!);
  });
});

describe('the database session in another time zone', () => {
  it('is not clock skew: leases and delivery times stay on the shared clock', async () => {
    const b = await bench();
    const { sub, grade } = await b.launchAndComplete();
    // A PostgreSQL whose default time zone is local (initdb takes the system's). The pool
    // hands the last released connection out again, and this checks it did.
    await db.prisma.$executeRawUnsafe(`SET TimeZone = 'America/New_York'`);
    try {
      const [zone] = await db.prisma.$queryRawUnsafe<Array<{ TimeZone: string }>>('SHOW TimeZone');
      expect(zone!.TimeZone).toBe('America/New_York');
      expect(await b.worker.runOnce()).toBe(1);
      // Hours of shift (the zone's offset read as skew) would show in the stored times.
      expect(await gradeRow(db, grade.id)).toMatchObject({ state: 'DELIVERED', attempts: 1, deliveredAt: clock.now() });
      expect(b.scoresOf(sub).map((s) => s.body.timestamp)).toEqual([clock.now().toISOString()]);
    } finally {
      await db.prisma.$executeRawUnsafe('RESET TimeZone');
    }
  });
});

describe('a process whose clock is off the database\'s', () => {
  /** Longer than any lease here: enough to steal one or to write one already expired. */
  const SKEW_MS = 120_000;

  /** A worker in another process whose clock (its own and so its `now`) is off by `skewMs`. */
  function skewedWorker(skewMs: number, fetchImpl: FetchLike, accessTokens: Bench['tool']['app']['accessTokens']): DeliveryWorker {
    return new DeliveryWorker({
      prisma: db.prisma,
      fetch: fetchImpl,
      accessTokens,
      logger: createTestLogger().child({ job: 'grade-delivery' }),
      now: () => new Date(clock.ms + skewMs),
      wallClockMs: () => Date.now() + skewMs,
      policy: { leaseMs: 60_000 },
    });
  }


  it('ahead by more than a lease: it leaves a live lease alone', async () => {
    const stalling = stallingScores();
    const a = await bench({ fetch: stalling.fetch, deliveryPolicy: { leaseMs: 60_000 } });
    const { sub, grade } = await a.launchAndComplete();
    void a.worker.runOnce();
    await stalling.posted;
    const held = await gradeRow(db, grade.id);
    expect(held.leaseUntil!.getTime()).toBe(clock.ms + 60_000);

    const b = await bench();
    const ahead = skewedWorker(SKEW_MS, fetch, b.tool.app.accessTokens);
    expect(await ahead.runOnce()).toBe(0);
    expect(await gradeRow(db, grade.id)).toEqual(held);

    // Once the lease has run out on the database's clock, it takes over. (A second past it:
    // its correction is measured, so it is only within half a database round trip.)
    clock.advance(61_000);
    expect(await ahead.runOnce()).toBe(1);
    expect(await gradeRow(db, grade.id)).toMatchObject({ state: 'DELIVERED', attempts: 2 });
    expect(b.scoresOf(sub)).toHaveLength(1);
  });

  it('a completion recorded by a process that is ahead: its grade is delivered at once, not when that clock said "now"', async () => {
    const b = await bench();
    const { sub, grade } = await b.launchAndComplete();
    // The due time a completing process SKEW_MS ahead writes.
    await db.prisma.grade.update({ where: { id: grade.id }, data: { nextAttemptAt: new Date(clock.ms + SKEW_MS) } });
    expect(await b.worker.runOnce()).toBe(1);
    expect(await gradeRow(db, grade.id)).toMatchObject({ state: 'DELIVERED', attempts: 1 });
    expect(b.scoresOf(sub)).toHaveLength(1);
  });

  it('behind by more than a lease: the lease it writes is live for the others', async () => {
    const stalling = stallingScores();
    const b = await bench();
    const { sub, grade } = await b.launchAndComplete();
    // A retry that came due an hour ago: due on any of the clocks here.
    await db.prisma.grade.update({ where: { id: grade.id }, data: { nextAttemptAt: new Date(clock.ms - 3_600_000) } });
    const behind = skewedWorker(-SKEW_MS, stalling.fetch, b.tool.app.accessTokens);
    const run = behind.runOnce();
    await Promise.race([stalling.posted, run.then((n) => Promise.reject(new Error(`claimed ${n} and sent nothing`)))]);
    const held = await gradeRow(db, grade.id);
    // Its lease ends a lease from now on the database's clock, not in the past.
    expect(held.leaseUntil!.getTime()).toBeGreaterThan(clock.ms + 30_000);

    expect(await b.worker.runOnce()).toBe(0);
    expect(await gradeRow(db, grade.id)).toEqual(held);
    clock.advanceTo(held.leaseUntil!.getTime() + 1);
    expect(await b.worker.runOnce()).toBe(1);
    expect(await gradeRow(db, grade.id)).toMatchObject({ state: 'DELIVERED', attempts: 2 });
    expect(b.scoresOf(sub)).toHaveLength(1);
  });
});
