/**
 * The kill -9 crash drill (issue #7), shared by `crash.test.ts` (PGlite on disk) and
 * `crash.pg.test.ts` (PostgreSQL). The real server runs as a child process
 * (`node --import tsx server/main.ts`) in front of an Open edX-like platform in this process
 * whose score endpoint stores one score per learner (a later timestamp replaces it) and
 * answers some POSTs only after a delay, so deliveries are in flight. Each round drives
 * launches and completions at concurrency 8, then kills the server with SIGKILL, and restarts
 * it on the same database (with a short lease, so the dead process's claimed deliveries come
 * back quickly). Odd rounds (the first included) kill while a score POST is in flight (the
 * platform stored it and holds its answer), so every drill proves that case; even rounds at a
 * random moment. Finally the outbox is drained and `checkCrashDrill` compares what the widget
 * was told with the database and the platform. Every server process spawned is killed when
 * the drill ends, however it ends.
 *
 * The one legitimate duplicate: the platform stored a score and the process died before it
 * recorded the answer (it may not even have received it). The next process sends the score
 * again, with a later timestamp, so the learner's score is the same; the platform saw two POSTs.
 * The check asserts that every such second POST follows a kill that fell while the first was
 * in flight (stored, and not yet answered plus a grace for committing the answer).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { expect } from 'vitest';
import type { Database } from '../../server/db/client.ts';
import { startTestPlatform, type ScoreRecord, type TestPlatform } from '../helpers/platform.ts';
import { recordChildLogs, registerTestSecret } from '../helpers/test-logger.ts';

const root = new URL('../..', import.meta.url).pathname;
const METRICS_TOKEN = randomBytes(24).toString('base64url');
/**
 * How long after the platform stored a score (before: the request may still be on its way
 * in; after: the answer's commit) a kill can still make the delivery go out again.
 */
export const IN_FLIGHT_GRACE_MS = 1_000;

export interface DrillOptions {
  /** Selects the database: `{ PGLITE_DIR, DATABASE_URL: '' }` or `{ DATABASE_URL }`. */
  env: Record<string, string>;
  /** Kill/restart rounds (CRASH_ROUNDS for longer manual drills). */
  rounds: number;
  concurrency?: number;
  /**
   * A kill falls uniformly in this window after the load of a round started (in odd rounds,
   * at the first moment after it when a score POST is in flight).
   */
  killAfterMs?: [number, number];
}

export type CompletionOutcome = 'answered' | 'unanswered' | 'not-sent';

export interface LearnerRecord {
  sub: string;
  round: number;
  completion: CompletionOutcome;
}

export interface DrillResult {
  learners: LearnerRecord[];
  /** Wall-clock ms of each SIGKILL. */
  kills: number[];
  /** How many of the kills were made while the platform held a stored score's answer. */
  killsWithScoreAnswerHeld: number;
  /** Statuses other than the expected 303 (launch) and 200 (completion) that came back. */
  unexpectedAnswers: string[];
  /** Milliseconds from spawn to /readyz answering 200, per start. */
  startsMs: number[];
  platform: TestPlatform;
  /** Everything the server printed, for failure messages. */
  output: string;
}

