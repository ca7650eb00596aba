/**
 * The tool's own keys: the public JWKS endpoint, rotation on a frozen clock (the next key is
 * published before it signs anything, the old one stays published for a grace period),
 * ensureKey under concurrency, and the admin-only GraphQL view and rotation.
 */
import { calculateJwkThumbprint, compactVerify, createLocalJWKSet, CompactSign, type JWK } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { JWKS_MAX_AGE_SECONDS } from '../../server/config.ts';
import { loadConfig } from '../../server/config.ts';
import type { Database } from '../../server/db/client.ts';
import { createSilentLogger } from '../../server/logger.ts';
import { ToolKeys } from '../../server/lti/tool-keys.ts';
import { RotateToolKeyDocument, ToolKeysDocument } from '../generated/graphql.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { createOwner, graphqlClient, type GraphQLClient } from '../helpers/server.ts';
import { startToolServer, type ToolServer } from '../helpers/tool-server.ts';

const LEAD_S = 600;
const GRACE_S = 3600;
const START = Date.parse('2031-03-01T10:00:00.000Z');

let db: Database;
let tool: ToolServer;
/** The tool's frozen clock. */
let nowMs = START;
let admin: GraphQLClient;
let teacher: GraphQLClient;
/** The key the server created at start (at START): restored before each test, no key generation. */
let initialKey: ToolKeyRow;
type ToolKeyRow = Awaited<ReturnType<Database['prisma']['toolKey']['findFirstOrThrow']>>;

beforeAll(async () => {
  db = await createTestDatabase();
  tool = await startToolServer(db, {
    now: () => new Date(nowMs),
    config: { toolKeyRotationLeadSeconds: LEAD_S, toolKeyRetireGraceSeconds: GRACE_S },
  });
  const adminOwner = await createOwner(db, 'Admin');
  await db.prisma.owner.update({ where: { id: adminOwner.ownerId }, data: { isAdmin: true } });
  admin = graphqlClient(tool.app, adminOwner.token);
  teacher = graphqlClient(tool.app, (await createOwner(db, 'Teacher')).token);
  initialKey = await db.prisma.toolKey.findFirstOrThrow();
});
afterAll(async () => {
  await tool?.close();
  await db?.close();
});

/** Back to one active key at START. */
beforeEach(async () => {
  nowMs = START;
  await db.prisma.toolKey.deleteMany();
  await db.prisma.toolKey.create({
    data: { ...initialKey, publicJwk: initialKey.publicJwk as object, privateJwk: initialKey.privateJwk as object },
  });
});

async function getJwks(): Promise<{ response: Response; keys: Array<Record<string, unknown>> }> {
  const response = await fetch(`${tool.baseUrl}/lti/jwks`);
  expect(response.status).toBe(200);
  const body = (await response.clone().json()) as { keys: Array<Record<string, unknown>> };
  return { response, keys: body.keys };
}

const publishedKids = async () => (await getJwks()).keys.map((k) => k.kid);
const signingKid = async () => (await tool.app.toolKeys.signingKey()).kid;

