import { createServer, type RequestListener, type Server } from 'node:http';

/**
 * Request line plus headers, in bytes. Node answers 431 past it before our code runs. Set
 * explicitly (it equals Node's current default) so a runtime flag or a future default
 * cannot silently widen it: LTI requests carry a cookie or two and a short Authorization.
 */
export const MAX_HEADER_BYTES = 16 * 1024;

/** The HTTP server of `main.ts` (and of the tests that need real sockets). */
export function createNodeServer(listener: RequestListener): Server {
  return createServer({ maxHeaderSize: MAX_HEADER_BYTES }, listener);
}
