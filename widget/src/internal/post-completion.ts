import type { LtiCompletionErrorDetail, LtiCompletionRecordedDetail, LtiGradeState } from '../events.ts';

export type CompletionResult =
  | { ok: true; recorded: LtiCompletionRecordedDetail }
  /** `retryAfterMs`: the answer's Retry-After (whole seconds, at most a minute), else 0. */
  | { ok: false; error: LtiCompletionErrorDetail; retryAfterMs: number };

/**
 * One `POST {server}/api/completions`. Never throws: every outcome is a result, and
 * `error.retryable` says whether another attempt may succeed (network errors, 429, 5xx).
 */
export async function postCompletion(
  server: string,
  credential: string,
  {
    fetch: fetchFn = fetch,
    timeoutMs = 15_000,
    keepalive = false,
  }: { fetch?: typeof fetch; timeoutMs?: number; keepalive?: boolean } = {},
): Promise<CompletionResult> {
  let response: Response;
  try {
    response = await fetchFn(`${server}/api/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' },
      body: '{}',
      mode: 'cors',
      credentials: 'omit',
      cache: 'no-store',
      keepalive,
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (cause) {
    return failure('network', `Could not reach ${server}: ${String(cause)}`, true);
  }
  const body: unknown = await response.json().catch(() => null);
  const fields = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  if (response.ok) {
    const grade = (fields.grade ?? {}) as Record<string, unknown>;
    const { launchId, completedAt } = fields;
    if (
      fields.status === 'recorded' &&
      typeof launchId === 'string' &&
      typeof completedAt === 'string' &&
      // Any grade state: a state added to the server later must not turn "recorded" into "failed".
      typeof grade.state === 'string'
    ) {
      return { ok: true, recorded: { launchId, completedAt, gradeState: grade.state as LtiGradeState } };
    }
    return failure('server', `Unexpected answer from the server (HTTP ${response.status})`, true);
  }
  const message = typeof fields.message === 'string' ? fields.message : `HTTP ${response.status}`;
  if (response.status === 401) return failure('invalid_credential', message, false);
  // An HTTP-date Retry-After counts as none (the server sends seconds); a minute at most, so a
  // proxy's "Retry-After: 3600" cannot keep the learner waiting.
  const retryAfterS = Math.min(+(response.headers.get('retry-after') ?? 0) || 0, 60);
  return failure('server', message, response.status === 429 || response.status >= 500, retryAfterS * 1000);
}

/**
 * Calls `attempt` until it succeeds, fails for good, or `delaysMs` runs out: one first try, then
 * one more after each delay, or after the failure's `retryAfterMs` when that is longer. Returns
 * the last result.
 */
export async function withRetries(
  /** Called with the attempt's number, from 0. */
  attempt: (n: number) => Promise<CompletionResult>,
  delaysMs: readonly number[],
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
): Promise<CompletionResult> {
  let n = 0;
  let result = await attempt(n);
  for (const delay of delaysMs) {
    if (result.ok || !result.error.retryable) break;
    await sleep(Math.max(delay, result.retryAfterMs));
    result = await attempt(++n);
  }
  return result;
}

function failure(
  code: LtiCompletionErrorDetail['code'],
  message: string,
  retryable: boolean,
  retryAfterMs = 0,
): CompletionResult {
  return { ok: false, error: { code, message, retryable }, retryAfterMs };
}
