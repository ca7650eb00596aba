/**
 * Tool private keys at rest (TOOL_KEY_ENCRYPTION_SECRET): encrypted as a compact JWE, clear keys
 * encrypted in place at start, signing and the keyset unchanged, and a clear refusal for a
 * missing or wrong secret or a damaged row. Secret rotation via TOOL_KEY_ENCRYPTION_SECRET_PREVIOUS.
 */
import { CompactSign, compactVerify, createLocalJWKSet, decodeProtectedHeader, type JWK } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Database } from '../../server/db/client.ts';
import type { Logger } from '../../server/logger.ts';
import { deriveKeyEncryptionSecret } from '../../server/lti/tool-key-encryption.ts';
import { ToolKeys, type ToolKeyEncryption } from '../../server/lti/tool-keys.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { capturingLogger } from '../helpers/log-capture.ts';
import { createTestLogger, registerTestSecret } from '../helpers/test-logger.ts';

const SECRET = registerTestSecret('tool-key-encryption-secret-A-0123456789abcdef', 'key encryption secret');
const NEW_SECRET = registerTestSecret('tool-key-encryption-secret-B-fedcba9876543210', 'key encryption secret');
const policy = { rotationLeadMs: 600_000, retireGraceMs: 3_600_000 };
const NOW = new Date('2031-03-01T10:00:00.000Z');

let db: Database;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.close();
});
beforeEach(async () => {
  await db.prisma.toolKey.deleteMany();
});

const toolKeys = (encryption: ToolKeyEncryption = {}) => new ToolKeys(db.prisma, policy, () => NOW, createTestLogger(), encryption);

/** What the database holds, as text (what a backup or a leaked dump shows). */
async function storedColumns(): Promise<Array<{ kid: string; private: string }>> {
  return db.prisma.$queryRaw`SELECT "kid", "privateJwk"::text AS "private" FROM "ToolKey" ORDER BY "activatesAt"`;
}

async function expectSignsVerifiably(keys: ToolKeys): Promise<void> {
  const { kid, alg, key } = await keys.signingKey();
  const jws = await new CompactSign(new TextEncoder().encode('{"iss":"tool"}')).setProtectedHeader({ alg, kid }).sign(key);
  const { keys: published } = await keys.publishedJwks();
  const { protectedHeader } = await compactVerify(jws, createLocalJWKSet({ keys: published as JWK[] }));
  expect(protectedHeader.kid).toBe(kid);
}

/** Two keys stored in clear: the current one and a rotated successor. */
async function clearKeys(): Promise<void> {
  const keys = toolKeys();
  await keys.ensureKey();
  await keys.rotate();
}

describe('with TOOL_KEY_ENCRYPTION_SECRET', () => {
  it('stores new keys as a dir/A256GCM JWE naming the secret by fingerprint, never the private members', async () => {
    const keys = toolKeys({ secret: SECRET });
    await keys.ensureKey();
    await keys.rotate();
    const rows = await storedColumns();
    expect(rows).toHaveLength(2);
    for (const row of rows) {
      expect(row.private).not.toMatch(/"(d|p|q|dp|dq|qi)"\s*:/);
      const jwe = JSON.parse(row.private) as string;
      expect(jwe.split('.')).toHaveLength(5);
      expect(decodeProtectedHeader(jwe)).toEqual({
        alg: 'dir',
        enc: 'A256GCM',
        cty: 'jwk+json',
        kid: deriveKeyEncryptionSecret(SECRET).fingerprint,
      });
    }
    await expectSignsVerifiably(keys);
  });

  it('encrypts clear keys in place at start, keeps their kids, and is idempotent under concurrency', async () => {
    await clearKeys();
    const before = await storedColumns();
    expect(before.every((r) => r.private.includes('"d":'))).toBe(true);

    const instances = Array.from({ length: 3 }, () => toolKeys({ secret: SECRET }));
    await Promise.all([...instances, ...instances].map((k) => k.ensureKey()));
    const after = await storedColumns();
    expect(after.map((r) => r.kid)).toEqual(before.map((r) => r.kid));
    expect(after.every((r) => !r.private.includes('"d":'))).toBe(true);

    // Once encrypted, a later start rewrites nothing.
    await toolKeys({ secret: SECRET }).ensureKey();
    expect(await storedColumns()).toEqual(after);
    await expectSignsVerifiably(instances[0]!);
  });

  it('the fingerprint reveals nothing usable: it differs from the secret and from the derived key', () => {
    const derived = deriveKeyEncryptionSecret(SECRET);
    expect(SECRET).not.toContain(derived.fingerprint);
    expect(Buffer.from(derived.key).toString('base64url')).not.toContain(derived.fingerprint);
    expect(deriveKeyEncryptionSecret(NEW_SECRET).fingerprint).not.toBe(derived.fingerprint);
  });
});

