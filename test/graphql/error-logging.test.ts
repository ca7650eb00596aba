/**
 * GraphQL's unexpected errors ("Unexpected error." to the client) are logged with the
 * logger that came with the request — app.ts's child with the request's id — whether they
 * happen while building the context or while executing; expected errors are not logged,
 * and yoga itself logs nothing (its one logger could not tell requests apart).
 */
import { describe, expect, it } from 'vitest';
import type { PrismaClient } from '../../server/generated/prisma/client.ts';
import { createGraphQLHandler } from '../../server/graphql/yoga.ts';
import { OutboundPolicy } from '../../server/http/outbound-policy.ts';
import type { ToolKeys } from '../../server/lti/tool-keys.ts';
import { createLogger } from '../../server/logger.ts';

type Line = Record<string, unknown> & { msg: string };

const TOKEN = `lmt_${'a'.repeat(43)}`;
const down = () => Promise.reject(new Error('database down'));

/** A database that authenticates the token (or fails doing so) and fails everything else. */
function prismaStub(authFails: boolean): PrismaClient {
  const model = new Proxy({}, { get: () => down });
  const apiToken = {
    findUnique: authFails ? down : () => Promise.resolve({ id: 't1', ownerId: 'o1', revokedAt: null, lastUsedAt: new Date() }),
  };
  return new Proxy({}, { get: (_target, name) => (name === 'apiToken' ? apiToken : model) }) as unknown as PrismaClient;
}

async function linesOf(query: string, options: { authFails?: boolean; authorization?: string } = {}) {
  const lines: Line[] = [];
  const logger = createLogger('debug', { write: (text: string) => lines.push(JSON.parse(text) as Line) } as never);
  const handler = createGraphQLHandler({
    prisma: prismaStub(options.authFails ?? false),
    publicUrl: 'https://tool.example.org',
    now: () => new Date(),
    toolKeys: {} as ToolKeys,
    outboundPolicy: new OutboundPolicy([]),
    onGradeQueued: () => {},
  });
  const request = new Request('https://tool.example.org/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: options.authorization ?? `Bearer ${TOKEN}` },
    body: JSON.stringify({ query }),
  });
  const response = await handler.fetch(request, { logger: logger.child({ reqId: 'req-00000001', component: 'graphql' }) });
  return { status: response.status, body: (await response.json()) as { errors?: { message: string; extensions?: { code?: string } }[] }, lines };
}

describe('GraphQL error logging', () => {
  it('logs an error while building the context with the request’s logger', async () => {
    const { body, lines } = await linesOf('{ viewer { name } }', { authFails: true });
    expect(body.errors?.[0]?.message).toBe('Unexpected error.');
    expect(lines).toEqual([
      expect.objectContaining({ msg: 'graphql error', reqId: 'req-00000001', component: 'graphql', err: expect.objectContaining({ message: 'database down' }) }),
    ]);
  });

  it('with NODE_ENV=development too, the answer carries no original message or stack', async () => {
    const saved = process.env.NODE_ENV;
    process.env.NODE_ENV = 'development';
    try {
      const { body } = await linesOf('{ viewer { name } }');
      expect(body.errors?.[0]?.message).toBe('Unexpected error.');
      expect(JSON.stringify(body)).not.toMatch(/database down|originalError|stack/);
    } finally {
      process.env.NODE_ENV = saved;
    }
  });

  it('logs an error in a resolver with the request’s logger', async () => {
    const { body, lines } = await linesOf('{ viewer { name } }');
    expect(body.errors?.[0]?.message).toBe('Unexpected error.');
    expect(lines).toEqual([expect.objectContaining({ msg: 'graphql error', reqId: 'req-00000001', err: expect.objectContaining({ message: 'database down' }) })]);
  });

  it('does not log expected errors (validation, authentication)', async () => {
    // Each is answered as what it is (so the silence is not a request that never got that far).
    const invalid = await linesOf('{ nope }');
    expect(invalid.status).toBe(200); // graphql-yoga answers a validation error with 200 to an application/json client
    expect(invalid.body.errors?.[0]?.message).toMatch(/Cannot query field "nope"/);
    expect(invalid.lines).toEqual([]);
    const unauthenticated = await linesOf('{ viewer { name } }', { authorization: 'Bearer nope' });
    expect(unauthenticated.status).toBe(401);
    expect(unauthenticated.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(unauthenticated.lines).toEqual([]);
  });
});
