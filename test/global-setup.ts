/**
 * Migrates one database for the whole run, so each test file gets a fresh copy cheaply:
 * - PGlite (default): migrate an in-memory instance once and dump its data directory;
 *   files restore from that tarball (≈1 s) instead of migrating (≈4 s).
 * - PostgreSQL (`TEST_DATABASE_URL` set, see scripts/with-postgres.mjs): migrate a
 *   template database; files `CREATE DATABASE … TEMPLATE` it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { openDatabase } from '../server/db/client.ts';
import { deployMigrations } from '../server/db/migrate.ts';
import { databaseUrlWithName, recreateDatabase, TEMPLATE_DATABASE } from './helpers/postgres-admin.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    pgliteSnapshotPath: string;
  }
}

export default async function setup(project: TestProject): Promise<() => void> {
  const pgUrl = process.env.TEST_DATABASE_URL;
  if (pgUrl) {
    await recreateDatabase(pgUrl, TEMPLATE_DATABASE);
    const db = await openDatabase({ url: databaseUrlWithName(pgUrl, TEMPLATE_DATABASE), poolMax: 1 });
    await deployMigrations(db);
    await db.close();
    project.provide('pgliteSnapshotPath', '');
    return () => {};
  }
  const db = await openDatabase({ pgliteDir: 'memory://' });
  await deployMigrations(db);
  const pglite = (db as unknown as { pglite: { dumpDataDir(c?: 'none'): Promise<Blob> } }).pglite;
  const dump = await pglite.dumpDataDir('none');
  await db.close();
  const dir = mkdtempSync(join(tmpdir(), 'lti-test-'));
  const path = join(dir, 'migrated.tar');
  writeFileSync(path, Buffer.from(await dump.arrayBuffer()));
  project.provide('pgliteSnapshotPath', path);
  return () => rmSync(dir, { recursive: true, force: true });
}
