import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNodeServer } from '../../server/http/node-server.ts';
import { answerStarting } from '../../server/http/starting.ts';

// The 503 main.ts gives while the app is still being built: a widget retrying its report
// during a restart must be able to read it (CORS) and its Retry-After.
describe('the answer while the server starts', () => {
  const server = createNodeServer((_req, res) => answerStarting(res));
  let base = '';
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('is a 503 with Retry-After that a cross-origin script can read, never cached', async () => {
    const res = await fetch(`${base}/api/completions`, {
      method: 'POST',
      headers: { origin: 'https://exercise.example', authorization: 'Bearer x', 'content-type': 'application/json' },
      body: '{}',
    });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-expose-headers')).toBe('retry-after');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.json()).toEqual({ status: 'starting' });
  });
});