interface Server {
  child: ChildProcess;
  exited: Promise<number | null>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** How long a targeted kill waits for a score POST in flight before killing anyway (and failing the check). */
const HELD_ANSWER_WAIT_MS = 30_000;

/**
 * Runs the drill and returns what happened; the server is stopped (SIGTERM) at the end, and
 * any process still running when the drill ends (a failed start, a failed check) is killed.
 */
export async function runCrashDrill(options: DrillOptions): Promise<DrillResult> {
  const concurrency = options.concurrency ?? 8;
  const [killMin, killMax] = options.killAfterMs ?? [1_000, 4_000];
  const port = await freePort();
  const origin = `http://localhost:${port}`;
  let output = '';
  let token = '';
  /** Stored scores whose answer the platform is holding right now: POSTs in flight. */
  let heldAnswers = 0;

  // A third of the stored scores are answered 100–900 ms late: below the 4 s timeout, so
  // only a kill (never a timeout) can make a delivery go out twice.
  const platform = await startTestPlatform({
    host: 'localhost',
    scoreAnswerDelayMs: () => {
      const delayMs = Math.random() < 0.35 ? 100 + Math.floor(Math.random() * 800) : 0;
      if (delayMs > 0) {
        // Counted down by a timer set before the platform's own (same delay): while this
        // counts a score, its answer has not been sent.
        heldAnswers += 1;
        setTimeout(() => (heldAnswers -= 1), delayMs);
      }
      return delayMs;
    },
  });
  /** Every server process spawned: none may outlive the drill, whatever fails. */
  const children = new Set<ChildProcess>();
  const startsMs: number[] = [];
  const learners: LearnerRecord[] = [];
  const kills: number[] = [];
  let killsWithScoreAnswerHeld = 0;
  const unexpectedAnswers: string[] = [];
  try {
    return await drill();
  } finally {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await platform.close();
  }

  async function start(): Promise<Server> {
    const spawnedAt = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
      cwd: root,
      env: {
        ...process.env,
        PORT: String(port),
        PUBLIC_URL: origin,
        // info: the launch and delivery lines go to the end-of-run secret scan (checkCrashDrill).
        LOG_LEVEL: 'info',
        METRICS_TOKEN,
        GRADE_DELIVERY_LEASE_SECONDS: '9',
        GRADE_DELIVERY_TIMEOUT_SECONDS: '4',
        // The drill's platform listens on loopback, which production refuses by default.
        OUTBOUND_ALLOWED_NETWORKS: '127.0.0.0/8,::1/128',
        // Every request comes from 127.0.0.1: the drill is about crashes, not per-address limits.
        RATE_LIMIT_LOGIN_PER_MINUTE: '0',
        RATE_LIMIT_LAUNCH_PER_MINUTE: '0',
        RATE_LIMIT_COMPLETION_PER_MINUTE: '0',
        ...options.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    let dead = false;
    void exited.then(() => (dead = true));
    const deadline = Date.now() + 90_000;
    try {
      for (;;) {
        if (dead) throw new Error(`the server exited during start-up:\n${output.slice(-4000)}`);
        if (Date.now() > deadline) throw new Error(`the server was not ready in 90 s:\n${output.slice(-4000)}`);
        const ready = await fetch(`${origin}/readyz`).then(
          (r) => r.status === 200,
          () => false,
        );
        if (ready) break;
        await sleep(100);
      }
    } catch (err) {
      // Not ready in time: it must not keep the port (or the PGlite directory) for the next one.
      child.kill('SIGKILL');
      throw err;
    }
    startsMs.push(Date.now() - spawnedAt);
    token ||= output.match(/lmt_[A-Za-z0-9_-]{43}/)?.[0] ?? '';
    return { child, exited };
  }

  async function gql<T>(query: string, variables: object): Promise<T> {
    const res = await fetch(`${origin}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as { data: T; errors?: unknown };
    if (body.errors) throw new Error(JSON.stringify(body.errors));
    return body.data;
  }

  /** Sets up the app, then the kill/restart rounds, then drains the outbox. */
  async function drill(): Promise<DrillResult> {
    let server = await start();
    const { createApp } = await gql<{ createApp: { app: { id: string; ltiTool: { launchUrl: string; loginUrl: string } } } }>(
      `mutation($input: CreateAppInput!) { createApp(input: $input) { ... on AppPayload { app { id ltiTool { launchUrl loginUrl } } } } }`,
      { input: { name: 'Crash drill', exerciseUrl: 'https://exercises.example.org/x', isPublic: true } },
    );
    await gql(`mutation($input: AddLtiRegistrationInput!) { addLtiRegistration(input: $input) { __typename } }`, {
      input: { appId: createApp.app.id, ...platform.registration() },
    });
    const { launchUrl, loginUrl } = createApp.app.ltiTool;
    platform.setToolLaunchUrl(launchUrl);
    platform.setToolKeysetUrl(`${origin}/lti/jwks`);

    /** One learner: a whole launch, then the completion the widget sends. */
    async function learner(round: number, stopped: () => boolean): Promise<void> {
      const record: LearnerRecord = { sub: `crash-${round}-${randomBytes(6).toString('hex')}`, round, completion: 'not-sent' };
      learners.push(record);
      let credential: string;
      try {
        const init = platform.loginInitiation(loginUrl, { targetLinkUri: launchUrl, sub: record.sub });
        const login = await fetch(init.url, { redirect: 'manual' });
        if (login.status !== 302) return void unexpectedAnswers.push(`login ${login.status}`);
        const cookie = login.headers.getSetCookie()[0]!.split(';')[0]!;
        const form = await platform.authorize(login.headers.get('location')!);
        const res = await fetch(form.redirectUri, {
          method: 'POST',
          redirect: 'manual',
          headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
          body: new URLSearchParams({ id_token: form.idToken, state: form.state }),
        });
        if (res.status !== 303) return void unexpectedAnswers.push(`launch ${res.status}: ${await res.text()}`);
        credential = new URLSearchParams(new URL(res.headers.get('location')!).hash.slice(1)).get('lti_launch')!;
      } catch {
        return; // killed mid-launch: nothing was promised
      }
      if (stopped()) return;
      record.completion = 'unanswered';
      let res: Response;
      try {
        res = await fetch(`${origin}/api/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' },
          body: '{}',
        });
        await res.arrayBuffer();
      } catch {
        return; // killed mid-request: no answer
      }
      if (res.status === 200) record.completion = 'answered';
      else unexpectedAnswers.push(`completion ${res.status}`);
    }

