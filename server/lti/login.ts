import { randomToken } from '../ids.ts';
import { readForm } from '../http/form.ts';
import type { LtiDeps } from './deps.ts';
import { checkTargetLinkUri } from './checks/target-link.ts';
import { LtiError } from './errors.ts';
import { findLoginTarget, type LaunchRegistration } from './launch-queries.ts';
import { sealLogin } from './sealed-login.ts';
import { stateCookie } from './state-cookie.ts';
import { ltiToolUrls } from './tool-urls.ts';

const MAX_PARAM = 4096;

export interface LoginParams {
  iss: string;
  loginHint: string;
  targetLinkUri: string;
  clientId: string | undefined;
  messageHint: string | undefined;
  deploymentId: string | undefined;
}

/** Reads third-party initiated login parameters from a GET query or a POST form. */
export async function readLoginParams(request: Request): Promise<LoginParams> {
  let params: URLSearchParams;
  if (request.method === 'GET') params = new URL(request.url).searchParams;
  else if (request.method === 'POST') params = await readForm(request);
  else throw new LtiError('ERR_LTI_METHOD', `${request.method} on the login URL`);

  const get = (name: string, required: boolean): string | undefined => {
    const value = params.get(name) ?? undefined;
    if (value !== undefined && value.length > MAX_PARAM) {
      throw new LtiError('ERR_LTI_BAD_REQUEST', `login parameter ${name} is over ${MAX_PARAM} characters`);
    }
    // PostgreSQL text cannot hold NUL: such a value matches no registration, and must not reach a query.
    if (value?.includes('\u0000')) throw new LtiError('ERR_LTI_BAD_REQUEST', `login parameter ${name} contains a NUL character`);
    if (required && !value) throw new LtiError('ERR_LTI_BAD_REQUEST', `login initiation without ${name}`);
    return value || undefined;
  };
  return {
    iss: get('iss', true)!,
    loginHint: get('login_hint', true)!,
    targetLinkUri: get('target_link_uri', true)!,
    clientId: get('client_id', false),
    messageHint: get('lti_message_hint', false),
    // Open edX and the spec say lti_deployment_id; Canvas sends deployment_id.
    deploymentId: get('lti_deployment_id', false) ?? get('deployment_id', false),
  };
}

/**
 * OIDC third-party initiated login (LTI 1.3 core §5.1.1): find the registration, make a
 * state and a nonce, seal them with the app, registration and expiry into a cookie bound to
 * this browser (any process can open it; the database stores nothing), and send the browser
 * to the platform.
 */
export async function handleLogin(request: Request, appId: string, deps: LtiDeps): Promise<Response> {
  const params = await readLoginParams(request);
  checkTargetLinkUri(params.targetLinkUri, deps.publicUrl);
  const registration = cachedLoginRegistration(appId, params, deps) ?? (await readLoginRegistration(appId, params, deps));

  const state = randomToken();
  const nonce = randomToken();
  const now = deps.now();
  const sealed = sealLogin(await deps.loginStateKey.get(), {
    state,
    nonce,
    appId,
    registrationId: registration.id,
    expiresAt: new Date(now.getTime() + deps.loginStateTtlMs),
  });

  const { launchUrl } = ltiToolUrls(deps.publicUrl, appId);
  const auth = new URL(registration.authLoginUrl);
  const query: Record<string, string> = {
    scope: 'openid',
    response_type: 'id_token',
    response_mode: 'form_post',
    prompt: 'none',
    client_id: registration.clientId,
    redirect_uri: launchUrl,
    login_hint: params.loginHint,
    state,
    nonce,
  };
  if (params.messageHint !== undefined) query.lti_message_hint = params.messageHint;
  for (const [k, v] of Object.entries(query)) auth.searchParams.set(k, v);

  deps.logger.debug({ appId, registrationId: registration.id }, 'lti login initiated');
  return new Response(null, {
    status: 302,
    headers: {
      location: auth.toString(),
      'set-cookie': stateCookie(state, sealed, launchUrl, Math.floor(deps.loginStateTtlMs / 1000)),
      'cache-control': 'no-store',
      'referrer-policy': 'no-referrer',
    },
  });
}

/**
 * The registration this process read recently for (app, issuer, client id), when it is still
 * acceptable as read: a login grants nothing, and the launch's write re-checks every field it
 * relies on against the current rows (registration-cache.ts). A stale entry can at worst send
 * a learner to the platform for a launch that is then refused, or to an Auth Login URL the
 * owner changed on another process in the last REGISTRATION_CACHE ttl (app.ts). Without a
 * client id, or with an entry that would refuse the login, the rows are read: only they may
 * refuse.
 */
function cachedLoginRegistration(appId: string, params: LoginParams, deps: LtiDeps): LaunchRegistration | undefined {
  if (params.clientId === undefined) return undefined;
  const cached = deps.registrations.get(appId, params.iss, params.clientId);
  if (!cached || !cached.isPublic) return undefined;
  if (params.deploymentId !== undefined && !cached.deploymentIds.includes(params.deploymentId)) return undefined;
  return cached;
}

/** Reads the app and registration the login is for, and names the reason when it is refused. */
async function readLoginRegistration(appId: string, params: LoginParams, deps: LtiDeps): Promise<LaunchRegistration> {
  // Exactly as sent, never normalised: the launch compares the token's iss with the stored
  // issuer exactly (checks/claims.ts), so an issuer that would fail there is refused here,
  // before the learner makes the round trip to the platform.
  const issuer = params.iss;
  const app = await findLoginTarget(deps.sql, { appId, issuer, clientId: params.clientId });
  if (!app) throw new LtiError('ERR_LTI_UNKNOWN_APP', `no app ${appId}`);
  if (!app.isPublic) throw new LtiError('ERR_LTI_APP_NOT_PUBLIC', `app ${appId} is not public`, { context: { appId } });
  if (app.registrations.length === 0) {
    throw new LtiError('ERR_LTI_UNKNOWN_REGISTRATION', `no registration for iss=${issuer} client_id=${params.clientId ?? '(none)'} on app ${appId}`, { context: { appId } });
  }
  if (app.registrations.length > 1) {
    // Only possible without client_id: several registrations share the issuer.
    throw new LtiError('ERR_LTI_CLIENT_ID_REQUIRED', `iss=${issuer} has several registrations on app ${appId} and no client_id was sent`, { context: { appId } });
  }
  const registration = app.registrations[0]!;
  if (params.deploymentId !== undefined && !registration.deploymentIds.includes(params.deploymentId)) {
    throw new LtiError('ERR_LTI_UNKNOWN_DEPLOYMENT', `deployment ${params.deploymentId} is not registered`, {
      context: { appId, registrationId: registration.id },
    });
  }
  // The launch that follows (usually on this process) and the next logins can then skip their reads.
  deps.registrations.set(registration);
  return registration;
}
