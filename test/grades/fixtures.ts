/**
 * Shared set-up for the grade delivery tests: a controllable clock, one test platform
 * (and the app registered with it) per file, and per test a fresh tool server — so a fresh
 * access-token cache and delivery worker — with the platform's records counted from the
 * start of that test. Plus helpers to launch, complete and drive the worker attempt by
 * attempt.
 */
import { expect } from 'vitest';
import type { Config } from '../../server/config.ts';
import type { Database } from '../../server/db/client.ts';
import type { Grade } from '../../server/generated/prisma/client.ts';
import type { DeliveryPolicy, DeliveryWorker } from '../../server/grades/delivery-worker.ts';
import type { FetchLike } from '../../server/http/limited-fetch.ts';
import { hashCredential, LAUNCH_FRAGMENT_PARAM } from '../../server/lti/launch.ts';
import { ltiToolUrls } from '../../server/lti/tool-urls.ts';
import { launch, publicAppFor, type PublicApp } from '../helpers/lti-flow.ts';
import { startTestPlatform, type LaunchOverrides, type TestPlatform } from '../helpers/platform.ts';
import { startToolServer, type ToolServer } from '../helpers/tool-server.ts';

export const COMPLETIONS_PATH = '/api/completions';
export const EXERCISE_ORIGIN = 'https://exercises.example.org';

/** A clock that only moves when told to; shared by the tool and the test platform. */
export interface Clock {
  ms: number;
  now(): Date;
  nowMs(): number;
  advance(ms: number): void;
  /** Moves to `at` if that is later (never backwards). */
  advanceTo(at: Date | number): void;
}

export function createClock(startMs = Date.now()): Clock {
  const clock: Clock = {
    ms: startMs,
    now: () => new Date(clock.ms),
    nowMs: () => clock.ms,
    advance(ms) {
      clock.ms += ms;
    },
    advanceTo(at) {
      clock.ms = Math.max(clock.ms, typeof at === 'number' ? at : at.getTime());
    },
  };
  return clock;
}

let subjects = 0;
/** A learner id unique within the test run. */
export function newSubject(prefix = 'learner'): string {
  subjects += 1;
  return `${prefix}-${subjects}-${Math.random().toString(36).slice(2, 8)}`;
}

/** One platform and the app registered with it, on a clock (start once per file: keygen is slow). */
export interface PlatformFixture {
  db: Database;
  clock: Clock;
  platform: TestPlatform;
  appId: string;
  registrationId: string;
  close(): Promise<void>;
}

export async function startPlatformFixture(
  db: Database,
  options: { clock?: Clock; ownerId?: string } = {},
): Promise<PlatformFixture> {
  const clock = options.clock ?? createClock();
  const platform = await startTestPlatform({ now: clock.nowMs });
  // The tool URLs are set per tool server (startBench).
  const app = await publicAppFor(db, platform, 'http://tool.invalid', options.ownerId ? { ownerId: options.ownerId } : {});
  return { db, clock, platform, appId: app.appId, registrationId: app.registrationId, close: () => platform.close() };
}

export interface Launched {
  sub: string;
  credential: string;
  launchId: string;
}

/** A tool server in front of the fixture's platform, and what the platform saw since it started. */
export interface Bench {
  db: Database;
  clock: Clock;
  platform: TestPlatform;
  tool: ToolServer;
  app: PublicApp;
  worker: DeliveryWorker;
  /** Platform records since this bench started. */
  tokenRequests(): TestPlatform['tokenRequests'];
  scoreAttempts(): TestPlatform['scoreAttempts'];
  /** Scores the platform accepted for this user. */
  scoresOf(sub: string): TestPlatform['scores'];
  /** A full LTI launch; returns the credential handed to the exercise page and the launch id. */
  launch(options?: { sub?: string; overrides?: LaunchOverrides }): Promise<Launched>;
  /** POST /api/completions as the completion widget does (cross-origin, Bearer credential). */
  complete(credential: string, init?: RequestInit & { path?: string }): Promise<Response>;
  /** Launch + completion (asserting 200); returns the launch and its new grade row. */
  launchAndComplete(options?: { sub?: string; overrides?: LaunchOverrides }): Promise<Launched & { grade: Grade }>;
  close(): Promise<void>;
}

