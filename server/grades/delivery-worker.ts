import { randomUUID } from 'node:crypto';
import { sqlTimestamp as ts } from '../db/sql.ts';
import { storableText } from '../db/storable-text.ts';
import type { Prisma, PrismaClient } from '../generated/prisma/client.ts';
import { fetchTextLimited, OutboundError, type FetchLike } from '../http/limited-fetch.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { AccessTokens, excerpt, isTransientStatus, retryAfterMs, TokenRequestError } from './access-tokens.ts';
import { AGS_SCOPE_SCORE, fullMarksScore, isAgsSuccess, lineitemUrlProblem, notAgsSuccess, SCORE_CONTENT_TYPE, scoresUrl } from './ags.ts';

export interface DeliveryPolicy {
  /** How long a claimed grade is ours; a crashed process's claims expire after this. */
  leaseMs: number;
  /** Grades claimed per poll. */
  batchSize: number;
  /** How often the worker looks for due grades (it is also woken after each completion). */
  pollIntervalMs: number;
  /** First retry delay; doubles per attempt, with ±20 % jitter, up to `maxBackoffMs`. */
  baseBackoffMs: number;
  maxBackoffMs: number;
  /** After this many attempts a grade is marked FAILED ("gave up"). */
  maxAttempts: number;
  /**
   * Attempts in a row whose token request the platform refuses as `invalid_client` before the
   * grade is marked FAILED. Open edX answers that both for a wrong client ID and when it cannot
   * fetch our keyset (which it does on every token request): the second passes with a deploy
   * or a network blip, the first never does. So the refusal is retried, but gives up long
   * before `maxAttempts` (8 refusals in a row at the default backoff: about 4 minutes after
   * the first; sooner when earlier failures had already grown the backoff).
   */
  credentialRefusalAttempts: number;
  /** Timeout of one score POST. */
  timeoutMs: number;
}

/**
 * How far this process's clock may be from the database's before the worker moves onto the
 * database's. NTP keeps servers closer than this; below it a correction would only add the
 * noise of the measurement (and tests that drive an injected clock keep it exactly).
 */
const CLOCK_TOLERANCE_MS = 10;
/** Beyond this, a clock is broken rather than drifting: logged at error level. */
const FAR_CLOCK_OFFSET_MS = 60_000;

export const DEFAULT_DELIVERY_POLICY: DeliveryPolicy = {
  leaseMs: 60_000,
  batchSize: 20,
  pollIntervalMs: 1_000,
  baseBackoffMs: 2_000,
  maxBackoffMs: 3_600_000,
  maxAttempts: 30,
  credentialRefusalAttempts: 8,
  timeoutMs: 10_000,
};

export interface DeliveryWorkerDeps {
  prisma: PrismaClient;
  fetch: FetchLike;
  accessTokens: AccessTokens;
  /**
   * The job's logger (`job: 'grade-delivery'`). The worker adds its `component`, and per
   * delivery the `gradeId`, which also reaches the access token request it makes.
   */
  logger: Logger;
  now: () => Date;
  /**
   * This process's own wall clock in ms (default `Date.now`), compared with the database's
   * clock before every claim. Tests pass a skewed one to play a process whose clock is off.
   */
  wallClockMs?: () => number;
  policy?: Partial<DeliveryPolicy>;
  random?: () => number;
  metrics?: Metrics;
  /** A monotonic clock in ms for HTTP durations (default performance.now). */
  monotonicMs?: () => number;
}

interface ClaimedGrade {
  id: string;
  attempts: number;
  /** Refusals of our client credentials in a row before this attempt. */
  credentialRefusals: number;
  scoreGiven: number;
  scoreMaximum: number;
  subject: string;
  agsLineitem: string;
  registrationId: string;
  clientId: string;
  authTokenUrl: string;
  /** When the completion was recorded: the start of the delivery latency. */
  createdAt: Date;
}

/** Appended to an `invalid_client` refusal's error: the two causes Open edX gives it. */
export const INVALID_CLIENT_HINT = 'the platform refused our client credentials: check the Client ID, and that the platform can reach our keyset URL';

/** The `component` of the worker's own lines (the access token requests it makes have theirs). */
const WORKER_COMPONENT = 'grades';
/** Grade.lastError holds this many characters of the reason (a platform's answer is cut to 300 before). */
const MAX_LAST_ERROR = 1000;

