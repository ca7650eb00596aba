/**
 * Events dispatched by `<lti-completion>`. Both bubble and are composed, so a listener on
 * `document` hears them from inside any shadow root.
 *
 * This module holds types only: import it with `import type`.
 */

/** Where the LMS grade stands when the server answers (`grade.state` in its response). */
export type LtiGradeState = 'pending' | 'delivered' | 'failed' | 'not_gradable';

export interface LtiCompletionRecordedDetail {
  /** The server's id of this launch. */
  launchId: string;
  /** When the server recorded the completion (ISO 8601). A repeated completion keeps the first. */
  completedAt: string;
  gradeState: LtiGradeState;
}

/**
 * - `no_launch`: the page was not opened from a course launch (no credential or no server).
 * - `invalid_credential`: the server refused the credential (forged, expired or unknown; HTTP 401).
 * - `network`: the server could not be reached.
 * - `server`: the server answered with an error (HTTP 429 and 5xx are retryable, others not).
 */
export type LtiCompletionErrorCode = 'no_launch' | 'invalid_credential' | 'network' | 'server';

export interface LtiCompletionErrorDetail {
  code: LtiCompletionErrorCode;
  /** For developers (English); learners see the element's own status text. */
  message: string;
  /** Whether trying again later (the Retry button, or `complete()`) may succeed. */
  retryable: boolean;
}

export type LtiCompletionRecordedEvent = CustomEvent<LtiCompletionRecordedDetail>;
export type LtiCompletionErrorEvent = CustomEvent<LtiCompletionErrorDetail>;

declare global {
  interface HTMLElementEventMap {
    'lti-completion-recorded': LtiCompletionRecordedEvent;
    'lti-completion-error': LtiCompletionErrorEvent;
  }
}
