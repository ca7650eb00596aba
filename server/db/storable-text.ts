/**
 * Text we did not write (a platform's error answer, a network error's message) made safe to
 * store in a PostgreSQL text column: PostgreSQL rejects NUL, so one NUL would fail the whole
 * UPDATE; the driver would silently turn half a surrogate pair into U+FFFD. Both become
 * U+FFFD here, and the text is cut to `max` UTF-16 units without splitting a pair.
 */
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

export function storableText(value: string, max: number): string {
  let cut = value.length > max ? value.slice(0, max) : value;
  // A pair cut in half at the end is dropped, not replaced: the rest of it was cut away too.
  if (value.length > max && /[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return cut.replace(UNSTORABLE, '\uFFFD');
}
