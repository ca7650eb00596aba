import { AppError } from '../errors.ts';

/**
 * Every way an LTI request can be refused. The code is stable (shown to the learner,
 * logged, and later counted in metrics); the title is what the browser page says; the
 * status is the HTTP answer. The detailed reason goes to the log only.
 */
export const LTI_ERRORS = {
  ERR_LTI_BAD_REQUEST: [400, 'The request from your course was malformed.'],
  ERR_LTI_UNKNOWN_APP: [404, 'This exercise does not exist.'],
  ERR_LTI_APP_NOT_PUBLIC: [403, 'This exercise is not shared over LTI. Ask its owner to make it public.'],
  ERR_LTI_UNKNOWN_REGISTRATION: [400, 'This course is not connected to this exercise. Check the LTI settings (issuer and client ID).'],
  ERR_LTI_CLIENT_ID_REQUIRED: [400, 'The course did not say which LTI client it is (client_id).'],
  ERR_LTI_UNKNOWN_DEPLOYMENT: [400, 'This course deployment is not registered for the exercise (deployment ID).'],
  ERR_LTI_TARGET_LINK_URI: [400, 'The launch points to a different tool.'],
  ERR_LTI_PLATFORM_ERROR: [400, 'Your course refused the sign-in.'],
  ERR_LTI_STATE_COOKIE_MISSING: [400, 'Your browser did not keep the sign-in cookie. Allow cookies for this site, then open the exercise from your course again.'],
  ERR_LTI_STATE_MISMATCH: [400, 'This sign-in was started in another browser or tab. Open the exercise from your course again.'],
  ERR_LTI_STATE_UNKNOWN: [400, 'This sign-in is unknown or has expired. Open the exercise from your course again.'],
  ERR_LTI_STATE_EXPIRED: [400, 'This sign-in took too long. Open the exercise from your course again.'],
  ERR_LTI_REGISTRATION_CHANGED: [409, "This exercise's LTI settings changed while you were signing in. Open the exercise from your course again."],
  ERR_LTI_NONCE_REUSED: [400, 'This sign-in was already used. Open the exercise from your course again.'],
  ERR_LTI_NONCE_MISMATCH: [400, 'The sign-in does not belong to this launch.'],
  ERR_LTI_TOKEN_MALFORMED: [400, 'The launch token is not a valid LTI token.'],
  ERR_LTI_ALG_NOT_ALLOWED: [400, 'The launch token uses a signature algorithm that is not accepted.'],
  ERR_LTI_KID_MISSING: [400, 'The launch token does not name its signing key.'],
  ERR_LTI_UNKNOWN_KID: [400, "The launch token was signed with a key the course's keyset does not have."],
  ERR_LTI_KEYSET_UNAVAILABLE: [502, "The course's keyset could not be fetched or used. Try again in a moment."],
  ERR_LTI_BAD_SIGNATURE: [400, 'The launch token signature is invalid.'],
  ERR_LTI_ISSUER: [400, 'The launch token comes from a different platform than the sign-in.'],
  ERR_LTI_AUDIENCE: [400, 'The launch token is meant for another tool.'],
  ERR_LTI_TOKEN_EXPIRED: [400, 'The launch token has expired. Open the exercise from your course again.'],
  ERR_LTI_TOKEN_NOT_YET_VALID: [400, 'The launch token is not valid yet (check the clocks).'],
  ERR_LTI_VERSION: [400, 'Only LTI version 1.3.0 is supported.'],
  ERR_LTI_MESSAGE_TYPE: [400, 'This kind of LTI launch is not supported (only resource link launches).'],
  ERR_LTI_DEPLOYMENT_ID_MISSING: [400, 'The launch token has no deployment ID.'],
  ERR_LTI_RESOURCE_LINK_MISSING: [400, 'The launch token has no resource link.'],
  ERR_LTI_SUB_MISSING: [400, 'The launch token does not identify the learner.'],
  ERR_LTI_ROLES_MISSING: [400, 'The launch token has no roles claim.'],
  ERR_LTI_METHOD: [405, 'This address does not accept that kind of request.'],
  ERR_LTI_BODY_TOO_LARGE: [413, 'The request was too large.'],
  ERR_LTI_URI_TOO_LONG: [414, 'The address of the request was too long.'],
  ERR_LTI_RATE_LIMITED: [429, 'Too many requests came from your network just now. Wait a moment, then open the exercise from your course again.'],
  ERR_LTI_INTERNAL: [500, 'Something went wrong on our side. Try again in a moment.'],
} as const satisfies Record<string, readonly [number, string]>;

export type LtiErrorCode = keyof typeof LTI_ERRORS;

export class LtiError extends AppError {
  readonly status: number;
  /** Safe to show to the learner. */
  readonly title: string;
  constructor(
    readonly code: LtiErrorCode,
    /** For the log only: may name claims and values, never secrets. */
    readonly reason: string,
    options?: { cause?: unknown; context?: Record<string, unknown> },
  ) {
    super(reason, options?.cause === undefined ? undefined : { cause: options.cause });
    this.status = LTI_ERRORS[code][0];
    this.title = LTI_ERRORS[code][1];
    this.context = options?.context ?? {};
  }
  /** Ids that help an operator (registration, app), logged with the reason. */
  readonly context: Record<string, unknown>;
}
