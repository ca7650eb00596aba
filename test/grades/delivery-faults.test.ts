/**
 * Grade delivery against a misbehaving platform: the token and score endpoints fail,
 * hang or go away for a while, and the worker must deliver exactly once after recovery,
 * give up on permanent refusals with the reason recorded, and speak AGS correctly.
 * Time is driven by hand: the worker runs once per attempt and the clock (shared with
 * the platform, which checks assertion expiry against it) jumps to the next attempt.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Database } from '../../server/db/client.ts';
import { ASSERTION_IAT_BACKDATE_S, ASSERTION_LIFETIME_S } from '../../server/grades/access-tokens.ts';
import { AGS_SCOPE_SCORE, gradeDeliveryKey, SCORE_CONTENT_TYPE } from '../../server/grades/ags.ts';
import { DeliveryWorker, INVALID_CLIENT_HINT, type DeliveryPolicy } from '../../server/grades/delivery-worker.ts';
import type { FetchLike } from '../../server/http/limited-fetch.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { CLIENT_ASSERTION_TYPE, type Fault, type FaultEndpoint } from '../helpers/platform.ts';
import { createTestLogger } from '../helpers/test-logger.ts';
import {
  createClock,
  deliverUntilSettled,
  gradeRow,
  newSubject,
  startBench,
  startPlatformFixture,
  type Bench,
  type Clock,
  type PlatformFixture,
} from './fixtures.ts';

// The timeout also bounds the token request (app.ts hands it to the token cache): generous,
// so a slow machine never turns one attempt into two. The hanging answers use SCORE_TIMEOUT_MS.
/** Fewer than POLICY.maxAttempts, so the tests see which of the two limits applied. */
const CREDENTIAL_REFUSAL_ATTEMPTS = 4;
const POLICY: Partial<DeliveryPolicy> = {
  baseBackoffMs: 1_000,
  maxBackoffMs: 60_000,
  timeoutMs: 5_000,
  maxAttempts: 8,
  credentialRefusalAttempts: CREDENTIAL_REFUSAL_ATTEMPTS,
  leaseMs: 30_000,
};
/** The score POST's timeout where the platform hangs on purpose (see workerWithShortScoreTimeout). */
const SCORE_TIMEOUT_MS = 1_000;
/** How long the platform hangs: well past SCORE_TIMEOUT_MS. */
const HANG_MS = 2_500;

let db: Database;
let clock: Clock;
let fixture: PlatformFixture;
let bench: Bench;
/** While true, the tool's outbound HTTP fails as if the platform's host were unreachable. */
let networkDown = false;
/**
 * When set, the platform's answer to a score POST is replaced by what this returns: the POST
 * itself reached the platform (which stored the score and answered), only the answer differs.
 */
let rewriteScoreAnswer: ((answer: Response, signal: AbortSignal | undefined) => Response) | undefined;

const toolFetch: FetchLike = async (url, init) => {
  if (networkDown) throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
  const answer = await fetch(url, init);
  if (!rewriteScoreAnswer || !new URL(url).pathname.endsWith('/scores')) return answer;
  await answer.arrayBuffer();
  return rewriteScoreAnswer(answer, init?.signal ?? undefined);
};

beforeAll(async () => {
  db = await createTestDatabase();
  clock = createClock();
  fixture = await startPlatformFixture(db, { clock });
});
afterAll(async () => {
  await fixture.close();
  await db.close();
});

// A fresh tool server (token cache, worker) per test; the platform's records are counted from its start.
beforeEach(async () => {
  networkDown = false;
  rewriteScoreAnswer = undefined;
  bench = await startBench(fixture, { deliveryPolicy: POLICY, fetch: toolFetch });
});
afterEach(async () => {
  await bench.close();
  // Nothing may be left for the next test's worker.
  expect(await db.prisma.grade.count({ where: { state: 'PENDING' } })).toBe(0);
});

function tokenRequestsOk() {
  return bench.tokenRequests().filter((t) => t.ok);
}

/**
 * The bench's worker, but with a short score POST timeout, for the platform that hangs on
 * purpose: only the score POST gets it, the token request keeps the bench's generous one
 * (this worker shares the bench's token cache).
 */
function workerWithShortScoreTimeout(): DeliveryWorker {
  return new DeliveryWorker({
    prisma: db.prisma,
    fetch: toolFetch,
    accessTokens: bench.tool.app.accessTokens,
    logger: createTestLogger().child({ job: 'grade-delivery' }),
    now: clock.now,
    policy: { ...POLICY, timeoutMs: SCORE_TIMEOUT_MS },
  });
}

/** One delivery attempt of this grade, when it is due (the clock moved to it): its row after. */
async function deliverOnce(gradeId: string) {
  const row = await gradeRow(db, gradeId);
  if (row.nextAttemptAt) clock.advanceTo(row.nextAttemptAt);
  await bench.worker.runOnce();
  return gradeRow(db, gradeId);
}

