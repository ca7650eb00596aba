import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../server/db/client.ts';
import {
  AddLtiRegistrationDocument,
  AppRegistrationsDocument,
  CreateAppDocument,
  RemoveLtiRegistrationDocument,
  UpdateLtiRegistrationDocument,
  type AddLtiRegistrationInput,
} from '../generated/graphql.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { createOwner, createTestApp, graphqlClient, LOOPBACK_NETWORKS, testConfig, type GraphQLClient } from '../helpers/server.ts';

let db: Database;
let alice: GraphQLClient;
let bob: GraphQLClient;
let aliceAppId: string;
let bobAppId: string;

async function newApp(client: GraphQLClient, name: string) {
  const { createApp } = await client.run(CreateAppDocument, {
    input: { name, exerciseUrl: 'https://exercises.example.org/x', isPublic: true },
  });
  if (createApp.__typename !== 'AppPayload') throw new Error('createApp failed');
  return createApp.app.id;
}

let clientCounter = 0;
/** The six values Open edX Studio shows, for a fresh component each call. */
function studioValues(overrides: Partial<AddLtiRegistrationInput> = {}): AddLtiRegistrationInput {
  const uuid = `0b2c3d4e-5f60-4718-8a9b-${String(++clientCounter).padStart(12, '0')}`;
  return {
    appId: aliceAppId,
    issuer: 'https://lms.example.org',
    clientId: uuid,
    authLoginUrl: 'https://lms.example.org/api/lti_consumer/v1/launch/',
    authTokenUrl: `https://lms.example.org/api/lti_consumer/v1/token/${uuid}`,
    keysetUrl: `https://lms.example.org/api/lti_consumer/v1/public_keysets/${uuid}`,
    deploymentIds: ['1'],
    ...overrides,
  };
}

beforeAll(async () => {
  db = await createTestDatabase();
  const app = createTestApp(db);
  alice = graphqlClient(app, (await createOwner(db, 'Alice')).token);
  bob = graphqlClient(app, (await createOwner(db, 'Bob')).token);
  aliceAppId = await newApp(alice, 'Alice app');
  bobAppId = await newApp(bob, 'Bob app');
});
afterAll(() => db.close());

async function add(client: GraphQLClient, input: AddLtiRegistrationInput) {
  return (await client.run(AddLtiRegistrationDocument, { input })).addLtiRegistration;
}

