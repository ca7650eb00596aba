import { decodeJwt, type JWTPayload } from 'jose';
import { randomToken, sha256Hex, uuidv7 } from '../ids.ts';
import { cutText, isStorableText } from '../db/storable-text.ts';
import { readForm } from '../http/form.ts';
import { CLAIM } from './claims.ts';
import {
  checkAudience,
  checkDeployment,
  checkIssuer,
  checkMessageType,
  checkNonce,
  checkResourceLink,
  checkRoles,
  checkSubject,
  checkTimes,
  checkVersion,
} from './checks/claims.ts';
import { checkAppStillPublic, checkLoginRegistration } from './checks/registration.ts';
import { checkLoginState, checkNonceUnused, checkStateCookie } from './checks/state.ts';
import { checkTargetLinkUri } from './checks/target-link.ts';
import { checkTokenHeader, verifyTokenSignature } from './checks/token.ts';
import type { LtiDeps } from './deps.ts';
import { LtiError } from './errors.ts';
import { findRegistrationForLaunch, type LaunchRegistration } from './launch-queries.ts';
import { recordLaunchIfUnusedAndRegistrationMatches, type LaunchData } from './launch-record.ts';
import type { SealedLogin } from './sealed-login.ts';
import { clearStateCookie } from './state-cookie.ts';
import { ltiToolUrls } from './tool-urls.ts';

/**
 * Where the exercise page (its completion widget) finds its launch credential and our
 * server: the URL fragment, which browsers never send to servers or in Referer headers.
 */
export const LAUNCH_FRAGMENT_PARAM = 'lti_launch';
export const SERVER_FRAGMENT_PARAM = 'lti_server';
/**
 * Descriptive claims (names, email, context, resource link title) are cut to this many
 * characters: only people read them. Identifiers and URLs are stored whole (see agsOf).
 */
const MAX_STORED = 1000;

export function hashCredential(credential: string): string {
  return sha256Hex(credential);
}

/**
 * The launch (LTI 1.3 core §5.1.2, OIDC form_post): a pipeline of small checks, each of
 * which passes or throws an LtiError with its own code. Order: the browser binding and the
 * login it finishes (both in the sealed state cookie: no read), the token's header, its
 * signature (only against the keyset of the registration the login was for), then the
 * claims. On success the launch is recorded with the login's nonce in one statement, which
 * refuses a nonce already used and re-checks the registration against the current rows, and
 * the browser goes to the exercise.
 *
 * Most launches take a shorter road to the same verdict (`launchFromCachedRegistration`):
 * when this process knows the login's registration, it verifies the token against it and
 * lets the single write check the nonce (unused) and the registration (unchanged, app
 * public, deployment registered) in SQL. Anything short of a recorded launch there falls
 * through to the full path below, which reads the registration and whether the nonce was
 * used and names the precise reason — so both roads refuse exactly the same launches, with
 * the same codes. The one thing the full path does not repeat is a keyset fetch that just
 * failed for the same URL: the learner would only wait for a second timeout.
 */
export async function handleLaunch(request: Request, appId: string, deps: LtiDeps): Promise<Response> {
  if (request.method !== 'POST') throw new LtiError('ERR_LTI_METHOD', `${request.method} on the launch URL`);
  const form = await readForm(request);
  const platformError = form.get('error');
  if (platformError) {
    throw new LtiError('ERR_LTI_PLATFORM_ERROR', `platform answered error=${platformError.slice(0, 100)} ${form.get('error_description')?.slice(0, 300) ?? ''}`);
  }
  const now = deps.now();
  const key = await deps.loginStateKey.get();
  const login = checkLoginState(checkStateCookie(form.get('state'), request.headers.get('cookie'), key, appId), now);
  const idToken = form.get('id_token');
  const fast = await launchFromCachedRegistration(login, idToken, appId, now, deps);
  if (fast instanceof Response) return fast;

  // The write re-checks the registration as this path read it, and it may change while the
  // keyset is fetched. Reading it again then names what changed, or records the launch against
  // the registration as it now is. Two writes at most: a third read only names the reason.
  for (let attempt = 1; ; attempt++) {
    const found = await findRegistrationForLaunch(deps.sql, login);
    // As read now, public or not, whatever this launch's fate (a replay's too, whose short road
    // dropped the entry): the next logins and launches on this process start from it.
    if (found.registration?.appId === appId) deps.registrations.set(found.registration);
    checkNonceUnused(found.nonceUsed, login);
    checkTokenHeader(idToken);
    const registration = checkLoginRegistration(found.registration, login, appId);
    const context = { appId, registrationId: registration.id };
    try {
      // Same URL as the fetch that just failed on the short road: its verdict stands (and the
      // learner does not wait for a second timeout). A changed URL is fetched as usual.
      if (fast?.keysetFailure && fast.keysetUrl === registration.keysetUrl) throw fast.keysetFailure;
      const claims = await verifyTokenSignature(idToken!, registration.keysetUrl, deps.keysets, deps.requestLogger);
      const launch = checkClaims(claims, registration, now, deps, login.nonce);
      if (attempt === 3) {
        throw new LtiError('ERR_LTI_REGISTRATION_CHANGED', 'the registration or its app changed during each of two launch attempts');
      }
      if (await recordLaunchIfUnusedAndRegistrationMatches(deps.sql, { nonce: login.nonce, registration, launch, now })) {
        return launched(launch, registration, login.state, deps);
      }
    } catch (err) {
      if (err instanceof LtiError) Object.assign(err.context, context);
      throw err;
    }
  }
}

