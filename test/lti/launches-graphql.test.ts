/**
 * Launches in the GraphQL API: after a real launch, the app's owner sees it (App.launches
 * and node(id)); nobody else does.
 */
import { readFileSync } from 'node:fs';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../server/db/client.ts';
import { AppLaunchesDocument, LaunchNodeDocument } from '../generated/graphql.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { launch, publicAppFor, type PublicApp } from '../helpers/lti-flow.ts';
import { AGS_SCOPE, DEFAULT_CONTEXT_ID, DEFAULT_RESOURCE_LINK_ID, startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { createOwner, graphqlClient, type GraphQLClient } from '../helpers/server.ts';
import { startToolServer, type ToolServer } from '../helpers/tool-server.ts';

let db: Database;
let tool: ToolServer;
let openedx: TestPlatform;
let app: PublicApp;
let owner: GraphQLClient;
let stranger: GraphQLClient;
let appGid: string;
let launchGids: string[];

beforeAll(async () => {
  db = await createTestDatabase();
  tool = await startToolServer(db);
  openedx = await startTestPlatform();
  const alice = await createOwner(db, 'Alice');
  owner = graphqlClient(tool.app, alice.token);
  stranger = graphqlClient(tool.app, (await createOwner(db, 'Bob')).token);
  app = await publicAppFor(db, openedx, tool.baseUrl, { ownerId: alice.ownerId });
  appGid = encodeGlobalID('App', app.appId);
  for (const sub of ['learner-1', 'learner-2']) {
    const result = await launch(openedx, app, {
      sub,
      overrides: sub === 'learner-2' ? { claims: { name: 'Grace Hopper', email: 'grace@example.org' } } : {},
    });
    expect(result.response.status).toBe(303);
  }
  const rows = await db.prisma.launch.findMany({ where: { appId: app.appId }, orderBy: { id: 'desc' } });
  launchGids = rows.map((r) => encodeGlobalID('Launch', r.id));
});
afterAll(async () => {
  await openedx?.close();
  await tool?.close();
  await db?.close();
});

describe('App.launches', () => {
  it("lists the app's launches to its owner, newest first, with what the platform sent", async () => {
    const { app: found } = await owner.run(AppLaunchesDocument, { id: appGid, first: 10 });
    expect(found).not.toBeNull();
    const nodes = found!.launches.edges.map((e) => e.node);
    expect(nodes.map((n) => n.id)).toEqual(launchGids);
    expect(nodes[0]).toMatchObject({
      subject: 'learner-2',
      name: 'Grace Hopper',
      email: 'grace@example.org',
      deploymentId: '1',
      contextId: DEFAULT_CONTEXT_ID,
      contextTitle: 'Test Course',
      resourceLinkId: DEFAULT_RESOURCE_LINK_ID,
      resourceLinkTitle: 'Exercise 1',
      agsLineitem: openedx.lineitemUrl(),
      agsLineitems: openedx.lineitemsUrl,
      app: { id: appGid },
      registration: { id: encodeGlobalID('LtiRegistration', app.registrationId), clientId: openedx.clientId },
    });
    expect(nodes[0]!.agsScopes).toContain(AGS_SCOPE.score);
    expect(nodes[0]!.roles.length).toBeGreaterThan(0);
    expect(nodes[1]).toMatchObject({ subject: 'learner-1', name: null, email: null, givenName: null, familyName: null });
    expect(Date.parse(nodes[1]!.createdAt)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('exposes no credential, not even its hash', () => {
    const launchType = readFileSync('schema.graphql', 'utf8').match(/type Launch implements Node \{[^}]*\}/)?.[0];
    expect(launchType).toContain('subject: String!');
    expect(launchType).not.toMatch(/credential/i);
  });

  it('pages', async () => {
    const first = await owner.run(AppLaunchesDocument, { id: appGid, first: 1 });
    expect(first.app!.launches.edges.map((e) => e.node.id)).toEqual([launchGids[0]]);
    expect(first.app!.launches.pageInfo.hasNextPage).toBe(true);
    const second = await owner.run(AppLaunchesDocument, { id: appGid, first: 1, after: first.app!.launches.pageInfo.endCursor });
    expect(second.app!.launches.edges.map((e) => e.node.id)).toEqual([launchGids[1]]);
  });

  it('is invisible to another owner: the app is null', async () => {
    const { app: found } = await stranger.run(AppLaunchesDocument, { id: appGid, first: 10 });
    expect(found).toBeNull();
  });
});

describe('node(id) for a Launch', () => {
  it('resolves for the owner', async () => {
    const { node } = await owner.run(LaunchNodeDocument, { id: launchGids[1]! });
    expect(node).toMatchObject({ __typename: 'Launch', id: launchGids[1], subject: 'learner-1', app: { id: appGid } });
  });

  it('is null for another owner and for an unknown id', async () => {
    expect((await stranger.run(LaunchNodeDocument, { id: launchGids[0]! })).node).toBeNull();
    expect((await owner.run(LaunchNodeDocument, { id: encodeGlobalID('Launch', '00000000-0000-7000-8000-000000000000') })).node).toBeNull();
  });
});