describe('recovers from transient faults and delivers exactly once', () => {
  it.each<[string, FaultEndpoint, Fault[], number]>([
    ['token endpoint 500, then OK', 'token', [{ status: 500 }], 2],
    ['token endpoint 503 twice', 'token', [{ status: 503 }, { status: 503 }], 3],
    ['score endpoint 500', 'scores', [{ status: 500 }], 2],
    ['score endpoint 503 twice', 'scores', [{ status: 503 }, { status: 503 }], 3],
    ['score endpoint 502 with an HTML page', 'scores', [{ status: 502, body: '<html><h1>Bad Gateway</h1></html>' }], 2],
    // Both are defined as worth repeating (RFC 9110 §15.5.9, RFC 8470 §5.2).
    ['score endpoint 408 Request Timeout', 'scores', [{ status: 408 }], 2],
    ['score endpoint 425 Too Early', 'scores', [{ status: 425 }], 2],
    ['token endpoint 408 Request Timeout', 'token', [{ status: 408 }], 2],
    ['token endpoint 425 Too Early', 'token', [{ status: 425 }], 2],
    ['score endpoint hanging past the timeout', 'scores', [{ hangMs: HANG_MS, status: 503 }], 2],
  ])('%s', async (_label, endpoint, faults, attemptsToDeliver) => {
    bench.platform.failNext(endpoint, ...faults);
    const { sub, grade } = await bench.launchAndComplete();
    expect(grade).toMatchObject({ state: 'PENDING', attempts: 0 });

    const worker = faults[0]!.hangMs ? workerWithShortScoreTimeout() : bench.worker;
    const history = await deliverUntilSettled(worker, db, clock, grade.id);
    expect(history).toHaveLength(attemptsToDeliver);
    for (const failed of history.slice(0, -1)) {
      expect(failed.state).toBe('PENDING');
      expect(failed.leaseOwner).toBeNull();
      expect(failed.nextAttemptAt).not.toBeNull();
      if (faults[0]!.hangMs) {
        expect(failed.lastError).toMatch(new RegExp(`score service: no answer within ${SCORE_TIMEOUT_MS} ms`));
        expect(failed.lastStatus).toBeNull();
      } else {
        expect(failed.lastStatus).toBe(faults[0]!.status);
        expect(failed.lastError).toContain(`${endpoint === 'token' ? 'token endpoint' : 'score service'} answered ${faults[0]!.status}`);
      }
    }
    expect(history.at(-1)).toMatchObject({
      state: 'DELIVERED',
      attempts: attemptsToDeliver,
      lastError: null,
      lastStatus: null,
      nextAttemptAt: null,
      leaseOwner: null,
      leaseUntil: null,
      deliveredAt: clock.now(),
    });
    expect(bench.scoresOf(sub)).toHaveLength(1);
    expect(bench.scoresOf(sub)[0]!.body).toMatchObject({ scoreGiven: 100, scoreMaximum: 100 });
    // Nothing more to do.
    clock.advance(3_600_000);
    expect(await worker.runOnce()).toBe(0);
    if (faults[0]!.hangMs) {
      // The platform answers the abandoned request eventually; let it, so it stays in this test's records.
      await vi.waitFor(() => expect(bench.scoreAttempts().map((a) => a.status)).toEqual([200, 503]), { timeout: 5_000, interval: 50 });
    }
  });

  it('platform down for a while (network errors, then 503s from both endpoints) → delivered once after recovery', async () => {
    const { sub, grade } = await bench.launchAndComplete();
    networkDown = true;
    await bench.worker.runOnce();
    await bench.worker.runOnce(); // not due yet: nothing happens
    let row = await gradeRow(db, grade.id);
    expect(row).toMatchObject({ state: 'PENDING', attempts: 1, lastStatus: null });
    expect(row.lastError).toMatch(/^token endpoint: request failed: fetch failed/);
    clock.advanceTo(row.nextAttemptAt!);
    await bench.worker.runOnce();
    row = await gradeRow(db, grade.id);
    expect(row).toMatchObject({ state: 'PENDING', attempts: 2 });

    // The host is back, but the service is still starting.
    networkDown = false;
    bench.platform.failNext('token', { status: 503 }, { status: 503 });
    bench.platform.failNext('scores', { status: 503 }, { status: 503 });
    const history = await deliverUntilSettled(bench.worker, db, clock, grade.id);
    expect(history.map((h) => h.lastStatus)).toEqual([503, 503, 503, 503, null]);
    expect(history.at(-1)).toMatchObject({ state: 'DELIVERED', attempts: 7 });
    expect(bench.scoresOf(sub)).toHaveLength(1);
    expect(bench.scoreAttempts().map((a) => a.status)).toEqual([503, 503, 200]);
    // The token was requested until granted, then reused by the later attempts.
    expect(tokenRequestsOk()).toHaveLength(1);
  });

  it('a timed-out request that lands late is not counted twice (the retry carries a later timestamp)', async () => {
    // The platform sits on the first score POST past our timeout, then stores it anyway.
    bench.platform.failNext('scores', { hangMs: HANG_MS });
    const { sub, grade } = await bench.launchAndComplete();
    const history = await deliverUntilSettled(workerWithShortScoreTimeout(), db, clock, grade.id);
    expect(history.map((h) => h.state)).toEqual(['PENDING', 'DELIVERED']);
    // Wait for the late one to be answered, then count.
    await vi.waitFor(() => expect(bench.scoreAttempts()).toHaveLength(2), { timeout: 5_000, interval: 50 });
    expect(bench.scoreAttempts().map((a) => a.status)).toEqual([200, 400]);
    expect(bench.scoreAttempts()[1]!.error).toMatch(/timestamp must be later/);
    expect(bench.scoresOf(sub)).toHaveLength(1);
  });

  it('429 with Retry-After: 30 → next attempt no sooner than 30 s later', async () => {
    bench.platform.failNext('scores', { status: 429, headers: { 'retry-after': '30' } });
    const { grade } = await bench.launchAndComplete();
    const attemptAt = clock.ms;
    await bench.worker.runOnce();
    const row = await gradeRow(db, grade.id);
    expect(row).toMatchObject({ state: 'PENDING', attempts: 1, lastStatus: 429 });
    expect(row.nextAttemptAt!.getTime() - attemptAt).toBeGreaterThanOrEqual(30_000);
    clock.advance(29_000);
    expect(await bench.worker.runOnce()).toBe(0);
    const history = await deliverUntilSettled(bench.worker, db, clock, grade.id);
    expect(history.at(-1)).toMatchObject({ state: 'DELIVERED', attempts: 2 });
  });

  it('a Retry-After longer than the longest backoff is capped by it', async () => {
    bench.platform.failNext('scores', { status: 503, headers: { 'retry-after': String(30 * 86_400) } });
    const { grade } = await bench.launchAndComplete();
    const attemptAt = clock.ms;
    await bench.worker.runOnce();
    const row = await gradeRow(db, grade.id);
    expect(row).toMatchObject({ state: 'PENDING', lastStatus: 503 });
    expect(row.nextAttemptAt!.getTime() - attemptAt).toBe(POLICY.maxBackoffMs);
    expect((await deliverUntilSettled(bench.worker, db, clock, grade.id)).at(-1)!.state).toBe('DELIVERED');
  });

  it('token endpoint 429 with an HTTP-date Retry-After is honoured too', async () => {
    const attemptAt = clock.ms;
    bench.platform.failNext('token', { status: 429, headers: { 'retry-after': new Date(attemptAt + 45_000).toUTCString() } });
    const { grade } = await bench.launchAndComplete();
    await bench.worker.runOnce();
    const row = await gradeRow(db, grade.id);
    expect(row).toMatchObject({ state: 'PENDING', lastStatus: 429 });
    // HTTP dates have whole seconds.
    expect(row.nextAttemptAt!.getTime() - attemptAt).toBeGreaterThanOrEqual(44_000);
    expect(row.nextAttemptAt!.getTime() - attemptAt).toBeLessThanOrEqual(45_000);
    expect((await deliverUntilSettled(bench.worker, db, clock, grade.id)).at(-1)!.state).toBe('DELIVERED');
  });

  it('backoff grows exponentially within ±20 % jitter, and is capped', async () => {
    bench.platform.failNext('scores', ...Array.from({ length: 7 }, () => ({ status: 503 })));
    const { grade } = await bench.launchAndComplete();
    const delays: number[] = [];
    for (let attempt = 1; attempt <= 7; attempt++) {
      const startedAt = clock.ms;
      await bench.worker.runOnce();
      const row = await gradeRow(db, grade.id);
      expect(row).toMatchObject({ state: 'PENDING', attempts: attempt });
      delays.push(row.nextAttemptAt!.getTime() - startedAt);
      clock.advanceTo(row.nextAttemptAt!);
    }
    delays.forEach((delay, i) => {
      const base = Math.min(60_000, 1_000 * 2 ** i);
      expect(delay, `attempt ${i + 1}`).toBeGreaterThanOrEqual(Math.floor(base * 0.8));
      expect(delay, `attempt ${i + 1}`).toBeLessThanOrEqual(Math.min(60_000, Math.ceil(base * 1.2)));
    });
    expect(delays[2]!).toBeGreaterThan(delays[0]!);
    expect(delays[6]!).toBeLessThanOrEqual(60_000);
    expect((await deliverUntilSettled(bench.worker, db, clock, grade.id)).at(-1)).toMatchObject({ state: 'DELIVERED', attempts: 8 });
  });

  it('gives up after maxAttempts: FAILED "gave up" with the last error, and no more attempts', async () => {
    bench.platform.failNext('scores', ...Array.from({ length: 8 }, () => ({ status: 503 })));
    const { sub, grade } = await bench.launchAndComplete();
    const history = await deliverUntilSettled(bench.worker, db, clock, grade.id);
    expect(history).toHaveLength(8);
    expect(history.at(-1)).toMatchObject({ state: 'FAILED', attempts: 8, lastStatus: 503, nextAttemptAt: null, leaseOwner: null });
    expect(history.at(-1)!.lastError).toMatch(/^gave up after 8 attempts; last: score service answered 503/);
    clock.advance(3_600_000);
    expect(await bench.worker.runOnce()).toBe(0);
    expect(bench.scoresOf(sub)).toHaveLength(0);
    expect(bench.scoreAttempts()).toHaveLength(8);
  });
});

