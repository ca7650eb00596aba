/** Assignment and Grade Services 2.0 constants. */
import { createHash } from 'node:crypto';
import { withoutTrailingSlashes } from '../validation.ts';

export const AGS_SCOPE_SCORE = 'https://purl.imsglobal.org/spec/lti-ags/scope/score';
export const SCORE_CONTENT_TYPE = 'application/vnd.ims.lis.v1.score+json';
export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** Pass/fail: completing the exercise is full marks (100 in the Open edX gradebook). */
export const FULL_MARKS = 100;

/**
 * Why a line item URL can never take a score from us, or undefined when it can. The outbound
 * fetch refuses URLs with credentials (they would be sent to the platform in clear, and no
 * platform needs them), so such a line item is refused here, with the reason, instead of
 * failing as a "network error" on every attempt.
 */
export function lineitemUrlProblem(lineitem: string): string | undefined {
  let url: URL;
  try {
    url = new URL(lineitem);
  } catch {
    return 'not an http(s) URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'not an http(s) URL';
  if (url.username || url.password) return 'the URL carries credentials (user:password@), which are never sent';
  return undefined;
}

/**
 * The key of the platform's one score per line item and learner (Grade.deliveryKey): SHA-256
 * hex of `<lineitem>\n<sub>` in UTF-8. The migration that added the column computes the same
 * in SQL for the rows it backfilled; both must agree (test/grades/delivery-faults.test.ts).
 */
export function gradeDeliveryKey(lineitem: string, subject: string): string {
  return createHash('sha256').update(`${lineitem}\n${subject}`, 'utf8').digest('hex');
}

/**
 * `<lineitem>/scores`, keeping the line item's query string where it belongs
 * (`…/lineitems/7?type=x` → `…/lineitems/7/scores?type=x`).
 */
export function scoresUrl(lineitem: string): string {
  const url = new URL(lineitem);
  // A linear trim, not /\/+$/: the line item comes from the launch, stored whole (up to the
  // id_token's 32 KiB), and that regex is quadratic in a long run of slashes.
  url.pathname = `${withoutTrailingSlashes(url.pathname)}/scores`;
  return url.toString();
}

export interface ScoreBody {
  userId: string;
  scoreGiven: number;
  scoreMaximum: number;
  activityProgress: 'Completed';
  gradingProgress: 'FullyGraded';
  timestamp: string;
}

export function fullMarksScore(userId: string, at: Date): ScoreBody {
  return {
    userId,
    scoreGiven: FULL_MARKS,
    scoreMaximum: FULL_MARKS,
    activityProgress: 'Completed',
    gradingProgress: 'FullyGraded',
    timestamp: at.toISOString(),
  };
}

/**
 * The answers by which a score service says it stored (or accepted) a score: 200 OK, 201
 * Created, 202 Accepted, 204 No Content, and 203 (the origin's 200 with its body changed by a
 * proxy on the way back, RFC 9110 §15.3.4). Another 2xx (205, 206, 207…) says nothing of the
 * kind: counting it as delivered could report a grade the gradebook never got, so it is a
 * visible failure the owner can look into and retry instead.
 */
const AGS_SUCCESS = new Set([200, 201, 202, 203, 204]);

export function isAgsSuccess(status: number): boolean {
  return AGS_SUCCESS.has(status);
}

export function notAgsSuccess(status: number): string {
  return `score service answered ${status}, which is not an answer by which a score service says it stored a score (200, 201, 202, 203, 204)`;
}
