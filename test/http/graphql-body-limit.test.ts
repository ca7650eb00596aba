/**
 * GraphQL bodies are read within MAX_GRAPHQL_BODY_BYTES before yoga sees them (yoga would
 * buffer any size before its document limits apply): 413 with a code, nothing run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_GRAPHQL_BODY_BYTES, type App } from '../../server/app.ts';
import type { Database } from '../../server/db/client.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { createOwner, createTestApp, TEST_PUBLIC_URL, type TestOwner } from '../helpers/server.ts';

let db: Database;
let app: App;
let owner: TestOwner;

beforeAll(async () => {
  db = await createTestDatabase();
  app = createTestApp(db);
  owner = await createOwner(db);
});
afterAll(async () => {
  await db?.close();
});

function post(body: BodyInit, headers: Record<string, string> = {}): Promise<Response> {
  return app.fetch(
    new Request(`${TEST_PUBLIC_URL}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${owner.token}`, ...headers },
      body,
      ...({ duplex: 'half' } as object),
    }),
  );
}

/** A valid request padded with a variable nobody reads, to `bytes` long. */
function paddedQuery(bytes: number): string {
  const head = JSON.stringify({ query: '{ viewer { id } }', variables: { pad: '' } });
  return head.replace('"pad":""', `"pad":"${'x'.repeat(bytes - head.length)}"`);
}

describe('GraphQL body size', () => {
  it('a body at the limit is read and run', async () => {
    const body = paddedQuery(MAX_GRAPHQL_BODY_BYTES);
    expect(Buffer.byteLength(body)).toBe(MAX_GRAPHQL_BODY_BYTES);
    const response = await post(body);
    expect(response.status).toBe(200);
    expect(((await response.json()) as { data: { viewer: { id: string } } }).data.viewer.id).toBeTruthy();
  });

  it('a declared length over the limit → 413 BODY_TOO_LARGE, connection closed', async () => {
    const response = await post(paddedQuery(MAX_GRAPHQL_BODY_BYTES + 1));
    expect(response.status).toBe(413);
    expect(response.headers.get('connection')).toBe('close');
    const body = (await response.json()) as { errors: Array<{ extensions: { code: string } }> };
    expect(body.errors[0]!.extensions.code).toBe('BODY_TOO_LARGE');
  });

  it('a streamed body (no declared length) over the limit → 413 as soon as it passes the limit', async () => {
    let sent = 0;
    const chunk = new TextEncoder().encode('x'.repeat(16 * 1024));
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        // Endless: the server must stop reading, not wait for the end.
        sent += chunk.byteLength;
        controller.enqueue(chunk);
      },
    });
    const response = await post(stream);
    expect(response.status).toBe(413);
    expect(sent).toBeLessThan(MAX_GRAPHQL_BODY_BYTES + 4 * chunk.byteLength);
  });
});
