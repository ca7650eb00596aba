import type { Database } from '../../server/db/client.ts';
import { LAUNCH_FRAGMENT_PARAM } from '../../server/lti/launch.ts';
import { ltiToolUrls, type LtiToolUrls } from '../../server/lti/tool-urls.ts';
import { registerTestSecret } from './test-logger.ts';
import type { LaunchOverrides, TestPlatform } from './platform.ts';

/**
 * A browser, as far as an LTI launch needs one: follows our redirects by hand and keeps
 * cookies (name → value; our cookies are scoped to the launch path, which is where the
 * browser goes next).
 */
export class CookieJar {
  readonly cookies = new Map<string, string>();
  store(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq);
      const maxAge = attrs.find((a) => /^max-age=/i.test(a));
      if (maxAge && Number(maxAge.split('=')[1]) <= 0) this.cookies.delete(name);
      else this.cookies.set(name, pair!.slice(eq + 1));
    }
  }
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

export interface PublicApp {
  appId: string;
  registrationId: string;
  urls: LtiToolUrls;
  exerciseUrl: string;
}

/** An owner's public app registered with the platform's six values (what the setup flow ends with). */
export async function publicAppFor(
  db: Database,
  platform: TestPlatform,
  baseUrl: string,
  options: { isPublic?: boolean; exerciseUrl?: string; ownerId?: string } = {},
): Promise<PublicApp> {
  const ownerId = options.ownerId ?? (await db.prisma.owner.create({ data: { name: 'Teacher' } })).id;
  const exerciseUrl = options.exerciseUrl ?? 'https://exercises.example.org/fractions/index.html';
  const app = await db.prisma.app.create({
    data: { ownerId, name: 'Fractions', exerciseUrl, isPublic: options.isPublic ?? true },
  });
  const reg = platform.registration();
  const registration = await db.prisma.ltiRegistration.create({
    data: { appId: app.id, ...reg },
  });
  const urls = ltiToolUrls(baseUrl, app.id);
  platform.setToolLaunchUrl(urls.launchUrl);
  return { appId: app.id, registrationId: registration.id, urls, exerciseUrl };
}

export interface LoginResult {
  response: Response;
  /** The platform auth request URL we redirected to (302 Location). */
  location: string | null;
}

/** Step 1: the LMS sends the browser to our login URL. */
export async function initiateLogin(
  platform: TestPlatform,
  app: PublicApp,
  jar: CookieJar,
  options: { sub?: string; extra?: Record<string, string>; targetLinkUri?: string } = {},
): Promise<LoginResult> {
  const init = platform.loginInitiation(app.urls.loginUrl, {
    targetLinkUri: options.targetLinkUri ?? app.urls.launchUrl,
    ...(options.sub ? { sub: options.sub } : {}),
    ...(options.extra ? { extra: options.extra } : {}),
  });
  const response = await fetch(init.url, {
    method: init.method,
    redirect: 'manual',
    ...(init.body
      ? { body: init.body, headers: { 'content-type': 'application/x-www-form-urlencoded' } }
      : {}),
  });
  jar.store(response);
  return { response, location: response.headers.get('location') };
}

/** Step 3: the platform's auto-submitting form posts id_token + state to our launch URL. */
export async function postLaunch(
  launchUrl: string,
  fields: Record<string, string>,
  cookie: string,
): Promise<Response> {
  return fetch(launchUrl, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cookie ? { cookie } : {}) },
    body: new URLSearchParams(fields),
  });
}

export interface LaunchResult {
  login: LoginResult;
  auth: { idToken: string; state: string; redirectUri: string; nonce: string };
  response: Response;
  /** Our 303 Location, when the launch succeeded. */
  location: string | null;
  jar: CookieJar;
}

/** The whole login → auth → launch, with optional tampering of the id_token. */
export async function launch(
  platform: TestPlatform,
  app: PublicApp,
  options: { sub?: string; overrides?: LaunchOverrides; jar?: CookieJar } = {},
): Promise<LaunchResult> {
  const jar = options.jar ?? new CookieJar();
  const login = await initiateLogin(platform, app, jar, options.sub ? { sub: options.sub } : {});
  if (login.response.status !== 302 || !login.location) {
    throw new Error(`login refused: ${login.response.status} ${await login.response.text()}`);
  }
  const auth = await platform.authorize(login.location, {
    expectedRedirectUri: app.urls.launchUrl,
    ...options.overrides,
  });
  registerTestSecret(auth.idToken, 'id_token');
  const response = await postLaunch(auth.redirectUri, { id_token: auth.idToken, state: auth.state }, jar.header());
  jar.store(response);
  const location = response.headers.get('location');
  registerLaunchCredential(location);
  return { login, auth, response, location, jar };
}

/** The credential our launch hands the exercise page (in the Location fragment): a secret for the log scan. */
export function registerLaunchCredential(location: string | null): void {
  if (!location) return;
  const hash = location.includes('#') ? location.slice(location.indexOf('#') + 1) : '';
  registerTestSecret(new URLSearchParams(hash).get(LAUNCH_FRAGMENT_PARAM) ?? undefined, 'launch credential');
}

/** The error code on our error page. */
export async function errorCode(response: Response): Promise<string | undefined> {
  return (await response.text()).match(/<code>(ERR_[A-Z_]+)<\/code>/)?.[1];
}