type Outcome =
  /** `note`: why the answer's body was not read although the platform accepted the score. */
  | { kind: 'delivered'; note?: string }
  /** `credentialRefusal`: the platform refused our client credentials (see credentialRefusalAttempts). */
  | { kind: 'retry'; error: string; status?: number; retryAfterMs?: number; credentialRefusal?: true }
  | { kind: 'failed'; error: string; status?: number };

/** The worker's clock for one poll (see `#clock`). */
type Clock = () => Date;

/**
 * Delivers queued grades to the platforms (AGS score service). Replica-safe: due rows are
 * claimed with `FOR UPDATE SKIP LOCKED` and a lease, so two processes never send the same
 * delivery at once, and a process that dies mid-delivery leaves rows that another claims
 * once the lease expires. Grades of one learner for one line item go one at a time, oldest
 * first, over all processes. Every outcome is written back only while no other worker has
 * claimed the row. Leases and due times are read on the database's clock when this
 * process's clock is off it.
 */
export class DeliveryWorker {
  readonly #d: DeliveryWorkerDeps;
  readonly #p: DeliveryPolicy;
  readonly #log: Logger;
  readonly #owner = randomUUID();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<number> | undefined;
  #again = false;
  #stopped = true;
  #lastTimestampMs = 0;
  /** The last correction `#clock` applied (ms), to log when it starts and stops. */
  #clockOffsetMs = 0;

  constructor(deps: DeliveryWorkerDeps) {
    this.#d = deps;
    this.#p = { ...DEFAULT_DELIVERY_POLICY, ...deps.policy };
    this.#log = deps.logger.child({ component: WORKER_COMPONENT });
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#schedule(0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running?.catch(() => 0);
  }