describe('a 2xx whose body cannot be read is still delivered', () => {
  // The status line is the platform's verdict; the score answer's body is never needed.
  it('200 with a 70 KB body (over the 64 KiB cap) → DELIVERED after exactly one POST', async () => {
    rewriteScoreAnswer = (answer) => new Response(`{"padding":"${'x'.repeat(70 * 1024)}"}`, { status: answer.status });
    const { sub, grade } = await bench.launchAndComplete();
    expect(await bench.worker.runOnce()).toBe(1);
    expect(await gradeRow(db, grade.id)).toMatchObject({ state: 'DELIVERED', attempts: 1, lastError: null, deliveredAt: clock.now() });
    clock.advance(3_600_000);
    expect(await bench.worker.runOnce()).toBe(0);
    expect(bench.scoreAttempts().map((a) => a.status)).toEqual([200]);
    expect(bench.scoresOf(sub)).toHaveLength(1);
  });

  it('200 whose body breaks off (connection reset mid-body) → DELIVERED after exactly one POST', async () => {
    rewriteScoreAnswer = (answer) => {
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('{"userId":'));
          controller.error(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
        },
      });
      return new Response(body, { status: answer.status, headers: { 'content-type': 'application/json' } });
    };
    const { sub, grade } = await bench.launchAndComplete();
    expect(await bench.worker.runOnce()).toBe(1);
    expect(await gradeRow(db, grade.id)).toMatchObject({ state: 'DELIVERED', attempts: 1, lastError: null });
    expect(bench.scoreAttempts().map((a) => a.status)).toEqual([200]);
    expect(bench.scoresOf(sub)).toHaveLength(1);
  });

  it('200 whose body stalls past the timeout → DELIVERED after exactly one POST', async () => {
    rewriteScoreAnswer = (answer, signal) => {
      // The first bytes come, the rest never does; the stream ends only when the request is aborted.
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('{"userId":'));
          signal?.addEventListener('abort', () => controller.error(signal.reason), { once: true });
        },
      });
      return new Response(body, { status: answer.status, headers: { 'content-type': 'application/json' } });
    };
    const { sub, grade } = await bench.launchAndComplete();
    const worker = workerWithShortScoreTimeout();
    expect(await worker.runOnce()).toBe(1);
    expect(await gradeRow(db, grade.id)).toMatchObject({ state: 'DELIVERED', attempts: 1, lastError: null });
    clock.advance(3_600_000);
    expect(await worker.runOnce()).toBe(0);
    expect(bench.scoreAttempts().map((a) => a.status)).toEqual([200]);
    expect(bench.scoresOf(sub)).toHaveLength(1);
  });
});

