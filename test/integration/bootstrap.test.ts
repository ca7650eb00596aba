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