  /** Ask for a poll soon (e.g. right after a completion was committed). */
  wake(): void {
    if (this.#stopped) return;
    if (this.#running) this.#again = true;
    else this.#schedule(0);
  }

  #schedule(delayMs: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#tick(), delayMs);
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    if (this.#running) return;
    this.#again = false;
    this.#running = this.runOnce();
    let handled = 0;
    try {
      handled = await this.#running;
    } catch (err) {
      this.#log.error({ err }, 'grade delivery poll failed');
    } finally {
      this.#running = undefined;
    }
    if (!this.#stopped) this.#schedule(handled >= this.#p.batchSize || this.#again ? 0 : this.#p.pollIntervalMs);
  }

  /** Claims one batch of due grades and delivers them. Returns how many were handled. */
  async runOnce(): Promise<number> {
    const clock = await this.#clock();
    // The claim takes at most one grade per learner and line item (see #claim): all in parallel.
    const claimed = await this.#claim(clock());
    // allSettled: one outcome that could not be written must not abandon its siblings'
    // (still sending, still to be written) — nor let stop() return while they run.
    const settled = await Promise.allSettled(claimed.map((grade) => this.#deliver(grade, clock)));
    const failures = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failures.length > 0) {
      throw new Error(`${failures.length} of ${claimed.length} delivery outcomes could not be recorded`, { cause: failures[0]!.reason });
    }
    return claimed.length;
  }

  /**
   * The clock of one poll: the injected `now`, moved onto the database's clock when this
   * process's own clock is certainly more than CLOCK_TOLERANCE_MS off it. Leases and due
   * times are compared between processes: one whose clock ran ahead by a lease would take
   * over deliveries still in flight elsewhere, and one behind would write leases that the
   * others already see as expired. Measured before every claim, so a clock that is stepped
   * is followed from the next poll on.
   */
  async #clock(): Promise<Clock> {
    const wallMs = this.#d.wallClockMs ?? Date.now;
    const before = wallMs();
    // As milliseconds since the epoch, not a timestamptz: the Prisma adapters read a
    // timestamptz's digits as UTC and drop its offset, so a session time zone other than UTC
    // would look like hours of skew (and jump at every daylight-saving change).
    const [row] = await this.#d.prisma.$queryRaw<Array<{ dbMs: number }>>`SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS "dbMs"`;
    const after = wallMs();
    const dbMs = Number(row!.dbMs);
    // The database read its clock between our `before` and `after`: the offset lies in
    // [dbMs − after, dbMs − before], however slow the round trip. Corrected only when that
    // whole range is beyond the tolerance; then by its middle (off by at most half the trip).
    const [low, high] = [dbMs - after, dbMs - before];
    const offsetMs = low > CLOCK_TOLERANCE_MS || high < -CLOCK_TOLERANCE_MS ? Math.round((low + high) / 2) : 0;
    if ((offsetMs === 0) !== (this.#clockOffsetMs === 0)) {
      if (offsetMs === 0) this.#log.info('this process\'s clock agrees with the database\'s again');
      else this.#log.warn({ offsetMs }, 'this process\'s clock is off the database\'s: grade delivery uses the database\'s');
    }
    // NTP keeps clocks within milliseconds: a minute apart, one of the two machines' clocks is
    // wrong, and score timestamps follow the database's. Said at error level, once per episode.
    const far = Math.abs(offsetMs) > FAR_CLOCK_OFFSET_MS;
    if (far && Math.abs(this.#clockOffsetMs) <= FAR_CLOCK_OFFSET_MS) {
      this.#log.error({ offsetMs }, 'this process\'s clock and the database\'s are over a minute apart: check NTP on both');
    }
    this.#clockOffsetMs = offsetMs;
    return () => new Date(this.#d.now().getTime() + offsetMs);
  }

  async #claim(now: Date): Promise<ClaimedGrade[]> {
    const leaseUntil = new Date(now.getTime() + this.#p.leaseMs);
    // Open edX keeps one score per (line item, learner) and refuses (400) a timestamp that is
    // not strictly later than the stored one. So a grade is claimed only while no other
    // PENDING grade of the same learner and line item (two launches of one placement) is
    // older or holds a live lease: one at a time, oldest first, over all processes. "Older"
    // rather than only "leased" closes the race between two concurrent claims: neither sees
    // the other's uncommitted lease, but both see the older grade PENDING and skip the newer.
    // A grade never tried (a completion's, or one queued again) is due at once: its due time
    // is "now" on the clock of whichever process wrote it, which may be ahead of ours.
    return this.#d.prisma.$queryRaw<ClaimedGrade[]>`
      WITH due AS (
        SELECT g."id" FROM "Grade" g
        WHERE g."state" = 'PENDING' AND (g."nextAttemptAt" <= ${ts(now)} OR g."attempts" = 0)
          AND (g."leaseUntil" IS NULL OR g."leaseUntil" < ${ts(now)})
          AND NOT EXISTS (
            -- An index lookup (deliveryKey, state) per candidate, not a scan of the queue.
            SELECT 1 FROM "Grade" o
            WHERE o."deliveryKey" = g."deliveryKey" AND o."state" = 'PENDING' AND o."id" <> g."id"
              AND ((o."createdAt", o."id") < (g."createdAt", g."id") OR o."leaseUntil" >= ${ts(now)})
          )
        ORDER BY g."nextAttemptAt"
        LIMIT ${this.#p.batchSize}
        FOR UPDATE OF g SKIP LOCKED
      ), claimed AS (
        UPDATE "Grade" g SET "leaseUntil" = ${ts(leaseUntil)}, "leaseOwner" = ${this.#owner},
          "attempts" = g."attempts" + 1
        FROM due WHERE g."id" = due."id"
        RETURNING g."id", g."attempts", g."credentialRefusals", g."scoreGiven", g."scoreMaximum", g."launchId", g."registrationId", g."createdAt"
      )
      SELECT c."id", c."attempts", c."credentialRefusals", c."scoreGiven", c."scoreMaximum", l."subject", l."agsLineitem",
        c."registrationId", r."clientId", r."authTokenUrl", c."createdAt"
      FROM claimed c
      JOIN "Launch" l ON l."id" = c."launchId"
      JOIN "LtiRegistration" r ON r."id" = c."registrationId"`;
  }

  async #deliver(grade: ClaimedGrade, clock: Clock): Promise<void> {
    // Every line about this delivery carries its grade id, the token request's too.
    // Both are children of long-lived loggers (a child of a fresh child costs ~30 µs: app.ts).
    const gradeLogger = this.#d.logger.child({ gradeId: grade.id });
    const log = this.#log.child({ gradeId: grade.id });
    let outcome: Outcome;
    try {
      outcome = await this.#send(grade, gradeLogger, clock);
    } catch (err) {
      outcome = { kind: 'retry', error: `unexpected: ${(err as Error).message}` };
      log.error({ err }, 'grade delivery crashed');
    }
    try {
      await this.#record(grade, outcome, log, clock);
    } catch (err) {
      // Each one is logged here, with its grade and what was sent: the poll reports only a count.
      log.error({ err, outcome: outcome.kind }, 'grade delivery outcome could not be recorded: the grade is sent again when its lease runs out');
      throw err;
    }
  }

  async #send(grade: ClaimedGrade, gradeLogger: Logger, clock: Clock): Promise<Outcome> {
    // A row queued before the completion's check refused such line items (or by any other
    // path): fetching it could never succeed, so it fails now with the reason, nothing sent.
    const problem = lineitemUrlProblem(grade.agsLineitem);
    if (problem) return { kind: 'failed', error: `line item: ${problem}` };
    const registration = { id: grade.registrationId, clientId: grade.clientId, authTokenUrl: grade.authTokenUrl };
    const scopes = [AGS_SCOPE_SCORE];
    for (let tokenTry = 1; ; tokenTry++) {
      let token: string;
      try {
        token = await this.#d.accessTokens.get(registration, scopes, gradeLogger);
      } catch (err) {
        if (err instanceof TokenRequestError) {
          const status = err.status ? { status: err.status } : {};
          const retryAfter = err.retryAfterMs !== undefined ? { retryAfterMs: err.retryAfterMs } : {};
          if (err.retryable) return { kind: 'retry', error: err.message, ...status, ...retryAfter };
          // RFC 6749 §5.2 answers invalid_client with 400, or 401 when the client authenticated
          // through the Authorization header; any other status is not that answer.
          if (err.oauthError === 'invalid_client' && (err.status === 400 || err.status === 401)) {
            return { kind: 'retry', error: `${err.message} (${INVALID_CLIENT_HINT})`, ...status, ...retryAfter, credentialRefusal: true };
          }
          return { kind: 'failed', error: err.message, ...status };
        }
        throw err;
      }
      // A fresh timestamp per attempt: if an earlier attempt landed although we saw a
      // timeout, this one is strictly later (as Open edX requires) and sets the same score.
      // Strictly increasing within this process, even for sends in the same millisecond; on
      // the poll's clock, which other processes share (see #clock), and a later grade of the
      // same learner and line item is only claimed once this one is no longer PENDING.
      const at = Math.max(clock().getTime(), this.#lastTimestampMs + 1);
      this.#lastTimestampMs = at;
      const body = fullMarksScore(grade.subject, new Date(at));
      let res: Awaited<ReturnType<typeof fetchTextLimited>>;
      const monotonicMs = this.#d.monotonicMs ?? (() => performance.now());
      const started = monotonicMs();
      try {
        res = await fetchTextLimited(
          this.#d.fetch,
          scoresUrl(grade.agsLineitem),
          {
            method: 'POST',
            headers: { authorization: `Bearer ${token}`, 'content-type': SCORE_CONTENT_TYPE },
            body: JSON.stringify({ ...body, scoreGiven: grade.scoreGiven, scoreMaximum: grade.scoreMaximum }),
          },
          { timeoutMs: this.#p.timeoutMs, maxBytes: 64 * 1024 },
        );
      } catch (err) {
        const error = `score service: ${(err as Error).message}`;
        // The status line is the platform's verdict: a 2xx whose body was too large or too
        // slow to read has stored the score, and we never need that body. Retrying would only
        // send the score again and end in "gave up" for a score that is there.
        if (err instanceof OutboundError && err.status !== undefined && err.status >= 200 && err.status < 300) {
          return isAgsSuccess(err.status)
            ? { kind: 'delivered', note: `${error} (answered ${err.status})` }
            : { kind: 'failed', error: notAgsSuccess(err.status), status: err.status };
        }
        // A refused address stays refused until an operator changes the allowlist (then: retryGrade).
        if (err instanceof OutboundError && err.code === 'ERR_OUTBOUND_FORBIDDEN_ADDRESS') return { kind: 'failed', error };
        return { kind: 'retry', error };
      } finally {
        this.#d.metrics?.deliveryAttemptDuration.observe((monotonicMs() - started) / 1000);
      }
      if (res.status >= 200 && res.status < 300) {
        return isAgsSuccess(res.status) ? { kind: 'delivered' } : { kind: 'failed', error: notAgsSuccess(res.status), status: res.status };
      }
      const error = `score service answered ${res.status}: ${excerpt(res.text)}`;
      if ((res.status === 401 || res.status === 403) && tokenTry === 1) {
        this.#d.accessTokens.invalidate(registration, scopes, token);
        continue;
      }
      if (isTransientStatus(res.status)) {
        const after = retryAfterMs(res.headers.get('retry-after'), clock().getTime());
        return { kind: 'retry', error, status: res.status, ...(after !== undefined ? { retryAfterMs: after } : {}) };
      }
      return { kind: 'failed', error, status: res.status };
    }
  }

  async #record(grade: ClaimedGrade, outcome: Outcome, log: Logger, clock: Clock): Promise<void> {
    const now = clock();
    // Still ours unless another worker claimed it since (our lease ran out and it took over):
    // then its outcome, not our late one, is the row's.
    const mine = { id: grade.id, leaseOwner: this.#owner, state: 'PENDING' as const };
    const credentialRefusals = outcome.kind === 'retry' && outcome.credentialRefusal ? grade.credentialRefusals + 1 : 0;
    const gaveUp = outcome.kind === 'retry' ? this.#givesUp(grade, credentialRefusals) : undefined;
    let data: Prisma.GradeUpdateManyMutationInput;
    if (outcome.kind === 'delivered') {
      data = { state: 'DELIVERED', deliveredAt: now, nextAttemptAt: null, leaseUntil: null, leaseOwner: null, lastError: null, lastStatus: null, credentialRefusals };
    } else if (outcome.kind === 'failed' || gaveUp) {
      const error = gaveUp ? `${gaveUp}; last: ${outcome.error}` : outcome.error;
      data = { state: 'FAILED', nextAttemptAt: null, leaseUntil: null, leaseOwner: null, lastError: storableText(error, MAX_LAST_ERROR), lastStatus: outcome.status ?? null, credentialRefusals };
    } else {
      // Retry-After is honoured, but a platform cannot postpone a grade past our longest backoff.
      const delay = Math.min(this.#p.maxBackoffMs, Math.max(this.backoffMs(grade.attempts), outcome.retryAfterMs ?? 0));
      data = {
        nextAttemptAt: new Date(now.getTime() + delay),
        leaseUntil: null,
        leaseOwner: null,
        lastError: storableText(outcome.error, MAX_LAST_ERROR),
        lastStatus: outcome.status ?? null,
        credentialRefusals,
      };
    }
    const { count } = await this.#d.prisma.grade.updateMany({ where: mine, data });
    this.#d.metrics?.deliveries.inc({ outcome: data.state === 'DELIVERED' ? 'delivered' : data.state === 'FAILED' ? 'failed' : 'retry' });
    if (outcome.kind === 'delivered' && count === 1) {
      this.#d.metrics?.deliveryLatency.observe(Math.max(0, now.getTime() - new Date(grade.createdAt).getTime()) / 1000);
    }
    // The grade id is the logger's (a field here would repeat it on the line).
    const fields = {
      attempt: grade.attempts,
      outcome: outcome.kind,
      ...('error' in outcome ? { error: outcome.error } : {}),
      ...('note' in outcome && outcome.note ? { note: outcome.note } : {}),
    };
    if (count === 0) log.warn(fields, 'grade delivery finished after losing its lease');
    else if (outcome.kind === 'delivered') log.info(fields, 'grade delivered');
    else log.warn(fields, outcome.kind === 'failed' ? 'grade delivery failed' : 'grade delivery will be retried');
  }

  /** Why a grade whose attempt failed transiently stops here, or undefined while it may try again. */
  #givesUp(grade: ClaimedGrade, credentialRefusals: number): string | undefined {
    if (grade.attempts >= this.#p.maxAttempts) return `gave up after ${grade.attempts} attempts`;
    if (credentialRefusals > 0 && credentialRefusals >= this.#p.credentialRefusalAttempts) {
      return `gave up after ${credentialRefusals} refusals of our client credentials in a row`;
    }
    return undefined;
  }

  /** Exponential backoff with ±20 % jitter, capped. `attempt` counts from 1. */
  backoffMs(attempt: number): number {
    const base = Math.min(this.#p.maxBackoffMs, this.#p.baseBackoffMs * 2 ** Math.max(0, attempt - 1));
    const jitter = 0.8 + 0.4 * (this.#d.random ?? Math.random)();
    return Math.round(Math.min(this.#p.maxBackoffMs, base * jitter));
  }
}
