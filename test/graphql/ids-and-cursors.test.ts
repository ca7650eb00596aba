/**
 * Client-controlled ids and cursors never reach the database unchecked (README "GraphQL API"):
 * `node(id)` answers null for any id that names none of your objects, malformed ones included,
 * and a cursor this API did not hand out is refused with a clear `BAD_CURSOR` error before
 * anything runs. Neither is ever an "Unexpected error." nor an error in the server log.
 */
import { encodeGlobalID } from '@pothos/plugin-relay';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../server/app.ts';
import type { Database } from '../../server/db/client.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { createOwner, testConfig, TEST_PUBLIC_URL } from '../helpers/server.ts';

let db: Database;
let app: App;
let token: string;
let otherToken: string;
let appId: string;
let appGlobalId: string;
let registrationGlobalId: string;
/** Error-level log lines of this file's server: an unexpected error is always logged. */
const loggedErrors: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  const logger = pino({ level: 'error', base: undefined }, { write: (line: string) => void loggedErrors.push(line) });
  app = createApp(testConfig(), { db, logger });
  const owner = await createOwner(db, 'Alice');
  token = owner.token;
  otherToken = (await createOwner(db, 'Bob')).token;
  const created = await db.prisma.app.create({ data: { ownerId: owner.ownerId, name: 'Mine', exerciseUrl: 'https://ex.example.org/', isPublic: true } });
  appId = created.id;
  appGlobalId = encodeGlobalID('App', created.id);
  const registration = await db.prisma.ltiRegistration.create({
    data: { appId, issuer: 'https://lms.example.org', clientId: 'c1', authLoginUrl: 'https://lms.example.org/a', authTokenUrl: 'https://lms.example.org/t', keysetUrl: 'https://lms.example.org/k', deploymentIds: ['1'] },
  });
  registrationGlobalId = encodeGlobalID('LtiRegistration', registration.id);
  for (const name of ['Second', 'Third']) {
    await db.prisma.app.create({ data: { ownerId: owner.ownerId, name, exerciseUrl: 'https://ex.example.org/', isPublic: false } });
  }
});
afterAll(() => db.close());
beforeEach(() => {
  loggedErrors.length = 0;
});

interface Answer {
  status: number;
  body: { data?: Record<string, unknown> | null; errors?: Array<{ message: string; extensions?: { code?: string } }> };
  text: string;
}