describe('only the answers by which a score service says it stored a score count as delivered', () => {
  it.each([201, 202, 203, 204])('%i → DELIVERED after one POST', async (status) => {
    rewriteScoreAnswer = () => new Response(status === 204 ? null : '{}', { status });
    const { grade } = await bench.launchAndComplete();
    expect(await bench.worker.runOnce()).toBe(1);
    expect(await gradeRow(db, grade.id)).toMatchObject({ state: 'DELIVERED', attempts: 1, lastError: null });
    expect(bench.scoreAttempts()).toHaveLength(1);
  });

  it.each([206, 207, 226])('%i (another 2xx) → FAILED with the reason, not DELIVERED, and not sent again', async (status) => {
    rewriteScoreAnswer = () => new Response('{}', { status });
    const { grade } = await bench.launchAndComplete();
    expect(await bench.worker.runOnce()).toBe(1);
    const row = await gradeRow(db, grade.id);
    expect(row).toMatchObject({ state: 'FAILED', attempts: 1, lastStatus: status, deliveredAt: null, nextAttemptAt: null });
    expect(row.lastError).toBe(`score service answered ${status}, which is not an answer by which a score service says it stored a score (200, 201, 202, 203, 204)`);
    clock.advance(3_600_000);
    expect(await bench.worker.runOnce()).toBe(0);
    expect(bench.scoreAttempts()).toHaveLength(1);
  });
});

describe('an answer whose text PostgreSQL cannot store (a NUL byte)', () => {
  it('503 whose body holds a NUL → the retry is recorded (NUL shown as U+FFFD), then delivered', async () => {
    bench.platform.failNext('scores', { status: 503, body: 'upstream\u0000gateway' });
    const { sub, grade } = await bench.launchAndComplete();
    expect(await bench.worker.runOnce()).toBe(1);
    const row = await gradeRow(db, grade.id);
    expect(row).toMatchObject({ state: 'PENDING', attempts: 1, lastStatus: 503, leaseOwner: null, leaseUntil: null });
    expect(row.lastError).toBe('score service answered 503: upstream\uFFFDgateway');
    expect(row.nextAttemptAt!.getTime()).toBeGreaterThan(clock.now().getTime());
    expect(await deliverOnce(grade.id)).toMatchObject({ state: 'DELIVERED', attempts: 2 });
    expect(bench.scoresOf(sub)).toHaveLength(1);
  });

  it('400 whose body holds a NUL → FAILED with the reason', async () => {
    bench.platform.failNext('scores', { status: 400, body: 'bad\u0000request' });
    const { grade } = await bench.launchAndComplete();
    await bench.worker.runOnce();
    expect(await gradeRow(db, grade.id)).toMatchObject({ state: 'FAILED', attempts: 1, lastStatus: 400, lastError: 'score service answered 400: bad\uFFFDrequest' });
  });
});

