import { CLAIM, LTI_VERSION, RESOURCE_LINK_REQUEST } from '../claims.ts';
import { LtiError } from '../errors.ts';

type Claims = Record<string, unknown>;

/**
 * A claim's value for the log, cut short. Never `String(value)`: an object such as
 * `{"toString": false}` makes that throw (a 500, found by test/fuzz/launch.test.ts).
 */
export function describeClaim(value: unknown, max = 200): string {
  if (typeof value === 'string') return value.slice(0, max);
  try {
    return (JSON.stringify(value) ?? typeof value).slice(0, max);
  } catch {
    return typeof value;
  }
}

/** `exp` required and in the future; `iat` required and not in the future; `nbf` if present. */
export function checkTimes(claims: Claims, now: Date, toleranceSeconds: number): void {
  const t = now.getTime() / 1000;
  const { exp, iat, nbf } = claims;
  if (typeof exp !== 'number' || !Number.isFinite(exp)) throw new LtiError('ERR_LTI_TOKEN_MALFORMED', 'exp missing or not a number');
  if (typeof iat !== 'number' || !Number.isFinite(iat)) throw new LtiError('ERR_LTI_TOKEN_MALFORMED', 'iat missing or not a number');
  if (exp <= t - toleranceSeconds) throw new LtiError('ERR_LTI_TOKEN_EXPIRED', `exp ${exp} is before now ${Math.floor(t)}`);
  if (iat > t + toleranceSeconds) throw new LtiError('ERR_LTI_TOKEN_NOT_YET_VALID', `iat ${iat} is in the future (now ${Math.floor(t)})`);
  if (nbf !== undefined) {
    if (typeof nbf !== 'number' || !Number.isFinite(nbf)) throw new LtiError('ERR_LTI_TOKEN_MALFORMED', 'nbf is not a number');
    if (nbf > t + toleranceSeconds) throw new LtiError('ERR_LTI_TOKEN_NOT_YET_VALID', `nbf ${nbf} is in the future (now ${Math.floor(t)})`);
  }
}

export function checkIssuer(claims: Claims, issuer: string): void {
  if (claims.iss !== issuer) {
    throw new LtiError('ERR_LTI_ISSUER', `iss ${describeClaim(claims.iss, 200)} is not the registration's ${issuer}`);
  }
}

/** `aud` is the client ID or an array containing it; with an array, `azp` must be the client ID. */
export function checkAudience(claims: Claims, clientId: string): void {
  const { aud, azp } = claims;
  if (typeof aud === 'string') {
    if (aud !== clientId) throw new LtiError('ERR_LTI_AUDIENCE', `aud ${aud.slice(0, 200)} is not client ${clientId}`);
  } else if (Array.isArray(aud)) {
    if (!aud.includes(clientId)) throw new LtiError('ERR_LTI_AUDIENCE', `aud array does not contain client ${clientId}`);
    if (azp !== clientId) throw new LtiError('ERR_LTI_AUDIENCE', `aud is an array and azp ${describeClaim(azp, 200)} is not client ${clientId}`);
  } else {
    throw new LtiError('ERR_LTI_AUDIENCE', 'aud missing or not a string/array');
  }
  if (azp !== undefined && azp !== clientId) {
    throw new LtiError('ERR_LTI_AUDIENCE', `azp ${describeClaim(azp, 200)} is not client ${clientId}`);
  }
}

export function checkNonce(claims: Claims, expected: string): void {
  if (claims.nonce !== expected) throw new LtiError('ERR_LTI_NONCE_MISMATCH', 'nonce differs from the one issued at login');
}

export function checkDeployment(claims: Claims, deploymentIds: readonly string[]): string {
  const id = claims[CLAIM.deploymentId];
  if (typeof id !== 'string' || id.length === 0) throw new LtiError('ERR_LTI_DEPLOYMENT_ID_MISSING', 'no deployment_id claim');
  if (!deploymentIds.includes(id)) throw new LtiError('ERR_LTI_UNKNOWN_DEPLOYMENT', `deployment ${id.slice(0, 200)} is not registered`);
  return id;
}

export function checkVersion(claims: Claims): void {
  const version = claims[CLAIM.version];
  if (version !== LTI_VERSION) throw new LtiError('ERR_LTI_VERSION', `version ${describeClaim(version, 50)}`);
}

export function checkMessageType(claims: Claims): void {
  const type = claims[CLAIM.messageType];
  if (type !== RESOURCE_LINK_REQUEST) {
    throw new LtiError('ERR_LTI_MESSAGE_TYPE', `message_type ${describeClaim(type, 100)} (only ${RESOURCE_LINK_REQUEST})`);
  }
}

export function checkResourceLink(claims: Claims): { id: string; title: string | undefined } {
  const link = claims[CLAIM.resourceLink] as { id?: unknown; title?: unknown } | undefined;
  if (typeof link !== 'object' || link === null || typeof link.id !== 'string' || link.id.length === 0) {
    throw new LtiError('ERR_LTI_RESOURCE_LINK_MISSING', 'no resource_link.id');
  }
  return { id: link.id, title: typeof link.title === 'string' ? link.title : undefined };
}

export function checkSubject(claims: Claims): string {
  const sub = claims.sub;
  if (typeof sub !== 'string' || sub.length === 0) throw new LtiError('ERR_LTI_SUB_MISSING', 'no sub claim');
  return sub;
}

/** The roles claim must be present (an array of strings); unknown and empty roles are fine. */
export function checkRoles(claims: Claims): string[] {
  const roles = claims[CLAIM.roles];
  if (!Array.isArray(roles) || !roles.every((r) => typeof r === 'string')) {
    throw new LtiError('ERR_LTI_ROLES_MISSING', 'roles claim missing or not an array of strings');
  }
  return roles as string[];
}
