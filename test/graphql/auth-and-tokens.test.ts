import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { App } from '../../server/app.ts';
import { hashApiToken, LAST_USED_RESOLUTION_MS } from '../../server/auth/api-tokens.ts';
import type { Database } from '../../server/db/client.ts';
import {
  CreateApiTokenDocument,
  RevokeApiTokenDocument,
  ViewerDocument,
} from '../generated/graphql.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { createOwner, createTestApp, graphqlClient, TEST_PUBLIC_URL, type TestOwner } from '../helpers/server.ts';

let db: Database;
let app: App;
let alice: TestOwner;
let bob: TestOwner;

beforeAll(async () => {
  db = await createTestDatabase();
  app = createTestApp(db);
  alice = await createOwner(db, 'Alice');
  bob = await createOwner(db, 'Bob');
});
afterAll(() => db.close());

function post(headers: Record<string, string>, body = '{"query":"{ viewer { name } }"}') {
  return app.fetch(
    new Request(`${TEST_PUBLIC_URL}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    }),
  );
}

describe('authentication', () => {
  it.each([
    ['no Authorization header', {}],
    ['a malformed header', { authorization: 'Token abc' }],
    ['a well-formed unknown token', { authorization: `Bearer lmt_${'A'.repeat(43)}` }],
    ['a token of the wrong shape', { authorization: 'Bearer lmt_short' }],
  ])('answers 401 with WWW-Authenticate for %s, running nothing', async (_label, headers) => {
    const before = await db.prisma.app.count();
    const res = await post(headers, '{"query":"mutation { createApp(input:{name:\\"x\\",exerciseUrl:\\"https://x.example\\"}) { __typename } }"}');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const body = (await res.json()) as { data?: unknown; errors: { message: string; extensions: { code: string } }[] };
    expect(body.data ?? null).toBeNull();
    expect(body.errors[0]!.extensions.code).toBe('UNAUTHENTICATED');
    expect(await db.prisma.app.count()).toBe(before);
  });

  it.each([
    ['no query at all', '{}'],
    ['a document that does not parse', '{"query":"{ viewer { "}'],
    ['a field that does not exist (validation would suggest names)', '{"query":"{ viewr { name } }"}'],
    ['a document over the depth limit', `{"query":"{ ${'viewer { apps { edges { node { registrations { edges { node { app { '.repeat(4)}id${' } } } } } } } } }'.repeat(4)} }"}`],
    ['a malformed cursor', '{"query":"{ viewer { apps(after: \\"%%%\\") { totalCount } } }"}'],
  ])('answers 401 before looking at the request for %s: no parse, validation or limit message', async (_label, body) => {
    const res = await post({}, body);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({
      errors: [{ message: 'A valid API token is required: send `Authorization: Bearer <token>`.', extensions: { code: 'UNAUTHENTICATED' } }],
    });
    expect(text).not.toMatch(/Did you mean|Syntax Error|depth|cursor/i);
  });

  it('lets a CORS preflight through without a token (it carries no data)', async () => {
    const res = await app.fetch(
      new Request(`${TEST_PUBLIC_URL}/graphql`, {
        method: 'OPTIONS',
        headers: { origin: 'https://dashboard.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
      }),
    );
    expect(res.status).toBeLessThan(300);
    expect(await res.text()).toBe('');
  });

  it('accepts a valid token and shows the viewer', async () => {
    const { viewer } = await graphqlClient(app, alice.token).run(ViewerDocument, {});
    expect(viewer.name).toBe('Alice');
    const current = viewer.apiTokens.edges.map((e) => e.node).find((t) => t.isCurrent);
    expect(current?.prefix).toBe(alice.token.slice(0, 10));
  });

  it('stores only the hash of a token', async () => {
    const rows = await db.prisma.apiToken.findMany();
    for (const row of rows) {
      expect(row.tokenHash).toMatch(/^[0-9a-f]{64}$/);
      expect(JSON.stringify(row)).not.toContain(alice.token);
    }
    expect(rows.some((r) => r.tokenHash === hashApiToken(alice.token))).toBe(true);
  });

  it('records last use, at most once per minute', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const owner = await createOwner(db, 'Clocked');
      const client = graphqlClient(app, owner.token);
      const row = () => db.prisma.apiToken.findFirstOrThrow({ where: { tokenHash: hashApiToken(owner.token) } });
      expect((await row()).lastUsedAt).toBeNull();
      vi.setSystemTime(new Date('2026-11-27T10:00:00.000Z'));
      await client.run(ViewerDocument, {});
      expect((await row()).lastUsedAt?.toISOString()).toBe('2026-11-27T10:00:00.000Z');
      vi.setSystemTime(new Date('2026-11-27T10:00:30.000Z'));
      await client.run(ViewerDocument, {});
      expect((await row()).lastUsedAt?.toISOString()).toBe('2026-11-27T10:00:00.000Z');
      vi.setSystemTime(new Date(Date.parse('2026-11-27T10:00:00.000Z') + LAST_USED_RESOLUTION_MS));
      await client.run(ViewerDocument, {});
      expect((await row()).lastUsedAt?.toISOString()).toBe('2026-11-27T10:01:00.000Z');
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('API tokens', () => {
  it('creates a token that is shown once and works at once', async () => {
    const { createApiToken } = await graphqlClient(app, alice.token).run(CreateApiTokenDocument, {
      input: { name: 'CI' },
    });
    if (createApiToken.__typename !== 'CreateApiTokenPayload') throw new Error(createApiToken.__typename);
    expect(createApiToken.token).toMatch(/^lmt_[A-Za-z0-9_-]{43}$/);
    expect(createApiToken.apiToken).toMatchObject({ name: 'CI', revokedAt: null, isCurrent: false });
    const { viewer } = await graphqlClient(app, createApiToken.token).run(ViewerDocument, {});
    expect(viewer.name).toBe('Alice');
    // Listing never shows secrets again.
    const listed = JSON.stringify(viewer.apiTokens);
    expect(listed).not.toContain(createApiToken.token);
  });

  it('refuses an empty or oversized name', async () => {
    const client = graphqlClient(app, alice.token);
    const before = await db.prisma.apiToken.count();
    for (const name of ['', ' ', 'n'.repeat(201)]) {
      const { createApiToken } = await client.run(CreateApiTokenDocument, { input: { name } });
      expect(createApiToken).toMatchObject({ __typename: 'ValidationError', fields: [{ field: 'name' }] });
    }
    expect(await db.prisma.apiToken.count()).toBe(before);
  });

  it('revokes a token: it stops working at once, and revoking twice keeps the first time', async () => {
    const client = graphqlClient(app, alice.token);
    const created = await client.run(CreateApiTokenDocument, { input: { name: 'temp' } });
    if (created.createApiToken.__typename !== 'CreateApiTokenPayload') throw new Error('create failed');
    const { token, apiToken } = created.createApiToken;
    const { revokeApiToken } = await client.run(RevokeApiTokenDocument, { input: { id: apiToken.id } });
    expect(revokeApiToken.__typename).toBe('ApiTokenPayload');
    if (revokeApiToken.__typename !== 'ApiTokenPayload') return;
    expect(revokeApiToken.apiToken.revokedAt).not.toBeNull();
    expect((await graphqlClient(app, token).raw(ViewerDocument, {})).status).toBe(401);
    const again = await client.run(RevokeApiTokenDocument, { input: { id: apiToken.id } });
    expect(again.revokeApiToken).toMatchObject({ apiToken: { revokedAt: revokeApiToken.apiToken.revokedAt } });
  });

  it('cannot revoke or see another owner’s token', async () => {
    const bobClient = graphqlClient(app, bob.token);
    const { viewer } = await bobClient.run(ViewerDocument, {});
    const bobTokenId = viewer.apiTokens.edges[0]!.node.id;
    const { revokeApiToken } = await graphqlClient(app, alice.token).run(RevokeApiTokenDocument, {
      input: { id: bobTokenId },
    });
    expect(revokeApiToken).toMatchObject({ __typename: 'NotFoundError', id: bobTokenId });
    expect((await bobClient.raw(ViewerDocument, {})).status).toBe(200);
    const aliceView = await graphqlClient(app, alice.token).run(ViewerDocument, {});
    expect(aliceView.viewer.apiTokens.edges.map((e) => e.node.id)).not.toContain(bobTokenId);
  });
});

describe('error masking', () => {
  it("answers a broken query with the validation error and a bad body with 400, never a 500", async () => {
    const bad = await post({ authorization: `Bearer ${alice.token}` }, '{"query":"{ viewer { nope } }"}');
    expect(bad.status).toBe(200); // a validation error, in the body (graphql-yoga, application/json)
    expect(((await bad.json()) as { errors: { message: string }[] }).errors[0]!.message).toMatch(/Cannot query field "nope" on type "Owner"/);
    const notJson = await post({ authorization: `Bearer ${alice.token}` }, '{not json');
    expect(notJson.status).toBe(400);
  });

  it('an id that decodes to a NUL is not found, not an unexpected error (found by test/fuzz/graphql.test.ts)', async () => {
    const id = Buffer.from('App:\u0000').toString('base64');
    const query = `mutation { updateApp(input: { id: "${id}", name: "x" }) { __typename } deleteApp(input: { id: "${id}" }) { __typename } }`;
    const response = await post({ authorization: `Bearer ${alice.token}` }, JSON.stringify({ query }));
    expect(await response.json()).toEqual({ data: { updateApp: { __typename: 'NotFoundError' }, deleteApp: { __typename: 'NotFoundError' } } });
  });

  it.each([
    // 50,000 characters: refused on its length, before the lexer or parser sees it.
    [5000, 'QUERY_TOO_LONG', /50000 characters; at most 20000/],
    // 15,000 characters but 4,500 tokens: the token count stops it before parsing.
    [1500, 'QUERY_TOO_MANY_TOKENS', /more than 2000 tokens/],
    // 1,800 tokens: it parses, and validation refuses its depth (600 levels).
    [600, 'QUERY_TOO_DEEP', /600 levels deep; at most 20/],
  ])(
    'a document nested %i deep is a 400 with a limit code, not a stack overflow (found by test/fuzz/graphql.test.ts; was a 500)',
    async (depth, code, message) => {
      const query = `${'{ viewer '.repeat(depth)}${'}'.repeat(depth)}`;
      // The document limits (server/graphql/limits.ts) answer 400 for application/json clients too.
      for (const accept of ['application/graphql-response+json', 'application/json']) {
        const response = await post({ authorization: `Bearer ${alice.token}`, accept }, JSON.stringify({ query }));
        expect(response.status).toBe(400);
        const body = (await response.json()) as { data?: unknown; errors: Array<{ message: string; extensions?: { code?: string } }> };
        expect(body.data ?? null).toBeNull();
        const limitError = body.errors.find((e) => e.extensions?.code === code);
        expect(limitError?.message, JSON.stringify(body.errors.map((e) => e.extensions?.code))).toMatch(message);
        expect(JSON.stringify(body)).not.toMatch(/Maximum call stack|Unexpected error/);
      }
    },
  );
});