/** Why the short road gave up on a launch, when the full path needs to know. */
interface ShortRoadMiss {
  /** The short road could not fetch this keyset (ERR_LTI_KEYSET_UNAVAILABLE). */
  keysetUrl: string;
  keysetFailure: LtiError;
}

/**
 * The short road: verify against the registration this process last read for the token's
 * (unverified) issuer and client id, when it is the login's, then record the launch in one
 * statement that re-checks, against the current rows, everything the cached registration was
 * trusted for, and that the nonce is unused. Returns no Response — and the caller takes the
 * full path — when there is no such cached registration or anything at all fails; a keyset
 * that could not be fetched is reported so the full path does not fetch it again.
 */
async function launchFromCachedRegistration(
  login: SealedLogin,
  idToken: string | null,
  appId: string,
  now: Date,
  deps: LtiDeps,
): Promise<Response | ShortRoadMiss | undefined> {
  const target = unverifiedTarget(idToken);
  if (!target) return undefined;
  const registration = deps.registrations.get(appId, target.issuer, target.clientId);
  if (!registration || registration.id !== login.registrationId) return undefined;
  try {
    checkTokenHeader(idToken);
    const claims = await verifyTokenSignature(idToken!, registration.keysetUrl, deps.keysets, deps.requestLogger);
    const launch = checkClaims(claims, registration, now, deps, login.nonce);
    if (!(await recordLaunchIfUnusedAndRegistrationMatches(deps.sql, { nonce: login.nonce, registration, launch, now }))) {
      // A used nonce or a stale registration: the full path says which, and caches the
      // registration again as it reads it.
      deps.registrations.forget(registration);
      return undefined;
    }
    return launched(launch, registration, login.state, deps);
  } catch (err) {
    if (err instanceof LtiError && err.code === 'ERR_LTI_KEYSET_UNAVAILABLE') {
      return { keysetUrl: registration.keysetUrl, keysetFailure: err };
    }
    if (err instanceof LtiError) return undefined;
    throw err;
  }
}

/** The token's claimed issuer and client id, read without verification (only a cache key). */
function unverifiedTarget(idToken: string | null): { issuer: string; clientId: string } | undefined {
  if (!idToken) return undefined;
  let claims: JWTPayload;
  try {
    claims = decodeJwt(idToken);
  } catch {
    return undefined;
  }
  const clientId = typeof claims.aud === 'string' ? claims.aud : typeof claims.azp === 'string' ? claims.azp : undefined;
  if (typeof claims.iss !== 'string' || clientId === undefined) return undefined;
  return { issuer: claims.iss, clientId };
}