describe('an outcome that cannot be written', () => {
  it('does not abandon the other deliveries of its batch: the poll ends only when every outcome is settled', async () => {
    // The first "delivered" write of the batch fails in the database (a sequence is not rolled
    // back with the failing statement, so only the first one does).
    try {
      await db.prisma.$executeRawUnsafe('CREATE SEQUENCE "test_outcome_write"');
      await db.prisma.$executeRawUnsafe(`
        CREATE FUNCTION "test_fail_first_delivered"() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW."state" = 'DELIVERED' THEN
            IF nextval('"test_outcome_write"') = 1 THEN
              RAISE EXCEPTION 'injected: the outcome write failed';
            END IF;
          END IF;
          RETURN NEW;
        END $$`);
      await db.prisma.$executeRawUnsafe(
        'CREATE TRIGGER "test_fail_first_delivered" BEFORE UPDATE ON "Grade" FOR EACH ROW EXECUTE FUNCTION "test_fail_first_delivered"()',
      );
      const first = await bench.launchAndComplete();
      const second = await bench.launchAndComplete();
      // One score POST is answered at once (its write fails), the other only after a while.
      bench.platform.failNext('scores', { hangMs: 400 });
      const poll = await bench.worker.runOnce().then(
        () => undefined,
        (err: Error) => err,
      );
      expect(poll?.message).toBe('1 of 2 delivery outcomes could not be recorded');
      expect(String((poll?.cause as Error | undefined)?.message)).toMatch(/injected: the outcome write failed/);
      const rows = await Promise.all([gradeRow(db, first.grade.id), gradeRow(db, second.grade.id)]);
      // The slow one was awaited and written before the poll reported the failure.
      expect(rows.map((r) => r.state).sort()).toEqual(['DELIVERED', 'PENDING']);
      const stuck = rows.find((r) => r.state === 'PENDING')!;
      expect(stuck.leaseOwner).not.toBeNull();
      // The failed write left the row leased: once the lease runs out it is sent (again) and written.
      clock.advanceTo(stuck.leaseUntil!);
      clock.advance(1);
      expect(await bench.worker.runOnce()).toBe(1);
      expect((await gradeRow(db, stuck.id)).state).toBe('DELIVERED');
    } finally {
      await db.prisma.$executeRawUnsafe('DROP TRIGGER IF EXISTS "test_fail_first_delivered" ON "Grade"');
      await db.prisma.$executeRawUnsafe('DROP FUNCTION IF EXISTS "test_fail_first_delivered"()');
      await db.prisma.$executeRawUnsafe('DROP SEQUENCE IF EXISTS "test_outcome_write"');
    }
  });
});

describe('access token refresh on 401/403', () => {
  it('401 once from the score service → a new token and delivery within the same attempt', async () => {
    const { sub, grade } = await bench.launchAndComplete();
    bench.platform.failNext('scores', { status: 401 });
    expect(await bench.worker.runOnce()).toBe(1);
    expect(await gradeRow(db, grade.id)).toMatchObject({ state: 'DELIVERED', attempts: 1 });
    expect(bench.scoreAttempts().map((a) => a.status)).toEqual([401, 200]);
    expect(tokenRequestsOk()).toHaveLength(2);
    expect(bench.scoresOf(sub)).toHaveLength(1);
  });

  it('403 twice → FAILED with lastStatus 403 after one token refresh, and not retried', async () => {
    const { sub, grade } = await bench.launchAndComplete();
    bench.platform.failNext('scores', { status: 403, body: 'access token lacks the score scope' }, { status: 403 });
    await bench.worker.runOnce();
    const row = await gradeRow(db, grade.id);
    expect(row).toMatchObject({ state: 'FAILED', attempts: 1, lastStatus: 403, nextAttemptAt: null });
    expect(row.lastError).toMatch(/score service answered 403/);
    expect(tokenRequestsOk()).toHaveLength(2);
    clock.advance(3_600_000);
    expect(await bench.worker.runOnce()).toBe(0);
    expect(bench.scoreAttempts()).toHaveLength(2);
    expect(bench.scoresOf(sub)).toHaveLength(0);
  });

  it('a token the platform no longer knows (403 from its own check) is replaced and the score delivered', async () => {
    // The first delivery caches a token; the platform then refuses it (restarted, token revoked…).
    const first = await bench.launchAndComplete();
    await bench.worker.runOnce();
    expect((await gradeRow(db, first.grade.id)).state).toBe('DELIVERED');
    bench.platform.failNext('scores', { status: 403, body: '{"error":"unknown or expired access token"}' });
    const second = await bench.launchAndComplete();
    await bench.worker.runOnce();
    expect(await gradeRow(db, second.grade.id)).toMatchObject({ state: 'DELIVERED', attempts: 1 });
    expect(tokenRequestsOk()).toHaveLength(2);
  });
});

