/**
 * POST /api/completions is authenticated by the launch credential alone and called
 * cross-origin by the exercise page. Refusals (forged, malformed, expired credentials,
 * wrong methods) change nothing in the database; a credential completes exactly its own
 * launch; repeats are idempotent (also once the credential has expired); the page has no say
 * in the score; launches without a way to send a score are recorded as completed and "not
 * gradable".
 */
import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Database } from '../../server/db/client.ts';
import { AGS_SCOPE_SCORE } from '../../server/grades/ags.ts';
import { randomToken } from '../../server/ids.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { AGS_ENDPOINT_CLAIM, AGS_SCOPE } from '../helpers/platform.ts';
import {
  createClock,
  databaseSnapshot,
  EXERCISE_ORIGIN,
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

beforeAll(async () => {
  db = await createTestDatabase();
  clock = createClock();
  fixture = await startPlatformFixture(db, { clock });
});
afterAll(async () => {
  await fixture.close();
  await db.close();
});
beforeEach(async () => {
  bench = await startBench(fixture);
});
afterEach(async () => {
  await bench.close();
  // Refusals must not leave work behind either.
  await db.prisma.grade.updateMany({ where: { state: 'PENDING' }, data: { state: 'FAILED', nextAttemptAt: null } });
});

interface CompletionBody {
  status: string;
  launchId: string;
  completedAt: string;
  grade: { state: string };
}

/** Asserts `run` is answered 401 invalid_credential (with CORS, so the page can read it) and changes nothing. */
async function expectRefused(run: () => Promise<Response>, status = 401): Promise<Response> {
  const before = await databaseSnapshot(db);
  const res = await run();
  expect(res.status).toBe(status);
  expect(res.headers.get('access-control-allow-origin')).toBe('*');
  expect(res.headers.get('access-control-allow-credentials')).toBeNull();
  if (status === 401) expect(await res.clone().json()).toMatchObject({ error: 'invalid_credential' });
  expect(await databaseSnapshot(db)).toEqual(before);
  return res;
}

let shared: Launched | undefined;
/** One launch, never completed, for the refusal tests (its credential is valid all along). */
async function sharedLaunch(): Promise<Launched> {
  shared ??= await bench.launch();
  return shared;
}

function url(path = '/api/completions'): string {
  return `${bench.tool.baseUrl}${path}`;
}

describe('credentials', () => {
  it('refuses forged credentials: random, one character changed, truncated, extended, not base64url', async () => {
    const { credential } = await bench.launch();
    const flipped = `${credential.slice(0, 10)}${credential[10] === 'A' ? 'B' : 'A'}${credential.slice(11)}`;
    for (const forged of [randomToken(), flipped, credential.slice(0, 42), `${credential}A`, `${credential.slice(0, 42)}=`, `${credential.slice(0, 42)}/`, '']) {
      await expectRefused(() => bench.complete(forged));
    }
    // The real one still works afterwards.
    expect((await bench.complete(credential)).status).toBe(200);
  });

  it.each<[string, (credential: string) => RequestInit & { path?: string }]>([
    ['no Authorization header', () => ({ headers: { authorization: '' } })],
    ['Basic scheme', (c) => ({ headers: { authorization: `Basic ${c}` } })],
    ['other scheme', (c) => ({ headers: { authorization: `Token ${c}` } })],
    ['"Bearer" without a credential', () => ({ headers: { authorization: 'Bearer' } })],
    ['two credentials', (c) => ({ headers: { authorization: `Bearer ${c} ${c}` } })],
    ['credential without a scheme', (c) => ({ headers: { authorization: c } })],
    ['credential in the query string', (c) => ({ headers: { authorization: '' }, path: `/api/completions?credential=${c}&access_token=${c}` })],
    ['credential in the body', (c) => ({ headers: { authorization: '' }, body: JSON.stringify({ credential: c, access_token: c }) })],
    ['credential in a cookie', (c) => ({ headers: { authorization: '', cookie: `credential=${c}` } })],
  ])('refuses %s with 401 and changes nothing', async (_label, request) => {
    const { credential, launchId } = await sharedLaunch();
    await expectRefused(() => bench.complete(credential, request(credential)));
    expect((await db.prisma.launch.findUniqueOrThrow({ where: { id: launchId } })).completedAt).toBeNull();
  });

  it('accepts the scheme in any case (RFC 7235)', async () => {
    const { credential } = await bench.launch();
    expect((await bench.complete(credential, { headers: { authorization: `bearer ${credential}` } })).status).toBe(200);
  });

  it('refuses an expired credential (at and after credentialExpiresAt) and changes nothing; just before, it works', async () => {
    const early = await bench.launch();
    const late = await bench.launch();
    const expiresAt = (await db.prisma.launch.findUniqueOrThrow({ where: { id: early.launchId } })).credentialExpiresAt;
    // Both launched at the same (frozen) instant.
    expect((await db.prisma.launch.findUniqueOrThrow({ where: { id: late.launchId } })).credentialExpiresAt).toEqual(expiresAt);
    expect(expiresAt.getTime() - clock.ms).toBe(6 * 3_600_000);

    clock.advanceTo(expiresAt.getTime() - 1);
    expect((await bench.complete(late.credential)).status).toBe(200);
    clock.advanceTo(expiresAt);
    await expectRefused(() => bench.complete(early.credential));
    clock.advance(86_400_000);
    await expectRefused(() => bench.complete(early.credential));
    expect((await db.prisma.launch.findUniqueOrThrow({ where: { id: early.launchId } })).completedAt).toBeNull();
    shared = undefined; // expired too by now
  });

  it('answers a repeat with the stored result after the credential has expired, and writes nothing', async () => {
    const done = await bench.launch();
    const first = (await (await bench.complete(done.credential)).json()) as CompletionBody;
    expect(await bench.worker.runOnce()).toBe(1);
    const expiresAt = (await db.prisma.launch.findUniqueOrThrow({ where: { id: done.launchId } })).credentialExpiresAt;
    const before = await databaseSnapshot(db);
    clock.advanceTo(expiresAt);
    for (const wait of [0, 86_400_000]) {
      clock.advance(wait);
      const repeat = await bench.complete(done.credential);
      expect(repeat.status).toBe(200);
      expect(await repeat.json()).toEqual({ ...first, grade: { state: 'delivered' } });
    }
    expect(await databaseSnapshot(db)).toEqual(before);
    expect(bench.scoresOf(done.sub)).toHaveLength(1);
    shared = undefined;
  });

  it("a learner's credential completes exactly their own launch, whatever the request names", async () => {
    const alice = await bench.launch({ sub: 'alice' });
    const bob = await bench.launch({ sub: 'bob' });
    const bobGlobal = encodeGlobalID('Launch', bob.launchId);
    const res = await bench.complete(alice.credential, {
      path: `/api/completions?launchId=${bobGlobal}&launch=${bob.launchId}`,
      body: JSON.stringify({ launchId: bobGlobal, launch: bob.launchId, sub: 'bob', userId: 'bob' }),
      headers: { 'x-launch-id': bob.launchId },
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as CompletionBody).launchId).toBe(encodeGlobalID('Launch', alice.launchId));
    expect((await db.prisma.launch.findUniqueOrThrow({ where: { id: alice.launchId } })).completedAt).not.toBeNull();
    expect((await db.prisma.launch.findUniqueOrThrow({ where: { id: bob.launchId } })).completedAt).toBeNull();
    expect(await db.prisma.grade.findUnique({ where: { launchId: bob.launchId } })).toBeNull();

    // Bob's own credential completes Bob's launch; both grades go to the right learner.
    expect((await bench.complete(bob.credential)).status).toBe(200);
    await bench.worker.runOnce();
    expect(bench.scoresOf('alice')).toHaveLength(1);
    expect(bench.scoresOf('bob')).toHaveLength(1);
  });
});

describe('idempotence', () => {
  it('a replayed completion answers 200 with the first result; one grade, one delivery', async () => {
    const { sub, credential, launchId } = await bench.launch();
    const first = (await (await bench.complete(credential)).json()) as CompletionBody;
    const snapshotAfterFirst = await databaseSnapshot(db);
    clock.advance(5_000);
    const again = await bench.complete(credential);
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual(first);
    expect(await databaseSnapshot(db)).toEqual(snapshotAfterFirst);

    expect(await bench.worker.runOnce()).toBe(1);
    const delivered = await db.prisma.grade.findUniqueOrThrow({ where: { launchId } });
    expect(delivered.state).toBe('DELIVERED');
    // Replays after delivery: same answer (now "delivered"), nothing queued again.
    const replay = (await (await bench.complete(credential)).json()) as CompletionBody;
    expect(replay).toEqual({ ...first, grade: { state: 'delivered' } });
    clock.advance(3_600_000);
    expect(await bench.worker.runOnce()).toBe(0);
    expect(await db.prisma.grade.count({ where: { launchId } })).toBe(1);
    expect(await gradeRow(db, delivered.id)).toEqual(delivered);
    expect(bench.scoresOf(sub)).toHaveLength(1);
  });

  it('concurrent completions of one launch all answer 200 and make one grade', async () => {
    const { sub, credential, launchId } = await bench.launch();
    const responses = await Promise.all(Array.from({ length: 6 }, () => bench.complete(credential)));
    expect(responses.map((r) => r.status)).toEqual(Array(6).fill(200));
    const bodies = (await Promise.all(responses.map((r) => r.json()))) as CompletionBody[];
    expect(new Set(bodies.map((b) => b.completedAt)).size).toBe(1);
    expect(await db.prisma.grade.count({ where: { launchId } })).toBe(1);
    expect(await bench.worker.runOnce()).toBe(1);
    expect(await bench.worker.runOnce()).toBe(0);
    expect(bench.scoresOf(sub)).toHaveLength(1);
  });
});

describe('the page has no say in the score', () => {
  it.each<[string, RequestInit & { path?: string }]>([
    ['a JSON body with scoreGiven 0', { body: JSON.stringify({ scoreGiven: 0, scoreMaximum: 1, score: 0, grade: 0 }) }],
    ['a score+json body', { body: JSON.stringify({ scoreGiven: 1, scoreMaximum: 10, activityProgress: 'Started', gradingProgress: 'Pending' }), headers: { 'content-type': 'application/vnd.ims.lis.v1.score+json' } }],
    ['a form body', { body: 'scoreGiven=0&scoreMaximum=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } }],
    ['query parameters', { path: '/api/completions?scoreGiven=0&scoreMaximum=1&score=0' }],
    ['extra headers', { headers: { 'x-score-given': '0', 'x-score-maximum': '1', 'x-score': '0' } }],
    ['an unparseable body', { body: '{"scoreGiven": 0' }],
  ])('%s → 100 / 100 stored and delivered', async (_label, tampering) => {
    const { sub, credential, launchId } = await bench.launch();
    const res = await bench.complete(credential, tampering);
    expect(res.status).toBe(200);
    expect(await db.prisma.grade.findUniqueOrThrow({ where: { launchId } })).toMatchObject({ scoreGiven: 100, scoreMaximum: 100, state: 'PENDING' });
    await bench.worker.runOnce();
    expect(bench.scoresOf(sub).map((s) => s.body)).toEqual([
      expect.objectContaining({ scoreGiven: 100, scoreMaximum: 100, activityProgress: 'Completed', gradingProgress: 'FullyGraded' }),
    ]);
  });
});

describe('HTTP surface', () => {
  it.each(['GET', 'PUT', 'PATCH', 'DELETE'])('%s → 405 with Allow, even with a valid credential, and changes nothing', async (method) => {
    const { credential } = await sharedLaunch();
    const res = await expectRefused(
      () =>
        fetch(url(), {
          method,
          headers: { authorization: `Bearer ${credential}`, origin: EXERCISE_ORIGIN },
          ...(method === 'GET' ? {} : { body: '{}' }),
        }),
      405,
    );
    expect(res.headers.get('allow')).toBe('POST, OPTIONS');
  });

  it('answers the CORS preflight of any origin, without credentials', async () => {
    const before = await databaseSnapshot(db);
    const res = await fetch(url(), {
      method: 'OPTIONS',
      headers: { origin: 'https://anywhere.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-allow-methods')).toContain('POST');
    expect(res.headers.get('access-control-allow-headers')).toMatch(/authorization/);
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    expect(await databaseSnapshot(db)).toEqual(before);
  });

  it('answers a completion only after the commit, with CORS and no caching', async () => {
    const { credential, launchId } = await bench.launch();
    const res = await bench.complete(credential);
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as CompletionBody;
    expect(body).toEqual({
      status: 'recorded',
      launchId: encodeGlobalID('Launch', launchId),
      completedAt: clock.now().toISOString(),
      grade: { state: 'pending' },
    });
    const launch = await db.prisma.launch.findUniqueOrThrow({ where: { id: launchId }, include: { grade: true } });
    expect(launch.completedAt).toEqual(clock.now());
    expect(launch.grade).toMatchObject({ state: 'PENDING', scoreGiven: 100, scoreMaximum: 100, attempts: 0, nextAttemptAt: clock.now() });
  });

  it('marks the launch completed and creates the grade in one transaction (a failed grade insert leaves the launch as it was)', async () => {
    const { credential, launchId } = await bench.launch();
    // A grade row already there for this launch (inconsistent on purpose) makes the insert fail.
    await db.prisma.grade.create({
      data: { id: `conflict-${launchId}`, launchId, appId: fixture.appId, registrationId: fixture.registrationId, scoreGiven: 1, scoreMaximum: 1, state: 'FAILED' },
    });
    const before = await databaseSnapshot(db);
    const res = await bench.complete(credential);
    expect(res.status).toBe(500);
    // The route's own headers: readable cross-origin, never cached, JSON the widget can parse.
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await res.json()).toEqual({ error: 'server_error', message: 'Try again in a moment.' });
    // Counted with the other reports, by status (the only 500 in this file).
    expect(await bench.tool.app.metrics.render()).toContain('lti_completions_total{status="500"} 1');
    expect(await databaseSnapshot(db)).toEqual(before);
    expect((await db.prisma.launch.findUniqueOrThrow({ where: { id: launchId } })).completedAt).toBeNull();
  });
});

describe('launches without a way to send a score', () => {
  it.each<[string, Record<string, unknown>, RegExp]>([
    ['no AGS endpoint claim', { [AGS_ENDPOINT_CLAIM]: undefined }, /no line item/],
    [
      'a line item that is not an http(s) URL',
      { [AGS_ENDPOINT_CLAIM]: { lineitem: 'javascript:alert(1)', scope: [AGS_SCOPE_SCORE] } },
      /not an http\(s\) URL/,
    ],
    [
      // The outbound fetch never sends URL credentials: refused here, not retried for a day.
      'a line item URL with credentials (user:password@)',
      { [AGS_ENDPOINT_CLAIM]: { lineitem: 'https://grader:hunter2@lms.example/lineitems/1', scope: [AGS_SCOPE_SCORE] } },
      /carries credentials/,
    ],
    [
      'an AGS claim without a line item',
      { [AGS_ENDPOINT_CLAIM]: { lineitems: 'https://lms.example/lineitems', scope: [AGS_SCOPE_SCORE] } },
      /no line item/,
    ],
    [
      'AGS scopes without the score scope',
      { [AGS_ENDPOINT_CLAIM]: { lineitem: 'https://lms.example/lineitems/1', scope: [AGS_SCOPE.lineitemReadonly, AGS_SCOPE.resultReadonly] } },
      /score scope/,
    ],
  ])('%s → completed, grade NOT_GRADABLE with the reason, nothing sent', async (_label, claims, reason) => {
    const { credential, launchId } = await bench.launch({ overrides: { claims } });
    const res = await bench.complete(credential);
    expect(res.status).toBe(200);
    expect(((await res.json()) as CompletionBody).grade).toEqual({ state: 'not_gradable' });
    const launch = await db.prisma.launch.findUniqueOrThrow({ where: { id: launchId }, include: { grade: true } });
    expect(launch.completedAt).toEqual(clock.now());
    expect(launch.grade).toMatchObject({ state: 'NOT_GRADABLE', nextAttemptAt: null, attempts: 0, deliveredAt: null });
    expect(launch.grade!.lastError).toMatch(reason);

    clock.advance(1_000);
    expect(await bench.worker.runOnce()).toBe(0);
    expect(bench.tokenRequests()).toHaveLength(0);
    expect(bench.scoreAttempts()).toHaveLength(0);
    // A repeat says the same.
    expect(((await (await bench.complete(credential)).json()) as CompletionBody).grade).toEqual({ state: 'not_gradable' });
  });
});
