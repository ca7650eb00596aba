import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeGlobalID } from '@pothos/plugin-relay';
import type { Database } from '../../server/db/client.ts';
import {
  AppDocument,
  AppsDocument,
  CreateAppDocument,
  DeleteAppDocument,
  NodeDocument,
  UpdateAppDocument,
  type AppsQuery,
} from '../generated/graphql.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { createOwner, createTestApp, graphqlClient, TEST_PUBLIC_URL, type GraphQLClient } from '../helpers/server.ts';

let db: Database;
let alice: GraphQLClient;
let bob: GraphQLClient;

beforeAll(async () => {
  db = await createTestDatabase();
  const app = createTestApp(db);
  alice = graphqlClient(app, (await createOwner(db, 'Alice')).token);
  bob = graphqlClient(app, (await createOwner(db, 'Bob')).token);
});
afterAll(() => db.close());

async function createApp(client: GraphQLClient, name = 'Fractions', isPublic = false) {
  const { createApp } = await client.run(CreateAppDocument, {
    input: { name, exerciseUrl: 'https://exercises.example.org/fractions', isPublic },
  });
  if (createApp.__typename !== 'AppPayload') throw new Error(`createApp failed: ${createApp.__typename}`);
  return createApp.app;
}

describe('createApp', () => {
  it('creates a private app with trimmed values and LTI tool URLs under PUBLIC_URL', async () => {
    const { createApp } = await alice.run(CreateAppDocument, {
      input: { name: '  Fractions 1  ', exerciseUrl: ' https://exercises.example.org/f?x=1 ' },
    });
    expect(createApp.__typename).toBe('AppPayload');
    if (createApp.__typename !== 'AppPayload') return;
    const app = createApp.app;
    expect(app).toMatchObject({ name: 'Fractions 1', exerciseUrl: 'https://exercises.example.org/f?x=1', isPublic: false });
    const rawId = (await db.prisma.app.findFirstOrThrow({ where: { name: 'Fractions 1' } })).id;
    expect(app.id).toBe(encodeGlobalID('App', rawId));
    expect(app.ltiTool).toEqual({
      launchUrl: `${TEST_PUBLIC_URL}/lti/apps/${rawId}/launch`,
      loginUrl: `${TEST_PUBLIC_URL}/lti/apps/${rawId}/login`,
      keysetUrl: `${TEST_PUBLIC_URL}/lti/jwks`,
    });
    expect(new Date(app.createdAt).getTime()).toBeGreaterThan(Date.now() - 60_000);
  });

  it('accepts http exercise URLs only on loopback hosts', async () => {
    const ok = await alice.run(CreateAppDocument, {
      input: { name: 'Local', exerciseUrl: 'http://localhost:5173/ex' },
    });
    expect(ok.createApp.__typename).toBe('AppPayload');
    const refused = await alice.run(CreateAppDocument, {
      input: { name: 'Plain', exerciseUrl: 'http://exercises.example.org/ex' },
    });
    expect(refused.createApp).toMatchObject({
      __typename: 'ValidationError',
      code: 'ERR_VALIDATION',
      fields: [{ field: 'exerciseUrl', message: expect.stringContaining('https') }],
    });
  });

  it.each([
    ['empty name', { name: '   ', exerciseUrl: 'https://e.example/x' }, ['name']],
    ['oversized name', { name: 'x'.repeat(201), exerciseUrl: 'https://e.example/x' }, ['name']],
    ['control characters', { name: 'a\u0007b', exerciseUrl: 'https://e.example/x' }, ['name']],
    ['unparseable URL', { name: 'A', exerciseUrl: 'not a url' }, ['exerciseUrl']],
    ['relative URL', { name: 'A', exerciseUrl: '/ex' }, ['exerciseUrl']],
    ['javascript: URL', { name: 'A', exerciseUrl: 'javascript:alert(1)' }, ['exerciseUrl']],
    ['credentials in URL', { name: 'A', exerciseUrl: 'https://u:p@e.example/x' }, ['exerciseUrl']],
    ['oversized URL', { name: 'A', exerciseUrl: `https://e.example/${'a'.repeat(2100)}` }, ['exerciseUrl']],
    ['empty everything', { name: '', exerciseUrl: '' }, ['name', 'exerciseUrl']],
  ])('refuses %s with a typed error and creates nothing', async (_label, input, fields) => {
    const before = await db.prisma.app.count();
    const { createApp } = await alice.run(CreateAppDocument, { input });
    expect(createApp.__typename).toBe('ValidationError');
    if (createApp.__typename !== 'ValidationError') return;
    expect(createApp.fields.map((f) => f.field)).toEqual(fields);
    expect(createApp.fields.every((f) => f.message.length > 0)).toBe(true);
    expect(await db.prisma.app.count()).toBe(before);
  });
});

