/**
 * The login `state` is bound to the browser with a cookie, so a launch form posted from
 * another browser (login CSRF, a stolen state) is refused. One cookie per login in
 * flight, so two tabs launching at once don't overwrite each other. The cookie's value is
 * the login itself, sealed (sealed-login.ts): the database keeps no login state.
 *
 * - HttpOnly; Path = the app's launch path only; a few minutes of life.
 * - https: `SameSite=None; Secure; Partitioned` — the launch is a cross-site form POST
 *   from the LMS, and Partitioned (CHIPS) keeps it working inside LMS iframes where
 *   third-party cookies are blocked.
 * - http (loopback development only): `SameSite=Lax`, since browsers refuse
 *   `SameSite=None` without Secure; LMS and tool on one loopback host are same-site.
 */
const PREFIX = 'lti_state_';

export function stateCookieName(state: string): string {
  return PREFIX + state.slice(0, 16);
}

/** `value` is the sealed login (sealed-login.ts); the name carries the start of the state. */
export function stateCookie(state: string, value: string, launchUrl: string, maxAgeSeconds: number): string {
  const url = new URL(launchUrl);
  const attrs = [`${stateCookieName(state)}=${value}`, `Path=${url.pathname}`, `Max-Age=${maxAgeSeconds}`, 'HttpOnly'];
  attrs.push(url.protocol === 'https:' ? 'SameSite=None; Secure; Partitioned' : 'SameSite=Lax');
  return attrs.join('; ');
}

export function clearStateCookie(state: string, launchUrl: string): string {
  return stateCookie(state, '', launchUrl, 0);
}