    for (let round = 1; round <= options.rounds; round++) {
      let killed = false;
      const load = Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (!killed) await learner(round, () => killed);
        }),
      );
      await sleep(killMin + Math.random() * (killMax - killMin));
      if (round % 2 === 1) {
        // Mid-delivery on purpose: the first moment a stored score's answer is held. Checked
        // and killed in the same tick, so the answer cannot go out in between.
        const waitUntil = Date.now() + HELD_ANSWER_WAIT_MS;
        while (heldAnswers === 0 && Date.now() < waitUntil) await sleep(5);
      }
      if (heldAnswers > 0) killsWithScoreAnswerHeld += 1;
      kills.push(Date.now());
      killed = true;
      server.child.kill('SIGKILL');
      expect(await server.exited).toBeNull(); // killed by the signal, not exited
      await load;
      server = await start();
    }

    // No more load: the last process drains the outbox (the dead processes' leases expire).
    const pending = async () => {
      const text = await (await fetch(`${origin}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
      return Number(/^lti_grade_outbox_pending (\d+)$/m.exec(text)?.[1]);
    };
    const deadline = Date.now() + 60_000;
    while ((await pending()) !== 0 && Date.now() < deadline) await sleep(250);
    // A straggling double send would land now.
    await sleep(1_500);
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    return { learners, kills, killsWithScoreAnswerHeld, unexpectedAnswers, startsMs, platform, output };
  }
}

/** Whether the platform's stored score `s` was in flight at the kill at `killedAt`. */
function inFlightAt(s: ScoreRecord, killedAt: number): boolean {
  return s.storedAt - IN_FLIGHT_GRACE_MS <= killedAt && killedAt <= (s.answeredAt ?? Infinity) + IN_FLIGHT_GRACE_MS;
}

export interface DrillSummary {
  learners: number;
  answered: number;
  unanswered: number;
  unansweredRecorded: number;
  kills: number;
  /** Kills made while the platform held a stored score's answer (odd rounds wait for one). */
  killsWithScoreAnswerHeld: number;
  killsDuringScorePost: number;
  scorePostsInFlightAtKills: number;
  duplicatedLearners: number;
  startsMs: number[];
}

/** The drill's assertions, on the database the server used (opened after it stopped). */
export async function checkCrashDrill(result: DrillResult, db: Database): Promise<DrillSummary> {
  const { learners, kills, platform } = result;
  recordChildLogs('crash-drill', result.output);
  registerTestSecret(METRICS_TOKEN, 'crash drill METRICS_TOKEN');
  const token = result.output.match(/lmt_[A-Za-z0-9_-]{43}/)?.[0];
  if (token) registerTestSecret(token, 'crash drill first owner API token');
  const context = `server output (tail):\n${result.output.slice(-3000)}`;
  expect(result.unexpectedAnswers, context).toEqual([]);

  const launches = await db.prisma.launch.findMany({ include: { grade: true } });
  const bySub = new Map(launches.map((l) => [l.subject, l]));
  // Never half: a launch is completed exactly when it has its grade (one transaction).
  for (const l of launches) expect(l.completedAt !== null, `launch ${l.subject}`).toBe(l.grade !== null);

  // Nothing stuck: every grade delivered, no lease left.
  const grades = launches.flatMap((l) => (l.grade ? [l.grade] : []));
  expect(grades.filter((g) => g.state !== 'DELIVERED' || g.leaseOwner !== null || g.leaseUntil !== null), context).toEqual([]);

  // Every completion the widget was told is recorded is delivered, and present at the platform.
  const storedFor = new Map<string, ScoreRecord[]>();
  for (const s of platform.scores) storedFor.set(String(s.body.userId), [...(storedFor.get(String(s.body.userId)) ?? []), s]);
  const answered = learners.filter((l) => l.completion === 'answered');
  for (const l of answered) {
    expect(bySub.get(l.sub)?.grade?.state, `${l.sub} was answered 200`).toBe('DELIVERED');
    expect(storedFor.get(l.sub)?.length ?? 0, `${l.sub} at the platform`).toBeGreaterThanOrEqual(1);
  }
  // Completions that got no answer: fully recorded (then delivered) or absent.
  const unanswered = learners.filter((l) => l.completion === 'unanswered');
  for (const l of unanswered) {
    const launch = bySub.get(l.sub);
    if (launch?.completedAt) expect(launch.grade?.state).toBe('DELIVERED');
    else expect(storedFor.has(l.sub), `${l.sub}: no completion, yet a score`).toBe(false);
  }
  // The platform has a score for exactly the delivered grades, and refused none.
  expect(new Set(storedFor.keys())).toEqual(new Set(launches.filter((l) => l.grade).map((l) => l.subject)));
  expect(platform.scoreAttempts.filter((a) => a.status !== 200)).toEqual([]);

  // Duplicates: each repeated POST of a learner follows a kill that fell while the previous
  // one was in flight (stored by the platform, its answer not yet recorded by us).
  let duplicatedLearners = 0;
  for (const [sub, stored] of storedFor) {
    if (stored.length > 1) duplicatedLearners += 1;
    stored.sort((a, b) => a.storedAt - b.storedAt);
    for (let j = 0; j + 1 < stored.length; j++) {
      const [a, b] = [stored[j]!, stored[j + 1]!];
      const explained = kills.some((k) => k < b.storedAt && inFlightAt(a, k));
      expect(explained, `${sub}: score POSTed again at ${b.storedAt} without a kill while ${a.storedAt} was in flight (kills ${kills.join(', ')})`).toBe(true);
    }
  }
  const inFlightCounts = kills.map((k) => platform.scores.filter((s) => inFlightAt(s, k)).length);
  const scorePostsInFlightAtKills = inFlightCounts.reduce((a, b) => a + b, 0);
  expect(duplicatedLearners).toBeLessThanOrEqual(scorePostsInFlightAtKills);

  return {
    learners: learners.length,
    answered: answered.length,
    unanswered: unanswered.length,
    unansweredRecorded: unanswered.filter((l) => bySub.get(l.sub)?.completedAt).length,
    kills: kills.length,
    killsWithScoreAnswerHeld: result.killsWithScoreAnswerHeld,
    killsDuringScorePost: inFlightCounts.filter((n) => n > 0).length,
    scorePostsInFlightAtKills,
    duplicatedLearners,
    startsMs: result.startsMs,
  };
}
