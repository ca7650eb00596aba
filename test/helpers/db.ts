import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { inject } from 'vitest';
import { openDatabase, type Database } from '../../server/db/client.ts';
import {
  adminQuery,
  databaseUrlWithName,
  recreateDatabase,
  TEMPLATE_DATABASE,
} from './postgres-admin.ts';

/** True when this run uses a real PostgreSQL (TEST_DATABASE_URL), false for PGlite. */
export const usingPostgres = Boolean(process.env.TEST_DATABASE_URL);

/**
 * A fresh, migrated, empty database for one test file. Call it in `beforeAll` and
 * `close()` it in `afterAll`. `onQuery` sees the SQL of every statement (to count writes).
 */
export async function createTestDatabase(options: { onQuery?: (sql: string) => void } = {}): Promise<Database> {
  const { onQuery } = options;
  const pgUrl = process.env.TEST_DATABASE_URL;
  if (pgUrl) {
    const name = `lti_test_${randomBytes(6).toString('hex')}`;
    await recreateDatabase(pgUrl, name, TEMPLATE_DATABASE);
    const db = await openDatabase({ url: databaseUrlWithName(pgUrl, name), poolMax: 4, onQuery });
    return {
      ...db,
      async close() {
        await db.close();
        await adminQuery(pgUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      },
    };
  }
  const snapshot = readFileSync(inject('pgliteSnapshotPath'));
  return openDatabase({ pgliteDir: 'memory://', pgliteLoadDataDir: new Blob([snapshot]), onQuery });
}
