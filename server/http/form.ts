import { LtiError } from '../lti/errors.ts';

/** Launch forms carry one id_token (a few KB); anything near this is not a launch. */
export const MAX_FORM_BYTES = 64 * 1024;

/** Reads an `application/x-www-form-urlencoded` body within a size limit. */
export async function readForm(request: Request, maxBytes = MAX_FORM_BYTES): Promise<URLSearchParams> {
  const type = request.headers.get('content-type') ?? '';
  if (!/^application\/x-www-form-urlencoded\b/i.test(type)) {
    throw new LtiError('ERR_LTI_BAD_REQUEST', `expected a form post, got content-type "${type.slice(0, 100)}"`);
  }
  const declared = Number(request.headers.get('content-length') ?? Number.NaN);
  if (declared > maxBytes) throw new LtiError('ERR_LTI_BODY_TOO_LARGE', `content-length ${declared} > ${maxBytes}`);
  if (!request.body) return new URLSearchParams();
  const chunks: Uint8Array[] = [];
  let size = 0;
  // A reader that is left alone on overflow (not cancelled, not iterated with for-await):
  // cancelling destroys the underlying request and its socket, so the 413 page would never
  // be sent. The route closes the connection after the page instead.
  const reader = request.body.getReader();
  for (;;) {
    const { done, value: chunk } = await reader.read();
    if (done) break;
    size += chunk.byteLength;
    if (size > maxBytes) throw new LtiError('ERR_LTI_BODY_TOO_LARGE', `body over ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
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
