/**
 * Errors the test platform throws at its callers. Callers check `code` (and `parameter`),
 * never the message.
 */

/** The tool's OIDC authentication request was refused; `parameter` names the culprit. */
export class AuthRequestError extends Error {
  readonly code = 'ERR_AUTH_REQUEST';
  override name = this.constructor.name;
  constructor(
    /** The query parameter at fault, or `endpoint` when the URL is not the auth login URL. */
    readonly parameter: string,
    message: string,
  ) {
    super(`${parameter}: ${message}`);
  }
}

/** A token endpoint refusal, carrying the RFC 6749 error code it is answered with. */
export class TokenRequestError extends Error {
  readonly code = 'ERR_TOKEN_REQUEST';
  override name = this.constructor.name;
  constructor(
    readonly error: 'invalid_request' | 'invalid_client' | 'invalid_grant' | 'unsupported_grant_type' | 'unidentified_error',
    readonly description: string,
    options?: { cause?: unknown },
  ) {
    super(`${error}: ${description}`, options);
  }
}
