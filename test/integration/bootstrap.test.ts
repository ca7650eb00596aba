import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashApiToken } from '../../server/auth/api-tokens.ts';
import { ensureFirstOwner } from '../../server/auth/bootstrap.ts';
import type { Database } from '../../server/db/client.ts';
import { createTestDatabase } from '../helpers/db.ts';

let db: Database;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.close());

describe('ensureFirstOwner', () => {
  it('makes the owner and its token together: when the token cannot be stored, no owner is left either', async () => {
    const fresh = await createTestDatabase();
    try {
      await fresh.prisma.$executeRawUnsafe(`
        CREATE FUNCTION "test_refuse_token"() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'injected: no token'; END $$`);
      await fresh.prisma.$executeRawUnsafe('CREATE TRIGGER "test_refuse_token" BEFORE INSERT ON "ApiToken" FOR EACH ROW EXECUTE FUNCTION "test_refuse_token"()');
      await expect(ensureFirstOwner(fresh.prisma)).rejects.toThrow(/injected: no token/);
      expect(await fresh.prisma.owner.count()).toBe(0);
      // So the next start, the trouble gone, makes the owner and prints its token.
      await fresh.prisma.$executeRawUnsafe('DROP TRIGGER "test_refuse_token" ON "ApiToken"');
      expect((await ensureFirstOwner(fresh.prisma))?.token).toMatch(/^lmt_/);
    } finally {
      await fresh.close();
    }
  });

  it('creates exactly one owner and token even when called concurrently, then nothing', async () => {
    const results = await Promise.all([1, 2, 3, 4].map(() => ensureFirstOwner(db.prisma)));
    const created = results.filter((r) => r !== undefined);
    expect(created).toHaveLength(1);
    expect(await db.prisma.owner.count()).toBe(1);
    const token = created[0]!.token;
    const row = await db.prisma.apiToken.findUniqueOrThrow({ where: { tokenHash: hashApiToken(token) } });
    expect(row.ownerId).toBe(created[0]!.ownerId);
    expect(await ensureFirstOwner(db.prisma)).toBeUndefined();
  });
});
