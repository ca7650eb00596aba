import { LtiError } from '../lti/errors.ts';
import { readBodyWithin } from './body-limit.ts';

/** Launch forms carry one id_token (a few KB); anything near this is not a launch. */
export const MAX_FORM_BYTES = 64 * 1024;

/** Reads an `application/x-www-form-urlencoded` body within a size limit. */
export async function readForm(request: Request, maxBytes = MAX_FORM_BYTES): Promise<URLSearchParams> {
  const type = request.headers.get('content-type') ?? '';
  if (!/^application\/x-www-form-urlencoded\b/i.test(type)) {
    throw new LtiError('ERR_LTI_BAD_REQUEST', `expected a form post, got content-type "${type.slice(0, 100)}"`);
  }
  const body = await readBodyWithin(request, maxBytes);
  if ('tooLarge' in body) throw new LtiError('ERR_LTI_BODY_TOO_LARGE', body.tooLarge);
  return new URLSearchParams(body.bytes.toString('utf8'));
}

/** Cookie header → map (first occurrence wins). */
export function parseCookies(header: string | null): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    if (!cookies.has(name)) cookies.set(name, part.slice(eq + 1).trim());
  }
  return cookies;
}
