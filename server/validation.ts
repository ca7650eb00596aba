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
    else if (/[\u0000-\u001f\u007f]/.test(v)) this.fail(field, 'Must not contain control characters.');
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

  /** LTI issuers compare as exact strings; Open edX's has no trailing slash, so we store none. */
  issuer(field: string, value: string): string {
    const v = this.url(field, value).replace(/\/+$/, '');
    if (this.problems.some((p) => p.field === field)) return v;
    const u = new URL(v);
    if (u.search || u.hash) this.fail(field, 'Must not contain a query or fragment.');
    return v;
  }

  deploymentIds(field: string, values: readonly string[]): string[] {
    const ids = [...new Set(values.map((v) => v.trim()))];
    if (ids.length === 0) this.fail(field, 'Give at least one deployment ID (Open edX shows "1").');
    else if (ids.length > LIMITS.deploymentIds) {
      this.fail(field, `At most ${LIMITS.deploymentIds} deployment IDs.`);
    } else if (ids.some((id) => id.length === 0)) this.fail(field, 'Deployment IDs must not be empty.');
    else if (ids.some((id) => id.length > LIMITS.deploymentId)) {
      this.fail(field, `Each deployment ID must be at most ${LIMITS.deploymentId} characters.`);
    }
    return ids;
  }

  done(): void {
    if (this.problems.length > 0) throw new ValidationError(this.problems);
  }
}