describe('apps and app(id)', () => {
  it('pages through only the viewer’s apps, oldest first', async () => {
    const client = graphqlClient(createTestApp(db), (await createOwner(db, 'Pager')).token);
    const names = ['A1', 'A2', 'A3', 'A4', 'A5'];
    for (const name of names) await createApp(client, name);
    await createApp(bob, 'Bob only');

    const seen: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 5; page++) {
      const { apps }: AppsQuery = await client.run(AppsDocument, { first: 2, after });
      seen.push(...apps.edges.map((e) => e.node.name));
      if (!apps.pageInfo.hasNextPage) break;
      after = apps.pageInfo.endCursor;
    }
    expect(seen).toEqual(names);
  });

  it('answers null for another owner’s app, a missing app and a malformed ID', async () => {
    const bobs = await createApp(bob, 'Secret');
    expect((await bob.run(AppDocument, { id: bobs.id })).app?.name).toBe('Secret');
    expect((await alice.run(AppDocument, { id: bobs.id })).app).toBeNull();
    expect((await alice.run(AppDocument, { id: encodeGlobalID('App', '00000000-0000-7000-8000-000000000000') })).app).toBeNull();
    expect((await alice.run(AppDocument, { id: 'garbage' })).app).toBeNull();
    expect((await alice.run(AppDocument, { id: encodeGlobalID('LtiRegistration', 'x') })).app).toBeNull();
  });

  it('node(id) resolves the viewer’s own objects and hides everyone else’s', async () => {
    const mine = await createApp(alice, 'Mine');
    const bobs = await createApp(bob, 'Bobs');
    expect((await alice.run(NodeDocument, { id: mine.id })).node).toMatchObject({ __typename: 'App', name: 'Mine' });
    expect((await alice.run(NodeDocument, { id: bobs.id })).node).toBeNull();
    const bobOwner = await db.prisma.owner.findFirstOrThrow({ where: { name: 'Bob' } });
    expect((await alice.run(NodeDocument, { id: encodeGlobalID('Owner', bobOwner.id) })).node).toBeNull();
    // A malformed ID names nothing either: null, as the field's description says, not an error
    // (test/graphql/ids-and-cursors.test.ts has the hostile ones).
    const malformed = await alice.raw(NodeDocument, { id: 'garbage' });
    expect(malformed.status).toBe(200);
    expect(malformed.body).toEqual({ data: { node: null } });
    expect((await bob.run(NodeDocument, { id: encodeGlobalID('Owner', bobOwner.id) })).node).toMatchObject({
      __typename: 'Owner',
      name: 'Bob',
    });
  });
});