export async function startBench(
  fixture: PlatformFixture,
  options: { deliveryPolicy?: Partial<DeliveryPolicy>; fetch?: FetchLike; config?: Partial<Config> } = {},
): Promise<Bench> {
  const { db, clock, platform } = fixture;
  const tool = await startToolServer(db, {
    now: clock.now,
    ...(options.config ? { config: options.config } : {}),
    ...(options.deliveryPolicy ? { deliveryPolicy: options.deliveryPolicy } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  platform.setToolKeysetUrl(`${tool.baseUrl}/lti/jwks`);
  const app: PublicApp = {
    appId: fixture.appId,
    registrationId: fixture.registrationId,
    urls: ltiToolUrls(tool.baseUrl, fixture.appId),
    exerciseUrl: `${EXERCISE_ORIGIN}/fractions/index.html`,
  };
  platform.setToolLaunchUrl(app.urls.launchUrl);
  const since = {
    tokenRequests: platform.tokenRequests.length,
    scores: platform.scores.length,
    scoreAttempts: platform.scoreAttempts.length,
  };

  const bench: Bench = {
    db,
    clock,
    platform,
    tool,
    app,
    worker: tool.app.deliveryWorker,
    tokenRequests: () => platform.tokenRequests.slice(since.tokenRequests),
    scoreAttempts: () => platform.scoreAttempts.slice(since.scoreAttempts),
    scoresOf: (sub) => platform.scores.slice(since.scores).filter((s) => s.body.userId === sub),
    async launch(opts = {}) {
      const sub = opts.sub ?? newSubject();
      const result = await launch(platform, app, { sub, ...(opts.overrides ? { overrides: opts.overrides } : {}) });
      expect(result.response.status, await result.response.clone().text()).toBe(303);
      const credential = new URLSearchParams(new URL(result.location!).hash.slice(1)).get(LAUNCH_FRAGMENT_PARAM)!;
      const row = await db.prisma.launch.findUniqueOrThrow({ where: { credentialHash: hashCredential(credential) } });
      return { sub, credential, launchId: row.id };
    },
    complete(credential, init = {}) {
      const { path = COMPLETIONS_PATH, headers, ...rest } = init;
      return fetch(`${tool.baseUrl}${path}`, {
        method: 'POST',
        body: '{}',
        ...rest,
        headers: {
          authorization: `Bearer ${credential}`,
          'content-type': 'application/json',
          origin: EXERCISE_ORIGIN,
          ...(headers as Record<string, string> | undefined),
        },
      });
    },
    async launchAndComplete(opts = {}) {
      const launched = await bench.launch(opts);
      const res = await bench.complete(launched.credential);
      expect(res.status).toBe(200);
      const grade = await db.prisma.grade.findUniqueOrThrow({ where: { launchId: launched.launchId } });
      return { ...launched, grade };
    },
    close: () => tool.close(),
  };
  return bench;
}

export function gradeRow(db: Database, gradeId: string): Promise<Grade> {
  return db.prisma.grade.findUniqueOrThrow({ where: { id: gradeId } });
}

/**
 * Runs the worker once per attempt until the grade leaves PENDING, moving the clock to
 * each `nextAttemptAt` in between. Returns the row after every attempt.
 */
export async function deliverUntilSettled(
  worker: DeliveryWorker,
  db: Database,
  clock: Clock,
  gradeId: string,
  maxRuns = 12,
): Promise<Grade[]> {
  const history: Grade[] = [];
  for (let run = 0; run < maxRuns; run++) {
    const row = await gradeRow(db, gradeId);
    if (row.state !== 'PENDING') return history;
    if (row.nextAttemptAt) clock.advanceTo(row.nextAttemptAt);
    await worker.runOnce();
    history.push(await gradeRow(db, gradeId));
  }
  throw new Error(`grade ${gradeId} still pending after ${maxRuns} runs`);
}

/** Every launch and grade row, to show that a refused request changed nothing. */
export async function databaseSnapshot(db: Database) {
  const [launches, grades] = await Promise.all([
    db.prisma.launch.findMany({ orderBy: { id: 'asc' } }),
    db.prisma.grade.findMany({ orderBy: { id: 'asc' } }),
  ]);
  return { launches, grades };
}
