import { isLoopbackHost } from './config.ts';
import { ValidationError, type FieldProblem } from './errors.ts';
import type { OutboundPolicy } from './http/outbound-policy.ts';

export const LIMITS = {
  name: 200,
  label: 100,
  url: 2048,
  clientId: 255,
  deploymentId: 255,
  deploymentIds: 50,
} as const;

/** C0 control characters and DEL: never in a name, label or id, and a NUL cannot be stored (PostgreSQL text). */
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

/**
 * Collects every problem in one input so a form can show them all at once, then
 * `done()` throws a single ValidationError. Values come back trimmed / normalised.
 */
export class InputChecker {
  readonly problems: FieldProblem[] = [];

  fail(field: string, message: string): void {
    this.problems.push({ field, message });
  }

  text(field: string, value: string, max: number): string {
    const v = value.trim();
    if (v.length === 0) this.fail(field, 'Must not be empty.');
    else if (v.length > max) this.fail(field, `Must be at most ${max} characters.`);
    else if (CONTROL_CHARACTERS.test(v)) this.fail(field, 'Must not contain control characters.');
    return v;
  }

  optionalText(field: string, value: string | null | undefined, max: number): string | null {
    if (value === null || value === undefined || value.trim() === '') return null;
    return this.text(field, value, max);
  }

  /**
   * An absolute URL. `secure` demands https except for loopback hosts: LMS endpoints we
   * fetch or redirect to carry keys, tokens and grades, and exercises receive launch
   * credentials in the URL fragment.
   */
  url(field: string, value: string, { secure = true } = {}): string {
    const v = value.trim();
    if (v.length === 0) {
      this.fail(field, 'Must not be empty.');
      return v;
    }
    if (v.length > LIMITS.url) {
      this.fail(field, `Must be at most ${LIMITS.url} characters.`);
      return v;
    }
    // The URL parser drops tabs and newlines and encodes spaces without a word: the text we
    // would store (and compare, for an issuer) would not be the URL that is used. And a NUL
    // cannot be stored at all (PostgreSQL text).
    if (/[\s\u0000-\u001f\u007f]/u.test(v)) {
      this.fail(field, 'Must not contain spaces or control characters.');
      return v;
    }
    let u: URL;
    try {
      u = new URL(v);
    } catch {
      this.fail(field, 'Must be an absolute URL, like https://example.org/path.');
      return v;
    }
    if (u.protocol !== 'https:' && u.protocol !== 'http:') {
      this.fail(field, 'Must be an http or https URL.');
    } else if (secure && u.protocol === 'http:' && !isLoopbackHost(u.hostname)) {
      this.fail(field, 'Must use https (plain http is allowed only for localhost).');
    } else if (u.username || u.password) {
      this.fail(field, 'Must not contain a user name or password.');
    }
    return v;
  }

  /**
   * A URL this server will fetch, or send browsers to for a platform (keyset, token and
   * login URLs): besides `url`'s checks, a literal address or `localhost` must be allowed
   * by the outbound policy, and plain http is accepted only for an allowed loopback host.
   */
  outboundUrl(field: string, value: string, policy: OutboundPolicy): string {
    const before = this.problems.length;
    const v = this.url(field, value, { secure: false });
    if (this.problems.length > before) return v;
    const problem = policy.urlProblem(new URL(v));
    if (problem) this.fail(field, problem);
    return v;
  }

  /**
   * An LMS issuer, stored without trailing slashes: Open edX's has none, and an owner pasting
   * one by habit should not be locked out. Logins and launches then compare the issuer the
   * platform sends exactly with this stored value (docs/lti.md, "The issuer"), so a platform
   * whose issuer really ends in '/' is refused at login, not after the round trip.
   */
  issuer(field: string, value: string): string {
    const before = this.problems.length;
    const v = this.url(field, value);
    if (this.problems.length > before) return v;
    // On the text, not the parsed URL: `new URL('https://lms.example.org?')` has an empty
    // `search`, yet a stored '?' would never equal the issuer a platform sends.
    if (v.includes('?') || v.includes('#')) {
      this.fail(field, 'Must not contain a query or fragment.');
      return v;
    }
    return withoutTrailingSlashes(v);
  }

  deploymentIds(field: string, values: readonly string[]): string[] {
    const ids = [...new Set(values.map((v) => v.trim()))];
    if (ids.length === 0) this.fail(field, 'Give at least one deployment ID (Open edX shows "1").');
    else if (ids.length > LIMITS.deploymentIds) {
      this.fail(field, `At most ${LIMITS.deploymentIds} deployment IDs.`);
    } else if (ids.some((id) => id.length === 0)) this.fail(field, 'Deployment IDs must not be empty.');
    else if (ids.some((id) => id.length > LIMITS.deploymentId)) {
      this.fail(field, `Each deployment ID must be at most ${LIMITS.deploymentId} characters.`);
    } else if (ids.some((id) => CONTROL_CHARACTERS.test(id))) {
      // A platform never sends one.
      this.fail(field, 'Deployment IDs must not contain control characters.');
    }
    return ids;
  }

  done(): void {
    if (this.problems.length > 0) throw new ValidationError(this.problems);
  }
}

/**
 * `value` without its trailing '/' characters, in one pass from the end. Not `/\/+$/`: a
 * regex engine retries that at every slash of a long run that is followed by anything
 * else, quadratic in the run's length (4096 slashes cost milliseconds per request).
 */
export function withoutTrailingSlashes(value: string): string {
  let end = value.length;
  while (end > 0 && value.charCodeAt(end - 1) === 0x2f /* '/' */) end--;
  return value.slice(0, end);
}
