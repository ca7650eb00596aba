import { compactVerify, decodeProtectedHeader, errors as joseErrors, type JWSHeaderParameters } from 'jose';
import type { Logger } from '../../logger.ts';
import { KeysetUnavailableError, type PlatformKeysets } from '../platform-keysets.ts';
import { ALLOWED_ALGS } from '../claims.ts';
import { LtiError } from '../errors.ts';
import { describeClaim } from './claims.ts';

const MAX_ID_TOKEN = 32 * 1024;

/** Header checks before any key lookup: well-formed JWS, allowlisted alg, a kid. */
export function checkTokenHeader(idToken: string | null): JWSHeaderParameters {
  if (!idToken) throw new LtiError('ERR_LTI_BAD_REQUEST', 'launch without id_token');
  if (idToken.length > MAX_ID_TOKEN) throw new LtiError('ERR_LTI_TOKEN_MALFORMED', `id_token over ${MAX_ID_TOKEN} characters`);
  let header: JWSHeaderParameters;
  try {
    header = decodeProtectedHeader(idToken) as JWSHeaderParameters;
  } catch (cause) {
    throw new LtiError('ERR_LTI_TOKEN_MALFORMED', 'id_token is not a JWS', { cause });
  }
  if (idToken.split('.').length !== 3) throw new LtiError('ERR_LTI_TOKEN_MALFORMED', 'id_token is not a compact JWS');
  checkAlgorithm(header.alg);
  if (typeof header.kid !== 'string' || header.kid.length === 0) {
    throw new LtiError('ERR_LTI_KID_MISSING', 'id_token header has no kid');
  }
  return header;
}

export function checkAlgorithm(alg: unknown): void {
  if (typeof alg !== 'string' || !(ALLOWED_ALGS as readonly string[]).includes(alg)) {
    throw new LtiError('ERR_LTI_ALG_NOT_ALLOWED', `alg ${describeClaim(alg, 20)} is not in ${ALLOWED_ALGS.join(',')}`);
  }
}

const UTF8 = new TextDecoder();

/**
 * Verifies the signature against the registration's keyset and returns the claims.
 * Key selection is jose's: by kid and by the key type the alg requires (an RSA key can
 * never verify an ES256 token, nor an EC key an RS256 one). A keyset fetch it waits for is
 * logged with `requestLogger` (the launch's).
 */
export async function verifyTokenSignature(
  idToken: string,
  keysetUrl: string,
  keysets: PlatformKeysets,
  requestLogger?: Logger,
): Promise<Record<string, unknown>> {
  let payload: Uint8Array;
  try {
    ({ payload } = await compactVerify(idToken, keysets.resolverFor(keysetUrl, requestLogger), { algorithms: [...ALLOWED_ALGS] }));
  } catch (err) {
    throw mapVerifyError(err, keysetUrl);
  }
  let claims: unknown;
  try {
    claims = JSON.parse(UTF8.decode(payload));
  } catch (cause) {
    throw new LtiError('ERR_LTI_TOKEN_MALFORMED', 'id_token payload is not JSON', { cause });
  }
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) {
    throw new LtiError('ERR_LTI_TOKEN_MALFORMED', 'id_token payload is not a JSON object');
  }
  return claims as Record<string, unknown>;
}

/**
 * What a failed verification means, as a code. Faults of the platform's keyset are
 * ERR_LTI_KEYSET_UNAVAILABLE (502), never the token's 400: the resolver reports them as
 * KeysetUnavailableError, and jose's own keyset errors are mapped the same way should one
 * ever reach here. Exported for its unit test.
 */
export function mapVerifyError(err: unknown, keysetUrl: string): LtiError {
  if (err instanceof LtiError) return err;
  if (err instanceof KeysetUnavailableError) return new LtiError('ERR_LTI_KEYSET_UNAVAILABLE', err.message, { cause: err });
  if (err instanceof joseErrors.JWKSMultipleMatchingKeys) {
    return new LtiError('ERR_LTI_KEYSET_UNAVAILABLE', `several keys in ${keysetUrl} match the token's kid and alg`, { cause: err });
  }
  if (err instanceof joseErrors.JWKSInvalid) {
    return new LtiError('ERR_LTI_KEYSET_UNAVAILABLE', `keyset ${keysetUrl} is invalid: ${err.message}`, { cause: err });
  }
  if (err instanceof joseErrors.JWKSNoMatchingKey) {
    return new LtiError('ERR_LTI_UNKNOWN_KID', `no key in ${keysetUrl} matches the token's kid and alg`, { cause: err });
  }
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) {
    return new LtiError('ERR_LTI_BAD_SIGNATURE', 'signature verification failed', { cause: err });
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return new LtiError('ERR_LTI_ALG_NOT_ALLOWED', err.message, { cause: err });
  if (err instanceof joseErrors.JOSEError) return new LtiError('ERR_LTI_TOKEN_MALFORMED', `${err.code}: ${err.message}`, { cause: err });
  return new LtiError('ERR_LTI_TOKEN_MALFORMED', `verification failed: ${(err as Error)?.message}`, { cause: err });
}
