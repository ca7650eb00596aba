/**
 * The id of each request: on every line logged while handling it (app.ts gives each request
 * its own child logger, `logger.child({ reqId })`, and passes it down) and echoed to the client.
 */
import { randomUUID } from 'node:crypto';

export const REQUEST_ID_HEADER = 'x-request-id';
/** An incoming id is kept only when short and plain (it ends up in every log line). */
const ACCEPTABLE_REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;

/** The proxy's X-Request-Id when it is sane, else a fresh UUID. */
export function requestIdFor(incoming: string | null): string {
  return incoming && ACCEPTABLE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
}