describe('updateApp', () => {
  it('changes only the given fields, including the public flag', async () => {
    const app = await createApp(alice, 'Before');
    const { updateApp } = await alice.run(UpdateAppDocument, { input: { id: app.id, isPublic: true } });
    expect(updateApp).toMatchObject({ __typename: 'AppPayload', app: { name: 'Before', isPublic: true } });
    const renamed = await alice.run(UpdateAppDocument, {
      input: { id: app.id, name: 'After', exerciseUrl: 'https://new.example.org/' },
    });
    expect(renamed.updateApp).toMatchObject({
      app: { name: 'After', exerciseUrl: 'https://new.example.org/', isPublic: true },
    });
  });

  it('with nothing to change (fields omitted or null), answers the app as it is', async () => {
    const app = await createApp(alice, 'Unchanged');
    for (const input of [{ id: app.id }, { id: app.id, name: null, exerciseUrl: null, isPublic: null }]) {
      const { updateApp } = await alice.run(UpdateAppDocument, { input });
      // The same values, updatedAt included: nothing was written.
      expect(updateApp).toEqual({ __typename: 'AppPayload', app });
    }
  });

  it('the same values again (as the dashboard’s edit dialog sends every field) change nothing, updatedAt included', async () => {
    const app = await createApp(alice, 'Same');
    await new Promise((resolve) => setTimeout(resolve, 5)); // a write now would move updatedAt
    const same = { id: app.id, name: app.name, exerciseUrl: app.exerciseUrl, isPublic: app.isPublic };
    const { updateApp } = await alice.run(UpdateAppDocument, { input: same });
    expect(updateApp).toEqual({ __typename: 'AppPayload', app });
    // One real change among the same values is written, and moves updatedAt.
    const renamed = await alice.run(UpdateAppDocument, { input: { ...same, name: 'Renamed' } });
    if (renamed.updateApp.__typename !== 'AppPayload') throw new Error(renamed.updateApp.__typename);
    expect(renamed.updateApp.app).toMatchObject({ name: 'Renamed', exerciseUrl: app.exerciseUrl });
    expect(new Date(renamed.updateApp.app.updatedAt).getTime()).toBeGreaterThan(new Date(app.updatedAt).getTime());
  });

  it('with nothing to change, another owner’s app and a missing one are still not found', async () => {
    const bobs = await createApp(bob, 'Not yours');
    const missing = encodeGlobalID('App', '00000000-0000-7000-8000-000000000000');
    for (const id of [bobs.id, missing, 'garbage']) {
      const { updateApp } = await alice.run(UpdateAppDocument, { input: { id } });
      expect(updateApp).toMatchObject({ __typename: 'NotFoundError', code: 'ERR_NOT_FOUND', id });
    }
  });

  it('refuses invalid values and leaves the app unchanged', async () => {
    const app = await createApp(alice, 'Stable');
    const { updateApp } = await alice.run(UpdateAppDocument, {
      input: { id: app.id, name: '', exerciseUrl: 'ftp://x.example/' },
    });
    expect(updateApp.__typename).toBe('ValidationError');
    if (updateApp.__typename !== 'ValidationError') return;
    expect(updateApp.fields.map((f) => f.field)).toEqual(['name', 'exerciseUrl']);
    expect((await alice.run(AppDocument, { id: app.id })).app).toMatchObject({
      name: 'Stable',
      exerciseUrl: 'https://exercises.example.org/fractions',
    });
  });

  it('cannot touch another owner’s app: NotFoundError, nothing changes', async () => {
    const app = await createApp(bob, 'Bob’s');
    const { updateApp } = await alice.run(UpdateAppDocument, { input: { id: app.id, isPublic: true, name: 'pwned' } });
    expect(updateApp).toMatchObject({ __typename: 'NotFoundError', code: 'ERR_NOT_FOUND', id: app.id });
    expect((await bob.run(AppDocument, { id: app.id })).app).toMatchObject({ name: 'Bob’s', isPublic: false });
  });

  it('answers NotFoundError for a malformed ID', async () => {
    const { updateApp } = await alice.run(UpdateAppDocument, { input: { id: '%%%', name: 'x' } });
    expect(updateApp).toMatchObject({ __typename: 'NotFoundError', id: '%%%' });
  });
});

describe('deleteApp', () => {
  it('deletes the viewer’s app but not another owner’s', async () => {
    const bobs = await createApp(bob, 'Keep');
    const denied = await alice.run(DeleteAppDocument, { input: { id: bobs.id } });
    expect(denied.deleteApp).toMatchObject({ __typename: 'NotFoundError' });
    expect((await bob.run(AppDocument, { id: bobs.id })).app).not.toBeNull();

    const mine = await createApp(alice, 'Gone');
    const { deleteApp } = await alice.run(DeleteAppDocument, { input: { id: mine.id } });
    expect(deleteApp).toEqual({ __typename: 'DeleteAppPayload', deletedAppId: mine.id });
    expect((await alice.run(AppDocument, { id: mine.id })).app).toBeNull();
    const again = await alice.run(DeleteAppDocument, { input: { id: mine.id } });
    expect(again.deleteApp.__typename).toBe('NotFoundError');
  });
});
