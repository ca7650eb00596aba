/**
 * The AGS scores endpoint, `POST <lineitem path>/scores?<lineitem query>`, with Open edX's
 * answers: 403 for a missing/bad token or scope, 415 for another media type, 400 for an
 * invalid body or a timestamp that is not later than the stored one, 500 (sic) for an
 * unknown progress value.
 */
import type { AccessTokenStore } from './access-tokens.ts';
import { AGS_SCOPE, SCORE_CONTENT_TYPE } from './constants.ts';
import { json, type PlatformRequest, type PlatformResponse } from './http.ts';
import type { LineItem } from './line-items.ts';
import type { ScoreRecord } from './types.ts';

const ACTIVITY_PROGRESS = ['Initialized', 'Started', 'InProgress', 'Submitted', 'Completed'];
const GRADING_PROGRESS = ['FullyGraded', 'Pending', 'PendingManual', 'Failed', 'NotReady'];
/** ISO 8601 date-time with seconds and a zone, fraction optional. */
const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$/;

/** What the scores endpoint needs. */
export interface ScoresContext {
  tokens: AccessTokenStore;
  /** `${lineitem} ${userId}` → the last stored timestamp in ms. */
  lastTimestamps: Map<string, number>;
}

/** A refusal, answered with `status` and `{ error }`. */
class ScoreRefusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function checkBearerToken(request: PlatformRequest, tokens: AccessTokenStore): void {
  const match = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '');
  if (!match) throw new ScoreRefusal(403, 'missing bearer token');
  const scopes = tokens.scopesOf(match[1]!);
  if (!scopes) throw new ScoreRefusal(403, 'unknown or expired access token');
  if (!scopes.includes(AGS_SCOPE.score)) throw new ScoreRefusal(403, 'access token lacks the score scope');
}

function checkContentType(request: PlatformRequest): void {
  const mediaType = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (mediaType !== SCORE_CONTENT_TYPE) {
    throw new ScoreRefusal(415, `content-type must be ${SCORE_CONTENT_TYPE}, got "${mediaType}"`);
  }
}

function parseScore(body: string): Record<string, unknown> {
  let score: unknown;
  try {
    score = JSON.parse(body);
  } catch {
    throw new ScoreRefusal(400, 'body is not JSON');
  }
  if (typeof score !== 'object' || score === null || Array.isArray(score)) {
    throw new ScoreRefusal(400, 'body must be a JSON object');
  }
  return score as Record<string, unknown>;
}

/** Field checks; returns the timestamp in ms. */
function checkScoreFields(score: Record<string, unknown>): number {
  const { userId, scoreGiven, scoreMaximum, activityProgress, gradingProgress, timestamp } = score;
  if (typeof userId !== 'string' || !userId) throw new ScoreRefusal(400, 'userId is required');
  if (scoreGiven !== undefined && (typeof scoreGiven !== 'number' || scoreGiven < 0)) {
    throw new ScoreRefusal(400, 'scoreGiven must be a non-negative number');
  }
  if (scoreGiven !== undefined && (typeof scoreMaximum !== 'number' || scoreMaximum <= 0)) {
    throw new ScoreRefusal(400, 'scoreMaximum must be a positive number when scoreGiven is present');
  }
  if (typeof activityProgress !== 'string') throw new ScoreRefusal(400, 'activityProgress is required');
  if (typeof gradingProgress !== 'string') throw new ScoreRefusal(400, 'gradingProgress is required');
  if (typeof timestamp !== 'string' || !ISO_8601.test(timestamp) || Number.isNaN(Date.parse(timestamp))) {
    throw new ScoreRefusal(400, 'timestamp must be an ISO 8601 date-time');
  }
  // Open edX answers these with a server error, not a 400.
  if (!ACTIVITY_PROGRESS.includes(activityProgress)) throw new ScoreRefusal(500, `activityProgress "${activityProgress}"`);
  if (!GRADING_PROGRESS.includes(gradingProgress)) throw new ScoreRefusal(500, `gradingProgress "${gradingProgress}"`);
  return Date.parse(timestamp);
}

/** Answers one score POST for `lineitem`; `score` is set when it was stored. */
export function handleScoreRequest(
  request: PlatformRequest,
  lineitem: LineItem,
  ctx: ScoresContext,
): { response: PlatformResponse; score?: ScoreRecord; error?: string } {
  try {
    checkBearerToken(request, ctx.tokens);
    checkContentType(request);
    const body = parseScore(request.body);
    const timestampMs = checkScoreFields(body);
    const key = `${lineitem.url} ${String(body.userId)}`;
    const last = ctx.lastTimestamps.get(key);
    if (last !== undefined && timestampMs <= last) {
      throw new ScoreRefusal(400, 'timestamp must be later than the last score stored for this user');
    }
    ctx.lastTimestamps.set(key, timestampMs);
    const score: ScoreRecord = {
      lineitem: lineitem.url,
      authorization: request.headers.authorization ?? '',
      contentType: request.headers['content-type'] ?? '',
      body,
      storedAt: Date.now(),
    };
    return { response: json(200, body), score };
  } catch (error) {
    if (!(error instanceof ScoreRefusal)) throw error;
    return { response: json(error.status, { error: error.message }), error: error.message };
  }
}
