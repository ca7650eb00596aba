/** Assignment and Grade Services 2.0 constants. */
export const AGS_SCOPE_SCORE = 'https://purl.imsglobal.org/spec/lti-ags/scope/score';
export const SCORE_CONTENT_TYPE = 'application/vnd.ims.lis.v1.score+json';
export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** Pass/fail: completing the exercise is full marks (100 in the Open edX gradebook). */
export const FULL_MARKS = 100;

/**
 * `<lineitem>/scores`, keeping the line item's query string where it belongs
 * (`…/lineitems/7?type=x` → `…/lineitems/7/scores?type=x`).
 */
export function scoresUrl(lineitem: string): string {
  const url = new URL(lineitem);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/scores`;
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
