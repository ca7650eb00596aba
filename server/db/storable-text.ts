/**
 * What a PostgreSQL text column can hold. PostgreSQL rejects NUL, so one NUL fails the whole
 * statement; the driver silently turns half a surrogate pair into U+FFFD (which would make
 * different learner ids equal). The launch refuses claims that hold either (launch.ts); text
 * we did not write and only keep for people to read (a platform's error answer) has them
 * replaced instead.
 */
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const EVERY_UNSTORABLE = new RegExp(UNSTORABLE.source, 'g');

/** Neither a NUL nor half of a UTF-16 surrogate pair: stored exactly as it is. */
export function isStorableText(value: string): boolean {
  return !UNSTORABLE.test(value);
}

/** The first `max` UTF-16 units, without cutting a surrogate pair in half. */
export function cutText(value: string, max: number): string {
  const cut = value.slice(0, max);
  // A pair cut in half at the end is dropped, not replaced: the rest of it was cut away too.
  return /[\uD800-\uDBFF]$/.test(cut) && value.length > max ? cut.slice(0, -1) : cut;
}

/** `value` cut to `max` (cutText), with every NUL and lone surrogate as U+FFFD. */
export function storableText(value: string, max: number): string {
  return cutText(value, max).replace(EVERY_UNSTORABLE, '\uFFFD');
}
