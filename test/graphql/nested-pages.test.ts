/**
 * A nested page (an app's launches, grades, refused launches) is fetched with its LIMIT in SQL,
 * one statement per app, instead of reading every row of the app and cutting the page in
 * memory; and a cursor that is not one of that app's rows is an empty page.
 */
import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../server/app.ts';
import type { Database } from '../../server/db/client.ts';
import { uuidv7 } from '../../server/ids.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { seedRegistration } from '../helpers/seed.ts';
import { createOwner, createTestApp, TEST_PUBLIC_URL } from '../helpers/server.ts';

let db: Database;
let app: App;
let token: string;
let appId: string;
let otherAppId: string;
let recorded: string[] | undefined;
const LAUNCHES = 30;

async function post(query: string, variables: Record<string, unknown> = {}) {
  const response = await app.fetch(
    new Request(`${TEST_PUBLIC_URL}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    }),
  );
  return (await response.json()) as { data?: Record<string, any>; errors?: unknown[] };
}

async function launchesOf(owner: string, count: number): Promise<string> {
  const created = await db.prisma.app.create({ data: { ownerId: owner, name: 'A', exerciseUrl: 'https://ex.example.org/', isPublic: true } });
  const registration = await seedRegistration(db, created.id);
  for (let i = 0; i < count; i++) {
    const launch = await db.prisma.launch.create({
      data: {
        id: uuidv7(),
        appId: created.id,
        registrationId: registration.id,
        deploymentId: '1',
        subject: `learner-${i}`,
        roles: [],
        resourceLinkId: 'block-1',
        agsScopes: [],
        credentialHash: uuidv7(),
        credentialExpiresAt: new Date(Date.now() + 3_600_000),
      },
    });
    await db.prisma.grade.create({
      data: { id: uuidv7(), launchId: launch.id, appId: created.id, registrationId: registration.id, scoreGiven: 100, scoreMaximum: 100, state: 'DELIVERED' },
    });
    await db.prisma.launchRefusal.create({
      data: { id: uuidv7(), appId: created.id, route: 'LAUNCH', code: 'ERR_LTI_BAD_SIGNATURE', reason: 'The launch token signature is invalid.' },
    });
  }
  return created.id;
}

beforeAll(async () => {
  db = await createTestDatabase({ onQuery: (sql) => recorded?.push(sql) });
  app = createTestApp(db);
  const owner = await createOwner(db, 'Alice');
  token = owner.token;
  appId = await launchesOf(owner.ownerId, LAUNCHES);
  otherAppId = await launchesOf(owner.ownerId, 3);
});
afterAll(() => db?.close());

describe('nested pages', () => {
  it('an app’s launches page is read with LIMIT in SQL, newest first', async () => {
    recorded = [];
    const answer = await post('query($id: ID!) { app(id: $id) { launches(first: 2) { edges { node { subject } } pageInfo { hasNextPage } } } }', {
      id: encodeGlobalID('App', appId),
    });
    const statements = recorded;
    recorded = undefined;
    expect(answer.errors).toBeUndefined();
    expect(answer.data!.app.launches.edges.map((e: { node: { subject: string } }) => e.node.subject)).toEqual([`learner-${LAUNCHES - 1}`, `learner-${LAUNCHES - 2}`]);
    expect(answer.data!.app.launches.pageInfo.hasNextPage).toBe(true);
    const launchReads = statements.filter((sql) => /FROM "public"\."Launch"|FROM "Launch"/.test(sql));
    expect(launchReads, statements.join('\n---\n')).toHaveLength(1);
    expect(launchReads[0]).toMatch(/\bLIMIT\b/i);
  });

  it.each(['launches', 'grades', 'launchRefusals'])('%s: pages with its own cursors; another app’s row as a cursor is an empty page', async (field) => {
    const page = (id: string, after?: string) =>
      post(`query($id: ID!, $c: String) { app(id: $id) { ${field}(first: 2, after: $c) { edges { cursor } } } }`, { id: encodeGlobalID('App', id), c: after ?? null });
    const first = await page(appId);
    expect(first.errors).toBeUndefined();
    const [, second] = first.data!.app[field].edges as Array<{ cursor: string }>;
    const next = await page(appId, second!.cursor);
    expect(next.data!.app[field].edges).toHaveLength(2);
    expect(next.data!.app[field].edges[0].cursor).not.toBe(second!.cursor);
    // A cursor from the other app's list, used on this app's list.
    const theirs = (await page(otherAppId)).data!.app[field].edges[0].cursor as string;
    expect((await page(appId, theirs)).data).toEqual({ app: { [field]: { edges: [] } } });
  });
});
