/**
 * What a client-supplied id (inside a global ID or a cursor) must look like before any query
 * sees it. Every id this server makes is at most 64 characters without control characters
 * (UUIDs, key ids); anything else names nothing, so it is answered as "not found" without
 * asking the database — which could not even store a NUL (PostgreSQL text) and would fail.
 */
export const MAX_ID_LENGTH = 64;

// \p{Cc}: C0 controls (NUL included), DEL and C1 controls.
const CONTROL = /\p{Cc}/u;

export function isPlausibleId(id: string): boolean {
  return id.length > 0 && id.length <= MAX_ID_LENGTH && !CONTROL.test(id);
}

/**
 * The prefix of every cursor this API hands out, before base64: the Prisma plugin's `GPC:`
 * and its tag for a string value (`S:`). All connections page on the string `id` column.
 */
const CURSOR_PREFIX = 'GPC:S:';
/** Standard base64 with padding, as Pothos writes and reads it. */
const BASE64 = /^(?:[\d+/A-Za-z]{4})*(?:[\d+/A-Za-z]{2}==|[\d+/A-Za-z]{3}=)?$/;
/** Longer than any cursor of a plausible id (6 + 64 × 4 UTF-8 bytes, in base64): no need to decode it. */
const MAX_CURSOR_LENGTH = 4 * Math.ceil((CURSOR_PREFIX.length + MAX_ID_LENGTH * 4) / 3);

/**
 * True for a cursor this API could have handed out: the id it holds, decoded exactly as the
 * Prisma plugin decodes it (base64, then UTF-8), is a plausible id. Anything else would reach
 * Prisma as a number, an object, a date or a NUL-bearing string.
 */
export function isWellFormedCursor(cursor: string): boolean {
  if (cursor.length > MAX_CURSOR_LENGTH || !BASE64.test(cursor)) return false;
  const decoded = Buffer.from(cursor, 'base64').toString('utf8');
  return decoded.startsWith(CURSOR_PREFIX) && isPlausibleId(decoded.slice(CURSOR_PREFIX.length));
}