describe('refusals (nothing is changed, no key is generated)', () => {
  it('secret unset but keys are encrypted: ERR_TOOL_KEY_SECRET_MISSING', async () => {
    await toolKeys({ secret: SECRET }).ensureKey();
    const before = await storedColumns();
    const keys = toolKeys();
    await expect(keys.ensureKey()).rejects.toMatchObject({
      code: 'ERR_TOOL_KEY_SECRET_MISSING',
      message: expect.stringMatching(/stored encrypted but TOOL_KEY_ENCRYPTION_SECRET is not set/),
    });
    await expect(keys.signingKey()).rejects.toMatchObject({ code: 'ERR_TOOL_KEY_SECRET_MISSING' });
    expect(await storedColumns()).toEqual(before);
  });

  it('wrong secret: ERR_TOOL_KEY_WRONG_SECRET naming both fingerprints', async () => {
    await toolKeys({ secret: SECRET }).ensureKey();
    const before = await storedColumns();
    const keys = toolKeys({ secret: NEW_SECRET });
    const error = await keys.ensureKey().then(
      () => undefined,
      (err: unknown) => err as Error & { code: string },
    );
    expect(error?.code).toBe('ERR_TOOL_KEY_WRONG_SECRET');
    expect(error?.message).toContain(deriveKeyEncryptionSecret(SECRET).fingerprint);
    expect(error?.message).toContain(deriveKeyEncryptionSecret(NEW_SECRET).fingerprint);
    expect(error?.message).not.toContain(SECRET);
    expect(error?.message).not.toContain(NEW_SECRET);
    await expect(keys.signingKey()).rejects.toMatchObject({ code: 'ERR_TOOL_KEY_WRONG_SECRET' });
    expect(await storedColumns()).toEqual(before);
  });

  it('a damaged ciphertext or one copied from another row: ERR_TOOL_KEY_UNREADABLE', async () => {
    const keys = toolKeys({ secret: SECRET });
    await keys.ensureKey();
    await keys.rotate();
    const [a, b] = await db.prisma.toolKey.findMany({ orderBy: { activatesAt: 'asc' } });
    // Row b now holds row a's (valid) ciphertext.
    await db.prisma.toolKey.update({ where: { kid: b!.kid }, data: { privateJwk: a!.privateJwk as string } });
    await expect(toolKeys({ secret: SECRET }).ensureKey()).rejects.toMatchObject({ code: 'ERR_TOOL_KEY_UNREADABLE' });

    const parts = (a!.privateJwk as string).split('.');
    const flipped = parts[3]!.startsWith('A') ? `B${parts[3]!.slice(1)}` : `A${parts[3]!.slice(1)}`;
    await db.prisma.toolKey.update({
      where: { kid: b!.kid },
      data: { privateJwk: [parts[0], parts[1], parts[2], flipped, parts[4]].join('.') },
    });
    await expect(toolKeys({ secret: SECRET }).ensureKey()).rejects.toMatchObject({ code: 'ERR_TOOL_KEY_UNREADABLE' });
  });
});

describe('changing the secret (TOOL_KEY_ENCRYPTION_SECRET_PREVIOUS)', () => {
  it('a previous secret alone is a programming error (config validation refuses it too)', () => {
    expect(() => toolKeys({ previousSecret: SECRET })).toThrow(TypeError);
  });

  it('re-encrypts keys made with the previous secret, after which the old secret no longer reads them', async () => {
    await clearKeys();
    await toolKeys({ secret: SECRET }).ensureKey();
    const kids = (await storedColumns()).map((r) => r.kid);

    const rotating = toolKeys({ secret: NEW_SECRET, previousSecret: SECRET });
    await rotating.ensureKey();
    const rows = await storedColumns();
    expect(rows.map((r) => r.kid)).toEqual(kids);
    const newFingerprint = deriveKeyEncryptionSecret(NEW_SECRET).fingerprint;
    for (const row of rows) expect(decodeProtectedHeader(JSON.parse(row.private) as string).kid).toBe(newFingerprint);
    await expectSignsVerifiably(rotating);

    await expectSignsVerifiably(toolKeys({ secret: NEW_SECRET }));
    await expect(toolKeys({ secret: SECRET }).ensureKey()).rejects.toMatchObject({ code: 'ERR_TOOL_KEY_WRONG_SECRET' });
  });
});

describe('without a secret', () => {
  /** Warnings ensureKey logs, as parsed JSON lines. */
  function warningsOf(run: (logger: Logger) => Promise<void>): Promise<Array<Record<string, unknown>>> {
    const { logger, lines } = capturingLogger('warn');
    return run(logger).then(() => lines);
  }

  it('keeps storing clear keys, and warns at every start, the first (which makes the key) included', async () => {
    const first = await warningsOf((logger) => new ToolKeys(db.prisma, policy, () => NOW, logger, {}).ensureKey());
    const [row] = await storedColumns();
    expect(row!.private).toContain('"d":');
    expect(first).toMatchObject([{ level: 40, count: 1, msg: 'tool private keys are stored unencrypted: set TOOL_KEY_ENCRYPTION_SECRET' }]);
    const second = await warningsOf((logger) => new ToolKeys(db.prisma, policy, () => NOW, logger, {}).ensureKey());
    expect(second).toMatchObject([{ level: 40, count: 1, msg: 'tool private keys are stored unencrypted: set TOOL_KEY_ENCRYPTION_SECRET' }]);
  });

  it('with a secret, the first start warns of nothing', async () => {
    expect(await warningsOf((logger) => new ToolKeys(db.prisma, policy, () => NOW, logger, { secret: SECRET }).ensureKey())).toEqual([]);
  });
});
