import { randomToken } from '../ids.ts';
import { readForm } from '../http/form.ts';
import type { LtiDeps } from './deps.ts';
import { checkTargetLinkUri } from './checks/target-link.ts';
import { LtiError } from './errors.ts';
import { storeLoginIfAcceptable } from './launch-queries.ts';
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
 * OIDC third-party initiated login (LTI 1.3 core §5.1.1): find the registration, create
 * a single-use state + nonce in the database (any process can finish the launch), bind
 * the state to this browser with a cookie, and send the browser to the platform.
 */
export async function handleLogin(request: Request, appId: string, deps: LtiDeps): Promise<Response> {
  const params = await readLoginParams(request);
  checkTargetLinkUri(params.targetLinkUri, deps.publicUrl);
  // Exactly as sent, never normalised: the launch compares the token's iss with the stored
  // issuer exactly (checks/claims.ts), so an issuer that would fail there is refused here,
  // before the learner makes the round trip to the platform.
  const issuer = params.iss;

  const state = randomToken();
  const nonce = randomToken();
  const now = deps.now();
  const app = await storeLoginIfAcceptable(deps.sql, {
    appId,
    issuer,
    clientId: params.clientId,
    deploymentId: params.deploymentId,
    state,
    nonce,
    createdAt: now,
    expiresAt: new Date(now.getTime() + deps.loginStateTtlMs),
  });
  // The statement above stored the login only if every check below passes; they name the
  // reason when it did not.
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
  if (!app.stored) {
    // The SQL and the checks above disagree: a bug, not a client error.
    throw new Error(`login for registration ${registration.id} passed every check but was not stored`);
  }
  // The launch that follows (usually on this process) can then skip its reads.
  deps.registrations.set(registration);

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
      'set-cookie': stateCookie(state, launchUrl, Math.floor(deps.loginStateTtlMs / 1000)),
      'cache-control': 'no-store',
      'referrer-policy': 'no-referrer',
    },
  });
}