/** Every claim check (the nonce against the login's), and the launch to record. */
function checkClaims(
  claims: JWTPayload,
  registration: LaunchRegistration,
  now: Date,
  deps: LtiDeps,
  loginNonce: string,
): LaunchData {
  checkTimes(claims, now, deps.clockToleranceSeconds);
  checkIssuer(claims, registration.issuer);
  checkAudience(claims, registration.clientId);
  checkNonce(claims, loginNonce);
  const deploymentId = checkDeployment(claims, registration.deploymentIds);
  checkVersion(claims);
  checkMessageType(claims);
  const resourceLink = checkResourceLink(claims);
  const subject = checkSubject(claims);
  const roles = checkRoles(claims);
  checkTargetLinkUri(claims[CLAIM.targetLinkUri], deps.publicUrl);
  checkAppStillPublic(registration);

  const credential = randomToken();
  const launch: LaunchData = {
    id: uuidv7(now.getTime()),
    appId: registration.appId,
    registrationId: registration.id,
    deploymentId,
    subject,
    name: optionalString(claims.name),
    givenName: optionalString(claims.given_name),
    familyName: optionalString(claims.family_name),
    email: optionalString(claims.email),
    roles,
    ...contextOf(claims),
    resourceLinkId: resourceLink.id,
    resourceLinkTitle: optionalString(resourceLink.title),
    ...agsOf(claims),
    credential,
    credentialHash: hashCredential(credential),
    credentialExpiresAt: new Date(now.getTime() + deps.launchCredentialTtlMs),
  };
  checkStorable(launch);
  return launch;
}

/** Sends the browser to the exercise with its launch credential in the URL fragment. */
function launched(launch: LaunchData, registration: LaunchRegistration, state: string, deps: LtiDeps): Response {
  deps.logger.info({ launchId: launch.id, appId: launch.appId, registrationId: registration.id }, 'lti launch');
  const target = new URL(registration.exerciseUrl);
  const ours = new URLSearchParams({ [LAUNCH_FRAGMENT_PARAM]: launch.credential, [SERVER_FRAGMENT_PARAM]: deps.publicUrl });
  // Keep the exercise's own fragment (e.g. a client-side route); the widget strips ours.
  const own = target.hash.slice(1);
  target.hash = own ? `${own}&${ours}` : ours.toString();
  return new Response(null, {
    status: 303,
    headers: {
      location: target.toString(),
      'set-cookie': clearStateCookie(state, ltiToolUrls(deps.publicUrl, launch.appId).launchUrl),
      'cache-control': 'no-store',
      'referrer-policy': 'no-referrer',
    },
  });
}

/**
 * PostgreSQL text holds neither NUL nor unpaired surrogates (the driver would turn those
 * into U+FFFD, making different learner ids equal): a token whose stored claims carry
 * one is refused as malformed instead of failing the insert.
 */
function checkStorable(launch: LaunchData): void {
  for (const [field, value] of Object.entries(launch)) {
    const values: unknown[] = Array.isArray(value) ? value : [value];
    if (values.some((v) => typeof v === 'string' && !isStorableText(v))) {
      throw new LtiError('ERR_LTI_TOKEN_MALFORMED', `the claim stored as ${field} is not valid text (NUL or unpaired surrogate)`);
    }
  }
}

function optionalString(value: unknown): string | null {
  return typeof value === 'string' && value.length > 0 ? cutText(value, MAX_STORED) : null;
}

/**
 * A URL claim, whole or not at all: a cut URL names another resource (grades would be posted
 * to it). The 32 KiB cap on the id_token bounds its length.
 */
function optionalUrl(value: unknown): string | null {
  return typeof value === 'string' && value.length > 0 ? value : null;
}

function contextOf(claims: Record<string, unknown>) {
  const c = claims[CLAIM.context] as Record<string, unknown> | undefined;
  const ctx = typeof c === 'object' && c !== null ? c : {};
  return {
    contextId: optionalString(ctx.id),
    contextTitle: optionalString(ctx.title),
    contextLabel: optionalString(ctx.label),
  };
}

function agsOf(claims: Record<string, unknown>) {
  const a = claims[CLAIM.ags] as Record<string, unknown> | undefined;
  const ags = typeof a === 'object' && a !== null ? a : {};
  const scopes = Array.isArray(ags.scope) ? ags.scope.filter((s): s is string => typeof s === 'string') : [];
  return {
    agsLineitem: optionalUrl(ags.lineitem),
    agsLineitems: optionalUrl(ags.lineitems),
    // A scope is compared with the AGS scope names (about 60 characters): a longer one can
    // never match, cut or not. Twenty is far more than the three AGS defines.
    agsScopes: scopes.slice(0, 20).map((s) => cutText(s, 200)),
  };
}