async function post(query: string, variables?: Record<string, unknown>, bearer = token): Promise<Answer> {
  const response = await app.fetch(
    new Request(`${TEST_PUBLIC_URL}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json', authorization: `Bearer ${bearer}` },
      body: JSON.stringify({ query, variables }),
    }),
  );
  const text = await response.text();
  return { status: response.status, body: JSON.parse(text) as Answer['body'], text };
}

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

describe('node(id) answers null for every id that names none of your objects', () => {
  it.each([
    ['not base64', 'garbage'],
    ['empty', ''],
    ['base64 without a type', b64('App')],
    ['a NUL in the id', encodeGlobalID('App', '\u0000')],
    ['a NUL inside an otherwise plausible id', encodeGlobalID('App', 'abc\u0000def')],
    ['another control character', encodeGlobalID('App', 'a\u0007b')],
    ['a newline', encodeGlobalID('App', 'a\nb')],
    ['an oversized id', encodeGlobalID('App', 'x'.repeat(65))],
    ['an unknown type', encodeGlobalID('Nope', 'x')],
    ['a type that is no Node', encodeGlobalID('Query', 'x')],
    ['an error type', encodeGlobalID('NotFoundError', 'x')],
    ['a type name with odd characters', b64('Ap-p:x')],
    ['a missing object', encodeGlobalID('App', '00000000-0000-7000-8000-000000000000')],
    ['SQL', encodeGlobalID('App', "' OR 1=1 --")],
  ])('%s', async (_label, id) => {
    const answer = await post('query($id: ID!) { node(id: $id) { id __typename } }', { id });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ data: { node: null } });
    expect(loggedErrors).toEqual([]);
  });

  it('the same as a literal in the document, next to app(id) which agrees', async () => {
    const id = JSON.stringify(encodeGlobalID('App', '\u0000'));
    const answer = await post(`{ node(id: ${id}) { id } app(id: ${id}) { id } }`);
    expect(answer.body).toEqual({ data: { node: null, app: null } });
    expect(loggedErrors).toEqual([]);
  });

  it('still finds your own objects, of every kind, and only yours', async () => {
    const mine = await post('query($a: ID!, $r: ID!) { a: node(id: $a) { __typename id } r: node(id: $r) { __typename id } }', { a: appGlobalId, r: registrationGlobalId });
    expect(mine.body).toEqual({ data: { a: { __typename: 'App', id: appGlobalId }, r: { __typename: 'LtiRegistration', id: registrationGlobalId } } });
    const theirs = await post('query($a: ID!) { node(id: $a) { id } }', { a: appGlobalId }, otherToken);
    expect(theirs.body).toEqual({ data: { node: null } });
  });

  it('the longest id that could exist (64 characters) is still looked up', async () => {
    const answer = await post('query($id: ID!) { node(id: $id) { id } }', { id: encodeGlobalID('App', 'x'.repeat(64)) });
    expect(answer.body).toEqual({ data: { node: null } });
  });
});

describe('cursors: one this API did not hand out is refused with BAD_CURSOR, before anything runs', () => {
  const bad: Array<[string, string]> = [
    ['not base64', 'garbage'],
    ['another plugin’s prefix', b64('XYZ:S:abc')],
    ['a NUL', b64('GPC:S:\u0000')],
    ['a NUL inside an id', b64('GPC:S:abc\u0000')],
    ['a number instead of an id', b64('GPC:N:5')],
    ['a JSON object', b64('GPC:O:{"gt":"a"}')],
    ['a date', b64('GPC:D:0')],
    ['a compound cursor', b64('GPC:T:["S:a","S:b"]')],
    ['an empty id', b64('GPC:S:')],
    ['an oversized id', b64(`GPC:S:${'x'.repeat(65)}`)],
    ['a control character', b64('GPC:S:a\u0001b')],
    ['a huge string', 'A'.repeat(100_000)],
  ];

  function expectBadCursor(answer: Answer, argument: string) {
    expect(answer.status).toBe(200);
    expect(answer.body.data ?? null).toBeNull();
    expect(answer.body.errors).toHaveLength(1);
    expect(answer.body.errors?.[0]).toMatchObject({
      message: expect.stringContaining(`\`${argument}\``),
      extensions: { code: 'BAD_CURSOR' },
    });
    expect(answer.text).not.toContain('Unexpected error');
    expect(loggedErrors).toEqual([]);
  }

  it.each(bad)('apps(after:) with %s', async (_label, cursor) => {
    expectBadCursor(await post('query($c: String) { apps(first: 2, after: $c) { edges { node { id } } } }', { c: cursor }), 'after');
  });

  it.each(bad)('a nested connection’s before: with %s', async (_label, cursor) => {
    expectBadCursor(
      await post('query($id: ID!, $c: String) { app(id: $id) { registrations(last: 2, before: $c) { edges { node { id } } } } }', { id: appGlobalId, c: cursor }),
      'before',
    );
  });

  it('as a literal, inside a fragment', async () => {
    const query = `{ app(id: ${JSON.stringify(appGlobalId)}) { ...F } } fragment F on App { launches(after: ${JSON.stringify(b64('GPC:N:5'))}) { edges { cursor } } }`;
    expectBadCursor(await post(query), 'after');
  });

  it('in a mutation’s selection: the mutation does not run', async () => {
    const query = `mutation($id: ID!, $c: String) {
      updateApp(input: { id: $id, name: "Renamed" }) { ... on AppPayload { app { grades(after: $c) { edges { cursor } } } } }
    }`;
    expectBadCursor(await post(query, { id: appGlobalId, c: b64('GPC:S:\u0000') }), 'after');
    expect((await db.prisma.app.findUniqueOrThrow({ where: { id: appId } })).name).toBe('Mine');
  });

  it('a skipped field’s cursor is not looked at (the field does not run)', async () => {
    const answer = await post('query($c: String) { apps(first: 1, after: $c) @skip(if: true) { edges { cursor } } viewer { name } }', { c: 'garbage' });
    expect(answer.body).toEqual({ data: { viewer: { name: 'Alice' } } });
  });

  it('the cursors it hands out page as before; null and absent cursors are the first page', async () => {
    const page = async (after: string | null | undefined) => {
      const answer = await post('query($c: String) { apps(first: 2, after: $c) { edges { node { name } } pageInfo { endCursor hasNextPage } } }', after === undefined ? {} : { c: after });
      expect(answer.body.errors).toBeUndefined();
      return (answer.body.data as { apps: { edges: Array<{ node: { name: string } }>; pageInfo: { endCursor: string; hasNextPage: boolean } } }).apps;
    };
    const first = await page(undefined);
    expect(first.edges.map((e) => e.node.name)).toEqual(['Mine', 'Second']);
    expect((await page(null)).edges.map((e) => e.node.name)).toEqual(['Mine', 'Second']);
    const second = await page(first.pageInfo.endCursor);
    expect(second.edges.map((e) => e.node.name)).toEqual(['Third']);
    expect(second.pageInfo.hasNextPage).toBe(false);
  });

  it.each<[string, string, string]>([
    ['a negative first', 'registrations(first: -1)', '`first` must not be negative'],
    ['a negative last', 'registrations(last: -1)', '`last` must not be negative'],
    ['after with last', 'launches(last: 1, after: $c)', '`after` pages forwards'],
    ['before with first', 'launches(first: 1, before: $c)', '`before` pages backwards'],
    ['after with before', 'grades(after: $c, before: $c)', '`after` and `before` cannot be used together'],
  ])('page arguments the connection would refuse (%s) in a mutation’s selection: refused before the mutation runs', async (_label, field, message) => {
    const cursor = (await post('{ apps(first: 1) { edges { cursor } } }')).body.data as { apps: { edges: Array<{ cursor: string }> } };
    const usesCursor = field.includes('$c');
    const query = `mutation($id: ID!${usesCursor ? ', $c: String' : ''}) {
      updateApp(input: { id: $id, name: "Renamed" }) { ... on AppPayload { app { ${field} { edges { cursor } } } } }
    }`;
    const answer = await post(query, { id: appGlobalId, ...(usesCursor ? { c: cursor.apps.edges[0]!.cursor } : {}) });
    expect(answer.status).toBe(200);
    expect(answer.body.data ?? null).toBeNull();
    expect(answer.body.errors).toEqual([expect.objectContaining({ message: expect.stringContaining(message), extensions: { code: 'BAD_CONNECTION_ARGUMENTS' } })]);
    expect((await db.prisma.app.findUniqueOrThrow({ where: { id: appId } })).name).toBe('Mine');
  });

  it('a createApp whose selection has bad page arguments creates nothing', async () => {
    const before = await db.prisma.app.count();
    const answer = await post('mutation { createApp(input: { name: "Dup?", exerciseUrl: "https://x.example.org/" }) { ... on AppPayload { app { id registrations(first: -5) { edges { cursor } } } } } }');
    expect(answer.body.errors?.[0]?.extensions).toEqual({ code: 'BAD_CONNECTION_ARGUMENTS' });
    expect(await db.prisma.app.count()).toBe(before);
  });

  it('another owner’s app id as a cursor pages exactly like a missing id: nothing tells that app exists', async () => {
    const bob = await db.prisma.apiToken.findFirstOrThrow({ where: { owner: { name: 'Bob' } } });
    for (const name of ['Bob 1', 'Bob 2']) {
      await db.prisma.app.create({ data: { ownerId: bob.ownerId, name, exerciseUrl: 'https://ex.example.org/', isPublic: false } });
    }
    const page = async (id: string) =>
      (await post('query($c: String) { apps(first: 5, after: $c) { edges { node { name } } } }', { c: b64(`GPC:S:${id}`) }, otherToken)).body;
    const foreign = await page(appId); // Alice's app, older than Bob's
    const missing = await page('00000000-0000-7000-8000-000000000000');
    expect(foreign).toEqual({ data: { apps: { edges: [] } } });
    expect(missing).toEqual(foreign);
    // Bob's own cursors still page his apps.
    const first = (await post('{ apps(first: 1) { edges { cursor node { name } } } }', {}, otherToken)).body.data as { apps: { edges: Array<{ cursor: string; node: { name: string } }> } };
    expect(first.apps.edges.map((e) => e.node.name)).toEqual(['Bob 1']);
    const next = await post('query($c: String) { apps(first: 5, after: $c) { edges { node { name } } } }', { c: first.apps.edges[0]!.cursor }, otherToken);
    expect(next.body).toEqual({ data: { apps: { edges: [{ node: { name: 'Bob 2' } }] } } });
  });

  it('a well-formed cursor of an id that is not in the list is an empty page, not an error', async () => {
    const answer = await post('query($c: String) { apps(first: 2, after: $c) { edges { cursor } } }', { c: b64('GPC:S:00000000-0000-7000-8000-000000000000') });
    expect(answer.body).toEqual({ data: { apps: { edges: [] } } });
  });
});