describe('GET /lti/jwks', () => {
  it('publishes public RSA signing keys only, cacheable and open to any origin', async () => {
    const { response, keys } = await getJwks();
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(response.headers.get('cache-control')).toBe(`public, max-age=${JWKS_MAX_AGE_SECONDS}`);
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    expect(keys).toHaveLength(1);
    const key = keys[0]!;
    expect(key).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig', e: 'AQAB' });
    expect(key.kid).toEqual(expect.any(String));
    expect((key.n as string).length).toBeGreaterThanOrEqual(342); // ≥ 2048 bits
    for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth']) expect(key).not.toHaveProperty(member);
    // The kid is the key's RFC 7638 thumbprint.
    expect(await calculateJwkThumbprint(key as JWK)).toBe(key.kid);
  });

  it('verifies what the tool signs', async () => {
    const { keys } = await getJwks();
    const { kid, alg, key } = await tool.app.toolKeys.signingKey();
    const jws = await new CompactSign(new TextEncoder().encode('{"iss":"tool"}')).setProtectedHeader({ alg, kid }).sign(key);
    const { protectedHeader } = await compactVerify(jws, createLocalJWKSet({ keys: keys as JWK[] }));
    expect(protectedHeader.kid).toBe(kid);
  });

  it('answers HEAD, and 405 to other methods', async () => {
    expect((await fetch(`${tool.baseUrl}/lti/jwks`, { method: 'HEAD' })).status).toBe(200);
    const post = await fetch(`${tool.baseUrl}/lti/jwks`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });
});

describe('ToolKeys rotation (frozen clock)', () => {
  it('publishes the next key at once, signs with it only from activatesAt, retires the old one after the grace', async () => {
    const [oldKid] = await publishedKids();
    expect(await signingKid()).toBe(oldKid);

    const { next, retiring } = await tool.app.toolKeys.rotate();
    expect(next.activatesAt.getTime()).toBe(START + LEAD_S * 1000);
    expect(next.retiresAt).toBeNull();
    expect(retiring).toHaveLength(1);
    expect(retiring[0]).toMatchObject({ kid: oldKid });
    expect(retiring[0]!.retiresAt!.getTime()).toBe(START + (LEAD_S + GRACE_S) * 1000);

    // Published immediately, before it signs anything; the old key still signs.
    expect(await publishedKids()).toEqual([oldKid, next.kid]);
    expect(await signingKid()).toBe(oldKid);
    nowMs = next.activatesAt.getTime() - 1;
    expect(await signingKid()).toBe(oldKid);

    // From activatesAt the new key signs; the old one stays published.
    nowMs = next.activatesAt.getTime();
    expect(await signingKid()).toBe(next.kid);
    expect(await publishedKids()).toEqual([oldKid, next.kid]);
    nowMs = retiring[0]!.retiresAt!.getTime() - 1;
    expect(await publishedKids()).toEqual([oldKid, next.kid]);

    // At retiresAt it leaves the keyset.
    nowMs = retiring[0]!.retiresAt!.getTime();
    expect(await publishedKids()).toEqual([next.kid]);
    expect(await signingKid()).toBe(next.kid);
    expect((await tool.app.toolKeys.list()).map((k) => k.kid)).toEqual([next.kid]);
  });

  it('publishes new keys longer ahead than the JWKS may be cached (default policy)', () => {
    expect(loadConfig({}).toolKeyRotationLeadSeconds).toBeGreaterThanOrEqual(JWKS_MAX_AGE_SECONDS);
  });
});

describe('ToolKeys.ensureKey', () => {
  it('is idempotent and safe when called concurrently from several instances', async () => {
    await db.prisma.toolKey.deleteMany();
    const policy = { rotationLeadMs: LEAD_S * 1000, retireGraceMs: GRACE_S * 1000 };
    const instances = Array.from({ length: 3 }, () => new ToolKeys(db.prisma, policy, () => new Date(nowMs), createSilentLogger()));
    await Promise.all([...instances, ...instances].map((k) => k.ensureKey()));
    expect(await db.prisma.toolKey.count()).toBe(1);
    await instances[0]!.ensureKey();
    expect(await db.prisma.toolKey.count()).toBe(1);
    const [key] = await db.prisma.toolKey.findMany();
    expect(key).toMatchObject({ alg: 'RS256', retiresAt: null });
    expect(key!.activatesAt.getTime()).toBe(START);
  });

  it('adds nothing while a rotation is pending', async () => {
    await tool.app.toolKeys.rotate();
    await tool.app.toolKeys.ensureKey();
    expect(await db.prisma.toolKey.count()).toBe(2);
  });
});

describe('GraphQL toolKeys and rotateToolKey', () => {
  const statuses = async (client: GraphQLClient) =>
    (await client.run(ToolKeysDocument, {})).toolKeys.map((k) => k.status);

  it('lists ACTIVE, then RETIRING + PENDING after a rotation, then RETIRING + ACTIVE', async () => {
    expect(await statuses(admin)).toEqual(['ACTIVE']);
    // Anyone signed in may look (the keys are public anyway).
    expect(await statuses(teacher)).toEqual(['ACTIVE']);
    const result = await admin.run(RotateToolKeyDocument, {});
    expect(await statuses(admin)).toEqual(['RETIRING', 'PENDING']);
    if (result.rotateToolKey.__typename !== 'RotateToolKeyPayload') throw new Error('rotation refused');
    nowMs = Date.parse(result.rotateToolKey.next.activatesAt);
    const keys = (await admin.run(ToolKeysDocument, {})).toolKeys;
    expect(keys.map((k) => [k.kid, k.status])).toEqual([
      [result.rotateToolKey.retiring[0]!.kid, 'RETIRING'],
      [result.rotateToolKey.next.kid, 'ACTIVE'],
    ]);
    nowMs = Date.parse(result.rotateToolKey.retiring[0]!.retiresAt!);
    expect(await statuses(admin)).toEqual(['ACTIVE']);
  });

  it('rotateToolKey by an administrator schedules the next key', async () => {
    const before = await db.prisma.toolKey.findMany();
    const { rotateToolKey } = await admin.run(RotateToolKeyDocument, {});
    expect(rotateToolKey.__typename).toBe('RotateToolKeyPayload');
    if (rotateToolKey.__typename !== 'RotateToolKeyPayload') return;
    expect(rotateToolKey.next).toMatchObject({
      alg: 'RS256',
      status: 'PENDING',
      retiresAt: null,
      activatesAt: new Date(START + LEAD_S * 1000).toISOString(),
    });
    expect(rotateToolKey.retiring).toEqual([
      expect.objectContaining({
        kid: before[0]!.kid,
        status: 'RETIRING',
        retiresAt: new Date(START + (LEAD_S + GRACE_S) * 1000).toISOString(),
      }),
    ]);
    expect(await publishedKids()).toEqual([before[0]!.kid, rotateToolKey.next.kid]);
  });

  it('rotateToolKey by anyone else is a ForbiddenError and changes nothing', async () => {
    const before = await db.prisma.toolKey.findMany({ orderBy: { kid: 'asc' } });
    const { rotateToolKey } = await teacher.run(RotateToolKeyDocument, {});
    expect(rotateToolKey).toMatchObject({ __typename: 'ForbiddenError', code: 'ERR_FORBIDDEN' });
    expect(await db.prisma.toolKey.findMany({ orderBy: { kid: 'asc' } })).toEqual(before);
  });

  it('without a token there is no answer at all', async () => {
    const { status, body } = await graphqlClient(tool.app, undefined).raw(RotateToolKeyDocument, {});
    expect(body.data?.rotateToolKey ?? null).toBeNull();
    expect(status === 401 || (body.errors?.length ?? 0) > 0).toBe(true);
    expect(await db.prisma.toolKey.count()).toBe(1);
  });
});
