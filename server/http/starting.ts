import type { ServerResponse } from 'node:http';

/**
 * The answer while the app is still being built after the port opened (main.ts): a load
 * balancer's probe or a widget retrying its report may arrive in that window. 503 with
 * Retry-After, readable cross-origin (the widget honours Retry-After only when it can read
 * it), never cached.
 */
export function answerStarting(res: ServerResponse): void {
  res.writeHead(503, {
    'content-type': 'application/json',
    'retry-after': '1',
    'cache-control': 'no-store',
    'access-control-allow-origin': '*',
    'access-control-expose-headers': 'retry-after',
  });
  res.end('{"status":"starting"}');
}