describe('permanent refusals', () => {
  it('400 from the score service → FAILED with status and an excerpt of the body; one attempt only', async () => {
    const detail = 'Invalid score: the learner is not enrolled in course-v1:Org+Course+Run.';
    bench.platform.failNext('scores', { status: 400, body: `${detail}\n${'padding '.repeat(200)}` });
    const { sub, grade } = await bench.launchAndComplete();
    await bench.worker.runOnce();
    const row = await gradeRow(db, grade.id);
    expect(row).toMatchObject({ state: 'FAILED', attempts: 1, lastStatus: 400, nextAttemptAt: null, deliveredAt: null });
    expect(row.lastError).toContain(`score service answered 400: ${detail}`);
    // An excerpt, not the whole body.
    expect(row.lastError!.length).toBeLessThan(400);
    expect(row.lastError!.endsWith('…')).toBe(true);
    clock.advance(3_600_000);
    expect(await bench.worker.runOnce()).toBe(0);
    expect(bench.scoreAttempts()).toHaveLength(1);
    expect(bench.scoresOf(sub)).toHaveLength(0);
  });

  it.each([404, 409, 415, 422])('%i from the score service is permanent too', async (status) => {
    bench.platform.failNext('scores', { status });
    const { grade } = await bench.launchAndComplete();
    await bench.worker.runOnce();
    expect(await gradeRow(db, grade.id)).toMatchObject({ state: 'FAILED', attempts: 1, lastStatus: status });
    expect(bench.scoreAttempts()).toHaveLength(1);
  });

  it('a queued line item URL with credentials (queued before completions refused it) → FAILED with the reason, nothing sent', async () => {
    const { launchId, grade } = await bench.launchAndComplete();
    const lineitem = new URL((await db.prisma.launch.findUniqueOrThrow({ where: { id: launchId } })).agsLineitem!);
    lineitem.username = 'grader';
    lineitem.password = 'hunter2';
    await db.prisma.launch.update({ where: { id: launchId }, data: { agsLineitem: lineitem.toString() } });
    await bench.worker.runOnce();
    const row = await gradeRow(db, grade.id);
    expect(row).toMatchObject({ state: 'FAILED', attempts: 1, lastStatus: null, nextAttemptAt: null, leaseOwner: null });
    expect(row.lastError).toBe('line item: the URL carries credentials (user:password@), which are never sent');
    clock.advance(3_600_000);
    expect(await bench.worker.runOnce()).toBe(0);
    expect(bench.tokenRequests()).toHaveLength(0);
    expect(bench.scoreAttempts()).toHaveLength(0);
  });

  it.each<[string, Fault]>([
    ['invalid_grant', { status: 400, body: '{"error":"invalid_grant"}' }],
    // RFC 6749 answers invalid_client with 400 or 401 only: with any other status it is not that answer.
    ['403 invalid_client', { status: 403, body: '{"error":"invalid_client"}' }],
    ['unidentified_error', { status: 400, body: '{"error":"unidentified_error"}' }],
    ['a 400 that is not OAuth JSON', { status: 400, body: '<html>Bad Request</html>' }],
    ['401 invalid_scope', { status: 401, body: '{"error":"invalid_scope"}' }],
  ])('token endpoint %s → FAILED at once: retrying cannot change it', async (_label, fault) => {
    bench.platform.failNext('token', fault);
    const { grade } = await bench.launchAndComplete();
    await bench.worker.runOnce();
    const row = await gradeRow(db, grade.id);
    expect(row).toMatchObject({ state: 'FAILED', attempts: 1, lastStatus: fault.status, nextAttemptAt: null });
    expect(row.lastError).toMatch(new RegExp(`^token endpoint answered ${fault.status}: `));
    expect(row.lastError).not.toContain(INVALID_CLIENT_HINT);
  });

});

