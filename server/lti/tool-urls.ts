/**
 * The URLs an LMS is given for an app: the LTI tab shows them and the LTI routes answer
 * on them. `redirect_uri` in the OIDC flow must equal `launchUrl` exactly, so this is the
 * only place they are built.
 */
export interface LtiToolUrls {
  launchUrl: string;
  loginUrl: string;
  keysetUrl: string;
}

export const LTI_ROUTE_PREFIX = '/lti';

export function ltiToolUrls(publicUrl: string, appId: string): LtiToolUrls {
  const app = `${publicUrl}${LTI_ROUTE_PREFIX}/apps/${encodeURIComponent(appId)}`;
  return {
    launchUrl: `${app}/launch`,
    loginUrl: `${app}/login`,
    keysetUrl: `${publicUrl}${LTI_ROUTE_PREFIX}/jwks`,
  };
}