describe('addLtiRegistration', () => {
  it('stores Studio’s six values, normalising the issuer’s trailing slash', async () => {
    const input = studioValues({ issuer: 'https://lms.example.org/', label: ' Course A ' });
    const result = await add(alice, input);
    expect(result.__typename).toBe('LtiRegistrationPayload');
    if (result.__typename !== 'LtiRegistrationPayload') return;
    expect(result.registration).toMatchObject({
      issuer: 'https://lms.example.org',
      clientId: input.clientId,
      authLoginUrl: input.authLoginUrl,
      authTokenUrl: input.authTokenUrl,
      keysetUrl: input.keysetUrl,
      deploymentIds: ['1'],
      label: 'Course A',
    });
    const row = await db.prisma.ltiRegistration.findFirstOrThrow({ where: { clientId: input.clientId } });
    expect(row.issuer).toBe('https://lms.example.org');
  });

  it('lists several registrations per app, oldest first, with pagination', async () => {
    const appId = await newApp(alice, 'Many');
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await add(alice, studioValues({ appId, label: `R${i}` }));
      if (r.__typename !== 'LtiRegistrationPayload') throw new Error(r.__typename);
      ids.push(r.registration.id);
    }
    const first = await alice.run(AppRegistrationsDocument, { id: appId, first: 2 });
    const page1 = first.app!.registrations;
    expect(page1.edges.map((e) => e.node.id)).toEqual(ids.slice(0, 2));
    expect(page1.edges[0]!.node.app.id).toBe(appId);
    expect(page1.pageInfo.hasNextPage).toBe(true);
    const second = await alice.run(AppRegistrationsDocument, { id: appId, first: 2, after: page1.pageInfo.endCursor });
    expect(second.app!.registrations.edges.map((e) => e.node.id)).toEqual(ids.slice(2));
  });

  it('refuses a duplicate (issuer, client ID) server-wide, even on another owner’s app', async () => {
    const input = studioValues();
    expect((await add(alice, input)).__typename).toBe('LtiRegistrationPayload');
    const before = await db.prisma.ltiRegistration.count();
    // Same pair, trailing slash added: normalisation must make it collide.
    const dup = await add(bob, { ...input, appId: bobAppId, issuer: `${input.issuer}/` });
    expect(dup).toMatchObject({
      __typename: 'ValidationError',
      fields: [{ field: 'clientId', message: expect.stringContaining('already registered') }],
    });
    expect(await db.prisma.ltiRegistration.count()).toBe(before);
  });

  it('allows the same client ID under a different issuer', async () => {
    const input = studioValues();
    expect((await add(alice, input)).__typename).toBe('LtiRegistrationPayload');
    expect((await add(alice, { ...input, issuer: 'https://other-lms.example.org' })).__typename).toBe(
      'LtiRegistrationPayload',
    );
  });

  it.each([
    ['plain-http issuer', { issuer: 'http://lms.example.org' }, ['issuer']],
    ['issuer with query', { issuer: 'https://lms.example.org/?a=1' }, ['issuer']],
    ['unparseable login URL', { authLoginUrl: 'lms/launch' }, ['authLoginUrl']],
    ['plain-http token URL', { authTokenUrl: 'http://lms.example.org/token' }, ['authTokenUrl']],
    ['plain-http keyset URL', { keysetUrl: 'http://lms.example.org/keys' }, ['keysetUrl']],
    ['keyset URL on a private address', { keysetUrl: 'https://10.0.0.5/keys' }, ['keysetUrl']],
    ['empty client ID', { clientId: '  ' }, ['clientId']],
    ['oversized client ID', { clientId: 'c'.repeat(256) }, ['clientId']],
    ['no deployment IDs', { deploymentIds: [] }, ['deploymentIds']],
    ['empty deployment ID', { deploymentIds: ['1', ' '] }, ['deploymentIds']],
    ['oversized label', { label: 'l'.repeat(101) }, ['label']],
    ['several bad fields', { issuer: '', keysetUrl: 'x', deploymentIds: [] }, ['issuer', 'keysetUrl', 'deploymentIds']],
  ])('refuses %s and stores nothing', async (label, overrides, fields) => {
    const before = await db.prisma.ltiRegistration.count();
    const result = await add(alice, studioValues(overrides));
    expect(result.__typename).toBe('ValidationError');
    if (result.__typename !== 'ValidationError') return;
    expect(result.fields.map((f) => f.field)).toEqual(fields);
    // A plain-http URL is refused for being http, not for anything else about it.
    if (label.startsWith('plain-http')) expect(result.fields[0]!.message).toMatch(/^Must use https/);
    expect(await db.prisma.ltiRegistration.count()).toBe(before);
  });

  it('accepts loopback http URLs (a local LMS) when loopback is allowed, and deduplicates deployment IDs', async () => {
    const local = graphqlClient(
      createTestApp(db, testConfig({ outboundAllowedNetworks: LOOPBACK_NETWORKS })),
      (await createOwner(db, 'Local LMS')).token,
    );
    const appId = await newApp(local, 'Local app');
    const loopback = {
      issuer: 'http://localhost:18000',
      authLoginUrl: 'http://localhost:18000/api/lti_consumer/v1/launch/',
      authTokenUrl: 'http://127.0.0.1:18000/token',
      keysetUrl: 'http://[::1]:18000/keys',
    };
    const result = await add(local, studioValues({ appId, ...loopback, deploymentIds: ['1', '1', ' 2 '] }));
    expect(result).toMatchObject({ __typename: 'LtiRegistrationPayload', registration: { deploymentIds: ['1', '2'] } });

    // The same values on a server with the default policy (public addresses only).
    const before = await db.prisma.ltiRegistration.count();
    const refused = await add(alice, studioValues(loopback));
    expect(refused).toMatchObject({
      __typename: 'ValidationError',
      fields: [
        { field: 'authLoginUrl', message: expect.stringContaining('loopback address') },
        { field: 'authTokenUrl', message: expect.stringContaining('loopback address') },
        { field: 'keysetUrl', message: expect.stringContaining('loopback address') },
      ],
    });
    expect(await db.prisma.ltiRegistration.count()).toBe(before);
  });

  it.each([
    ['private IPv4', 'https://10.0.0.5/keys', 'private address (10.0.0.0/8)'],
    ['cloud metadata', 'https://169.254.169.254/latest/meta-data/', 'link-local address (169.254.0.0/16)'],
    ['loopback in hex', 'https://0x7f.1/keys', 'loopback address (127.0.0.0/8)'],
    ['loopback as a decimal integer', 'https://2130706433/keys', 'loopback address (127.0.0.0/8)'],
    ['localhost over https', 'https://localhost/keys', 'loopback address (127.0.0.0/8)'],
    ['a *.localhost name', 'https://lms.localhost/keys', 'loopback address (127.0.0.0/8)'],
    ['IPv4-mapped IPv6 loopback', 'https://[::ffff:127.0.0.1]/keys', 'loopback address (127.0.0.0/8 via ::ffff:0:0/96)'],
    ['unique-local IPv6', 'https://[fd12:3456::1]/keys', 'private address (fc00::/7)'],
    ['link-local IPv6', 'https://[fe80::1]/keys', 'link-local address (fe80::/10)'],
    ['CGNAT', 'https://100.64.1.1/keys', 'shared address (100.64.0.0/10)'],
    ['the unspecified address', 'https://0.0.0.0/keys', 'unspecified address (0.0.0.0/8)'],
  ])('refuses a keyset URL at %s with a typed error, storing nothing', async (_label, keysetUrl, says) => {
    const before = await db.prisma.ltiRegistration.count();
    const result = await add(alice, studioValues({ keysetUrl }));
    expect(result).toMatchObject({
      __typename: 'ValidationError',
      fields: [{ field: 'keysetUrl', message: expect.stringContaining(says) }],
    });
    expect(await db.prisma.ltiRegistration.count()).toBe(before);
  });

  it('accepts an https URL inside an allowed network, but never plain http to it', async () => {
    const school = graphqlClient(
      createTestApp(db, testConfig({ outboundAllowedNetworks: ['10.20.0.0/16'] })),
      (await createOwner(db, 'On-premises')).token,
    );
    const appId = await newApp(school, 'On-premises app');
    const ok = await add(school, studioValues({ appId, keysetUrl: 'https://10.20.1.5/keys', authTokenUrl: 'https://10.20.1.5/token' }));
    expect(ok.__typename).toBe('LtiRegistrationPayload');
    const outside = await add(school, studioValues({ appId, keysetUrl: 'https://10.21.0.1/keys' }));
    expect(outside).toMatchObject({ __typename: 'ValidationError', fields: [{ field: 'keysetUrl', message: expect.stringContaining('10.0.0.0/8') }] });
    const plain = await add(school, studioValues({ appId, keysetUrl: 'http://10.20.1.5/keys' }));
    expect(plain).toMatchObject({ __typename: 'ValidationError', fields: [{ field: 'keysetUrl', message: expect.stringContaining('https') }] });
  });

  it('cannot add to another owner’s app', async () => {
    const before = await db.prisma.ltiRegistration.count();
    const result = await add(alice, studioValues({ appId: bobAppId }));
    expect(result).toMatchObject({ __typename: 'NotFoundError', id: bobAppId });
    expect(await db.prisma.ltiRegistration.count()).toBe(before);
  });
});