describe('token endpoint invalid_client: retried for a while, then FAILED', () => {
  // Open edX answers invalid_client both when it cannot fetch our keyset (a deploy, a network
  // blip: it refetches the keyset on every token request) and for a wrong client ID.
  it('token endpoint 400 invalid_client while the platform cannot reach our keyset → retried, delivered once it can', async () => {
    bench.platform.setToolKeysetUrl(`${bench.tool.baseUrl}/lti/no-such-keyset`);
    const { sub, grade } = await bench.launchAndComplete();
    await bench.worker.runOnce();
    await bench.worker.runOnce(); // not due yet: nothing is sent
    const refused = await gradeRow(db, grade.id);
    expect(refused).toMatchObject({ state: 'PENDING', attempts: 1, lastStatus: 400, leaseOwner: null });
    expect(refused.nextAttemptAt).not.toBeNull();
    expect(refused.lastError).toMatch(/^token endpoint answered 400: .*invalid_client.*tool keyset unreachable/);
    expect(refused.lastError).toContain(`(${INVALID_CLIENT_HINT})`);
    expect(bench.tokenRequests()).toHaveLength(1);

    bench.platform.setToolKeysetUrl(`${bench.tool.baseUrl}/lti/jwks`);
    const history = await deliverUntilSettled(bench.worker, db, clock, grade.id);
    expect(history.map((row) => row.state)).toEqual(['DELIVERED']);
    expect(history[0]).toMatchObject({ attempts: 2, lastError: null, lastStatus: null });
    expect(bench.scoresOf(sub)).toHaveLength(1);
  });

  it('token endpoint invalid_client on every attempt (a wrong client ID) → FAILED after credentialRefusalAttempts, with the hint', async () => {
    bench.platform.setToolKeysetUrl(`${bench.tool.baseUrl}/lti/no-such-keyset`);
    const { sub, grade } = await bench.launchAndComplete();
    const history = await deliverUntilSettled(bench.worker, db, clock, grade.id);
    expect(history).toHaveLength(CREDENTIAL_REFUSAL_ATTEMPTS);
    expect(history.slice(0, -1).every((row) => row.state === 'PENDING')).toBe(true);
    const last = history.at(-1)!;
    expect(last).toMatchObject({ state: 'FAILED', attempts: CREDENTIAL_REFUSAL_ATTEMPTS, lastStatus: 400, nextAttemptAt: null, leaseOwner: null });
    expect(last.lastError).toMatch(
      new RegExp(`^gave up after ${CREDENTIAL_REFUSAL_ATTEMPTS} refusals of our client credentials in a row; last: token endpoint answered 400: .*invalid_client`),
    );
    expect(last.credentialRefusals).toBe(CREDENTIAL_REFUSAL_ATTEMPTS);
    expect(last.lastError).toContain(INVALID_CLIENT_HINT);
    clock.advance(3_600_000);
    expect(await bench.worker.runOnce()).toBe(0);
    expect(bench.tokenRequests()).toHaveLength(CREDENTIAL_REFUSAL_ATTEMPTS);
    expect(bench.scoresOf(sub)).toHaveLength(0);
  });

  it('counts refusals in a row, not attempts: after failures of another kind, a refusal is still retried', async () => {
    // More 503s than the refusal allowance, then the platform cannot reach our keyset for two attempts.
    bench.platform.failNext('token', ...Array.from({ length: CREDENTIAL_REFUSAL_ATTEMPTS }, () => ({ status: 503 })));
    const { sub, grade } = await bench.launchAndComplete();
    for (let i = 1; i <= CREDENTIAL_REFUSAL_ATTEMPTS; i++) {
      expect(await deliverOnce(grade.id)).toMatchObject({ state: 'PENDING', attempts: i, lastStatus: 503, credentialRefusals: 0 });
    }
    bench.platform.setToolKeysetUrl(`${bench.tool.baseUrl}/lti/no-such-keyset`);
    expect(await deliverOnce(grade.id)).toMatchObject({ state: 'PENDING', attempts: CREDENTIAL_REFUSAL_ATTEMPTS + 1, lastStatus: 400, credentialRefusals: 1 });
    expect(await deliverOnce(grade.id)).toMatchObject({ state: 'PENDING', attempts: CREDENTIAL_REFUSAL_ATTEMPTS + 2, lastStatus: 400, credentialRefusals: 2 });
    bench.platform.setToolKeysetUrl(`${bench.tool.baseUrl}/lti/jwks`);
    expect(await deliverOnce(grade.id)).toMatchObject({ state: 'DELIVERED', attempts: CREDENTIAL_REFUSAL_ATTEMPTS + 3, credentialRefusals: 0 });
    expect(bench.scoresOf(sub)).toHaveLength(1);
  });

  it('a refusal after a failure of another kind starts the count again', async () => {
    bench.platform.setToolKeysetUrl(`${bench.tool.baseUrl}/lti/no-such-keyset`);
    const { grade } = await bench.launchAndComplete();
    // Refused, then a 503 between the refusals: the count starts again after it.
    for (let i = 1; i < CREDENTIAL_REFUSAL_ATTEMPTS; i++) {
      await deliverOnce(grade.id);
    }
    expect(await gradeRow(db, grade.id)).toMatchObject({ state: 'PENDING', credentialRefusals: CREDENTIAL_REFUSAL_ATTEMPTS - 1 });
    bench.platform.failNext('token', { status: 503 });
    expect(await deliverOnce(grade.id)).toMatchObject({ state: 'PENDING', lastStatus: 503, credentialRefusals: 0 });
    expect(await deliverOnce(grade.id)).toMatchObject({ state: 'PENDING', lastStatus: 400, credentialRefusals: 1 });
    bench.platform.setToolKeysetUrl(`${bench.tool.baseUrl}/lti/jwks`);
    expect(await deliverOnce(grade.id)).toMatchObject({ state: 'DELIVERED', credentialRefusals: 0 });
  });

  it('token endpoint 401 invalid_client is retried like the 400', async () => {
    bench.platform.failNext('token', { status: 401, body: '{"error":"invalid_client"}' });
    const { sub, grade } = await bench.launchAndComplete();
    const history = await deliverUntilSettled(bench.worker, db, clock, grade.id);
    expect(history.map((row) => [row.state, row.lastStatus])).toEqual([['PENDING', 401], ['DELIVERED', null]]);
    expect(bench.scoresOf(sub)).toHaveLength(1);
  });
});

describe('what goes on the wire', () => {
  it('POSTs full marks to <lineitem path>/scores?<lineitem query> with the AGS media type and a ms timestamp', async () => {
    const { sub, launchId, grade } = await bench.launchAndComplete();
    const launchRow = await db.prisma.launch.findUniqueOrThrow({ where: { id: launchId } });
    const lineitem = new URL(launchRow.agsLineitem!);
    expect(lineitem.search).not.toBe('');
    const sentAt = clock.now();
    await bench.worker.runOnce();
    expect(await gradeRow(db, grade.id)).toMatchObject({ state: 'DELIVERED' });

    expect(bench.scoreAttempts().map((a) => a.url)).toEqual([`${lineitem.origin}${lineitem.pathname}/scores${lineitem.search}`]);
    const [score] = bench.scoresOf(sub);
    expect(score!.contentType).toBe(SCORE_CONTENT_TYPE);
    expect(score!.lineitem).toBe(launchRow.agsLineitem);
    expect(score!.body).toEqual({
      userId: sub,
      scoreGiven: 100,
      scoreMaximum: 100,
      activityProgress: 'Completed',
      gradingProgress: 'FullyGraded',
      timestamp: sentAt.toISOString(),
    });
    expect(score!.body.timestamp).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });

  it('client assertions: kid, iss = sub = client ID, aud = token URL, short exp, a fresh jti each time', async () => {
    // Two token requests: the first delivery's, then a new one after a 401 on the second delivery.
    const a = await bench.launchAndComplete();
    await bench.worker.runOnce();
    bench.platform.failNext('scores', { status: 401 });
    const b = await bench.launchAndComplete();
    await bench.worker.runOnce();
    expect((await gradeRow(db, a.grade.id)).state).toBe('DELIVERED');
    expect((await gradeRow(db, b.grade.id)).state).toBe('DELIVERED');

    const requests = bench.tokenRequests();
    expect(requests).toHaveLength(2);
    expect(requests.every((r) => r.ok)).toBe(true);
    const jwks = (await (await fetch(`${bench.tool.baseUrl}/lti/jwks`)).json()) as { keys: Array<{ kid: string }> };
    const kids = jwks.keys.map((k) => k.kid);
    const clientId = bench.platform.clientId;
    for (const r of requests) {
      expect(r.form.get('grant_type')).toBe('client_credentials');
      expect(r.form.get('client_assertion_type')).toBe(CLIENT_ASSERTION_TYPE);
      expect(r.form.get('scope')!.split(' ')).toEqual([AGS_SCOPE_SCORE]);
      expect(r.assertionHeader).toMatchObject({ alg: 'RS256', typ: 'JWT' });
      expect(kids).toContain(r.assertionHeader.kid);
      const p = r.assertionPayload;
      expect(p).toMatchObject({ iss: clientId, sub: clientId, aud: bench.platform.authTokenUrl });
      // iat a little in the past (Open edX allows no leeway for a clock ahead of its own).
      expect(p.iat).toBe(Math.floor(clock.ms / 1000) - ASSERTION_IAT_BACKDATE_S);
      expect(p.exp).toBe(Math.floor(clock.ms / 1000) + ASSERTION_LIFETIME_S);
      expect(ASSERTION_LIFETIME_S).toBeLessThanOrEqual(300);
      expect(typeof p.jti).toBe('string');
    }
    expect(new Set(requests.map((r) => r.assertionPayload.jti)).size).toBe(requests.length);
  });
});

