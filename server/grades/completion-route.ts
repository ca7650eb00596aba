import { encodeGlobalID } from '@pothos/plugin-relay';
import type { PrismaClient } from '../generated/prisma/client.ts';
import { bearerToken } from '../http/bearer.ts';
import type { Logger } from '../logger.ts';
import { CompletionError, recordCompletion } from './completion.ts';

export const COMPLETIONS_PATH = '/api/completions';

/** Exercise pages live on other origins and carry no cookies: a plain `*` CORS policy fits. */
export const COMPLETION_CORS_HEADERS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'POST, OPTIONS',
  'access-control-allow-headers': 'authorization, content-type',
  'access-control-max-age': '86400',
};
const JSON_HEADERS = { ...COMPLETION_CORS_HEADERS, 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };

export interface CompletionRouteDeps {
  prisma: PrismaClient;
  now: () => Date;
  /** The request's logger (`component: 'completions'`, its reqId). */
  logger: Logger;
  /** Called after a new grade was committed, to start its delivery at once. */
  onGradeQueued: () => void;
}

/**
 * `POST /api/completions` with `Authorization: Bearer <launch credential>`: the
 * completion widget reports that the learner finished. Authenticated by the launch
 * credential only; the body is ignored (the score is not the caller's to choose).
 */
export async function handleCompletion(request: Request, deps: CompletionRouteDeps): Promise<Response> {
  if (request.method === 'OPTIONS') return new Response(null, { status: 204, headers: COMPLETION_CORS_HEADERS });
  if (request.method !== 'POST') {
    return json(405, { error: 'method_not_allowed', message: 'POST only.' }, { allow: 'POST, OPTIONS' });
  }
  const credential = bearerToken(request.headers.get('authorization'));
  try {
    const result = await recordCompletion(deps.prisma, credential, deps.now());
    if (result.firstTime) {
      deps.logger.info({ launchId: result.launchId, gradeState: result.gradeState }, 'completion recorded');
      if (result.gradeState === 'PENDING') deps.onGradeQueued();
    }
    return json(200, {
      status: 'recorded',
      launchId: encodeGlobalID('Launch', result.launchId),
      completedAt: result.completedAt.toISOString(),
      grade: { state: result.gradeState.toLowerCase() },
    });
  } catch (err) {
    if (err instanceof CompletionError) {
      deps.logger.warn({ reason: err.message }, 'completion refused');
      return json(401, {
        error: 'invalid_credential',
        message: 'This launch is unknown or has expired. Open the exercise from your course again.',
      });
    }
    throw err;
  }
}

/** The answer when recording failed unexpectedly (app.ts logs the error): the route's headers, a message the widget may show. */
export function completionServerError(): Response {
  return json(500, { error: 'server_error', message: 'Try again in a moment.' });
}

function json(status: number, body: unknown, extra: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { ...JSON_HEADERS, ...extra } });
}
