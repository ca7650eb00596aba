import { expect } from 'vitest';
import type { PrismaClient } from '../../server/generated/prisma/client.ts';

/**
 * Every table's row count and a digest of all its rows (`except` left out): equal digests
 * mean no row was inserted, changed or deleted.
 */
export async function tableDigests(prisma: PrismaClient, except: string[] = []): Promise<Record<string, string>> {
  const tables = await prisma.$queryRaw<Array<{ name: string }>>`
    SELECT table_name AS "name" FROM information_schema.tables
    WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`;
  const digests: Record<string, string> = {};
  for (const { name } of tables) {
    if (except.includes(name)) continue;
    const [row] = await prisma.$queryRawUnsafe<Array<{ digest: string }>>(
      `SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '') AS "digest" FROM "${name.replaceAll('"', '""')}" t`,
    );
    digests[name] = row!.digest;
  }
  // The listing found the tables (an empty one would compare equal whatever happened).
  expect(Object.keys(digests)).toEqual(expect.arrayContaining(['App', 'Launch', 'LtiRegistration', 'ServerSecret']));
  return digests;
}