describe('one learner, one placement, several grades', () => {
  // Open edX keeps one score per (line item, user) and refuses (400) a timestamp that is not
  // strictly later than the stored one: such grades go one at a time, oldest first.
  it('a completion keys its grade by line item and learner, as the migration computed it in SQL for older rows', async () => {
    const sub = newSubject('keyed');
    const { grade } = await bench.launchAndComplete({ sub });
    const launch = await db.prisma.launch.findUniqueOrThrow({ where: { id: grade.launchId } });
    expect(grade.deliveryKey).toBe(gradeDeliveryKey(launch.agsLineitem!, sub));
    // The backfill's formula (prisma/migrations/…_grade_delivery_key), on the same and on non-ASCII text.
    for (const [lineitem, subject] of [
      [launch.agsLineitem!, sub],
      ['https://lms.example.org/li/7?type=é', 'lérner-ü-1'],
    ] as const) {
      const [row] = await db.prisma.$queryRaw<Array<{ key: string }>>`
        SELECT encode(sha256(convert_to(${lineitem} || E'\n' || ${subject}, 'UTF8')), 'hex') AS "key"`;
      expect(row!.key).toBe(gradeDeliveryKey(lineitem, subject));
    }
    expect(await bench.worker.runOnce()).toBe(1); // nothing left pending for the next test
  });

  it('two completions of the same placement by the same learner, due together, are sent one after the other and both accepted', async () => {
    const sub = newSubject('twice');
    const first = await bench.launchAndComplete({ sub });
    clock.advance(60_000);
    const second = await bench.launchAndComplete({ sub });
    // After an outage both grades come due together: one poll takes the older only.
    expect(await bench.worker.runOnce()).toBe(1);
    expect(await gradeRow(db, first.grade.id)).toMatchObject({ state: 'DELIVERED', attempts: 1 });
    expect(await gradeRow(db, second.grade.id)).toMatchObject({ state: 'PENDING', attempts: 0 });
    expect(await bench.worker.runOnce()).toBe(1);
    expect(await gradeRow(db, second.grade.id)).toMatchObject({ state: 'DELIVERED', attempts: 1 });
    expect(bench.scoreAttempts().map((a) => a.status)).toEqual([200, 200]);
    const timestamps = bench.scoresOf(sub).map((s) => Date.parse(String(s.body.timestamp)));
    expect(timestamps[1]!).toBeGreaterThan(timestamps[0]!);
  });

  it('a newer grade waits while an older one of the same learner and line item is being retried', async () => {
    const sub = newSubject('twice');
    bench.platform.failNext('scores', { status: 503 });
    const first = await bench.launchAndComplete({ sub });
    clock.advance(1_000);
    const second = await bench.launchAndComplete({ sub });
    expect(await bench.worker.runOnce()).toBe(1);
    const retried = await gradeRow(db, first.grade.id);
    expect(retried).toMatchObject({ state: 'PENDING', attempts: 1, lastStatus: 503 });
    // The newer one is due, but goes only after the older one: nothing to do until then.
    expect(await bench.worker.runOnce()).toBe(0);
    expect(await gradeRow(db, second.grade.id)).toMatchObject({ state: 'PENDING', attempts: 0 });
    clock.advanceTo(retried.nextAttemptAt!);
    expect(await bench.worker.runOnce()).toBe(1);
    expect(await gradeRow(db, first.grade.id)).toMatchObject({ state: 'DELIVERED', attempts: 2 });
    expect(await bench.worker.runOnce()).toBe(1);
    expect(await gradeRow(db, second.grade.id)).toMatchObject({ state: 'DELIVERED', attempts: 1 });
    expect(bench.scoreAttempts().map((a) => a.status)).toEqual([503, 200, 200]);
  });
});