describe('updateLtiRegistration and removeLtiRegistration', () => {
  async function registered(client: GraphQLClient, appId: string) {
    const r = await add(client, studioValues({ appId }));
    if (r.__typename !== 'LtiRegistrationPayload') throw new Error(r.__typename);
    return r.registration;
  }

  it('updates given fields only; an empty label clears it', async () => {
    const reg = await registered(alice, aliceAppId);
    const { updateLtiRegistration } = await alice.run(UpdateLtiRegistrationDocument, {
      input: { id: reg.id, deploymentIds: ['1', '7'], label: 'Spring' },
    });
    expect(updateLtiRegistration).toMatchObject({
      registration: { deploymentIds: ['1', '7'], label: 'Spring', clientId: reg.clientId, issuer: reg.issuer },
    });
    const cleared = await alice.run(UpdateLtiRegistrationDocument, { input: { id: reg.id, label: '' } });
    expect(cleared.updateLtiRegistration).toMatchObject({ registration: { label: null } });
  });

  it('with nothing to change (fields omitted or null), answers the registration as it is; a null label keeps it', async () => {
    const added = await add(alice, studioValues({ label: 'Keep me' }));
    if (added.__typename !== 'LtiRegistrationPayload') throw new Error(added.__typename);
    const reg = added.registration;
    const nulls = { issuer: null, clientId: null, authLoginUrl: null, authTokenUrl: null, keysetUrl: null, deploymentIds: null };
    for (const input of [{ id: reg.id }, { id: reg.id, label: null }, { id: reg.id, label: null, ...nulls }]) {
      const { updateLtiRegistration } = await alice.run(UpdateLtiRegistrationDocument, { input });
      // The same values, label and updatedAt included: nothing was written.
      expect(updateLtiRegistration).toEqual({ __typename: 'LtiRegistrationPayload', registration: reg });
    }
  });

  it('the same values again (as the dashboard sends them) change nothing, updatedAt included; one change moves it', async () => {
    const added = await add(alice, studioValues({ label: 'Same' }));
    if (added.__typename !== 'LtiRegistrationPayload') throw new Error(added.__typename);
    const reg = added.registration;
    await new Promise((resolve) => setTimeout(resolve, 5)); // a write now would move updatedAt
    const same = {
      id: reg.id,
      label: reg.label,
      issuer: reg.issuer,
      clientId: reg.clientId,
      authLoginUrl: reg.authLoginUrl,
      authTokenUrl: reg.authTokenUrl,
      keysetUrl: reg.keysetUrl,
      deploymentIds: reg.deploymentIds,
    };
    const { updateLtiRegistration } = await alice.run(UpdateLtiRegistrationDocument, { input: same });
    expect(updateLtiRegistration).toEqual({ __typename: 'LtiRegistrationPayload', registration: reg });
    const changed = await alice.run(UpdateLtiRegistrationDocument, { input: { ...same, deploymentIds: [...reg.deploymentIds, 'another'] } });
    if (changed.updateLtiRegistration.__typename !== 'LtiRegistrationPayload') throw new Error(changed.updateLtiRegistration.__typename);
    expect(changed.updateLtiRegistration.registration.deploymentIds).toEqual([...reg.deploymentIds, 'another']);
    expect(new Date(changed.updateLtiRegistration.registration.updatedAt).getTime()).toBeGreaterThan(new Date(reg.updatedAt).getTime());
  });

  it('a null label next to a change keeps the label; only spaces clear it like an empty one', async () => {
    const added = await add(alice, studioValues({ label: 'Spring' }));
    if (added.__typename !== 'LtiRegistrationPayload') throw new Error(added.__typename);
    const reg = added.registration;
    const kept = await alice.run(UpdateLtiRegistrationDocument, { input: { id: reg.id, label: null, deploymentIds: ['2'] } });
    expect(kept.updateLtiRegistration).toMatchObject({ registration: { label: 'Spring', deploymentIds: ['2'] } });
    const cleared = await alice.run(UpdateLtiRegistrationDocument, { input: { id: reg.id, label: '   ' } });
    expect(cleared.updateLtiRegistration).toMatchObject({ registration: { label: null, deploymentIds: ['2'] } });
  });

  it('with nothing to change, another owner’s registration and a missing one are still not found', async () => {
    const bobs = await registered(bob, bobAppId);
    for (const id of [bobs.id, encodeGlobalID('LtiRegistration', '00000000-0000-7000-8000-000000000000'), 'garbage']) {
      const { updateLtiRegistration } = await alice.run(UpdateLtiRegistrationDocument, { input: { id } });
      expect(updateLtiRegistration).toMatchObject({ __typename: 'NotFoundError', code: 'ERR_NOT_FOUND', id });
    }
  });

  it('refuses invalid values and a duplicate pair, changing nothing', async () => {
    const a = await registered(alice, aliceAppId);
    const b = await registered(alice, aliceAppId);
    const bad = await alice.run(UpdateLtiRegistrationDocument, {
      input: { id: a.id, keysetUrl: 'http://evil.example/keys' },
    });
    expect(bad.updateLtiRegistration).toMatchObject({ __typename: 'ValidationError', fields: [{ field: 'keysetUrl' }] });
    const metadata = await alice.run(UpdateLtiRegistrationDocument, {
      input: { id: a.id, authTokenUrl: 'https://169.254.169.254/latest/api/token' },
    });
    expect(metadata.updateLtiRegistration).toMatchObject({
      __typename: 'ValidationError',
      fields: [{ field: 'authTokenUrl', message: expect.stringContaining('link-local') }],
    });
    const dup = await alice.run(UpdateLtiRegistrationDocument, { input: { id: b.id, clientId: a.clientId } });
    expect(dup.updateLtiRegistration).toMatchObject({ __typename: 'ValidationError', fields: [{ field: 'clientId' }] });
    const rows = await db.prisma.ltiRegistration.findMany({ where: { clientId: { in: [a.clientId, b.clientId] } } });
    expect(rows.map((r) => [r.clientId, r.keysetUrl, r.authTokenUrl]).sort()).toEqual(
      [
        [a.clientId, a.keysetUrl, a.authTokenUrl],
        [b.clientId, b.keysetUrl, b.authTokenUrl],
      ].sort(),
    );
  });

  it('cannot update or remove another owner’s registration', async () => {
    const bobs = await registered(bob, bobAppId);
    const upd = await alice.run(UpdateLtiRegistrationDocument, { input: { id: bobs.id, label: 'x' } });
    expect(upd.updateLtiRegistration).toMatchObject({ __typename: 'NotFoundError' });
    const rem = await alice.run(RemoveLtiRegistrationDocument, { input: { id: bobs.id } });
    expect(rem.removeLtiRegistration).toMatchObject({ __typename: 'NotFoundError' });
    const row = await db.prisma.ltiRegistration.findFirstOrThrow({ where: { clientId: bobs.clientId } });
    expect(row.label).toBeNull();
  });

  it('removes a registration', async () => {
    const reg = await registered(alice, aliceAppId);
    const { removeLtiRegistration } = await alice.run(RemoveLtiRegistrationDocument, { input: { id: reg.id } });
    expect(removeLtiRegistration).toEqual({ __typename: 'RemoveLtiRegistrationPayload', removedRegistrationId: reg.id });
    expect(await db.prisma.ltiRegistration.count({ where: { clientId: reg.clientId } })).toBe(0);
  });

  it('registrations go away with their app', async () => {
    const appId = await newApp(alice, 'Doomed');
    const reg = await registered(alice, appId);
    const raw = await db.prisma.ltiRegistration.findFirstOrThrow({ where: { clientId: reg.clientId } });
    await db.prisma.app.delete({ where: { id: raw.appId } });
    expect(await db.prisma.ltiRegistration.count({ where: { id: raw.id } })).toBe(0);
  });
});
