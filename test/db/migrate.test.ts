import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../server/db/client.ts';
import {
  createMigration,
  DEFAULT_MIGRATIONS_DIR,
  DEFAULT_SCHEMA_PATH,
  deployMigrations,
  markMigrationRolledBack,
  migrationStatus,
  readMigrations,
} from '../../server/db/migrate.ts';

// PGlite creation (≈3 s) plus the wasm engine dominate; give each test room.
const SLOW = { timeout: 60_000 };
const committed = readMigrations().migrationDirectories.map((m) => m.path);

describe('deployMigrations / migrationStatus on PGlite', SLOW, () => {
  let db: Database;
  beforeAll(async () => {
    db = await openDatabase({ pgliteDir: 'memory://' });
  }, 60_000);
  afterAll(() => db?.close());

  it('has a committed history starting with init', () => {
    expect(committed.length).toBeGreaterThan(0);
    expect(committed[0]).toMatch(/^\d{14}_init$/);
  });

  it('lists everything as pending on an empty database', async () => {
    expect(await migrationStatus(db)).toEqual({ applied: [], pending: committed });
  });

  it('applies the history, after which nothing is pending', async () => {
    expect(await deployMigrations(db)).toEqual(committed);
    expect(await migrationStatus(db)).toEqual({ applied: committed, pending: [] });
    // The schema is usable through the client.
    const owner = await db.prisma.owner.create({ data: { name: 'o' } });
    expect(owner.id).toBeTruthy();
  });

  it('is a no-op the second time', async () => {
    expect(await deployMigrations(db)).toEqual([]);
  });
});

describe('migration failures', SLOW, () => {
  it('reports a failing migration as ERR_MIGRATION_FAILED, not as applied; once marked rolled back, the fixed one deploys', async () => {
    // Guards the executeScript workaround: pglite-prisma-adapter alone records this as applied.
    const dir = mkdtempSync(join(tmpdir(), 'migrate-bad-'));
    mkdirSync(join(dir, '1_bad'));
    writeFileSync(join(dir, '1_bad', 'migration.sql'), 'CREATE TABLE "x" (a int);\nSELECT nope;\n');
    const db = await openDatabase({ pgliteDir: 'memory://' });
    try {
      await expect(deployMigrations(db, { migrationsDir: dir })).rejects.toMatchObject({
        code: 'ERR_MIGRATION_FAILED',
        message: expect.stringContaining('nope'),
      });
      const status = await migrationStatus(db, { migrationsDir: dir });
      expect(status.problems?.failed).toEqual(['1_bad']);
      // One implicit transaction: the CREATE TABLE before the error is rolled back too.
      expect(await db.prisma.$queryRaw`SELECT to_regclass('x') IS NULL AS gone`).toEqual([{ gone: true }]);
      // Until it is marked rolled back, even a fixed script is refused (Prisma's P3009).
      writeFileSync(join(dir, '1_bad', 'migration.sql'), 'CREATE TABLE "x" (a int);\n');
      await expect(deployMigrations(db, { migrationsDir: dir })).rejects.toMatchObject({ code: 'ERR_MIGRATION_FAILED' });
      // Only a failed migration can be marked rolled back.
      await expect(markMigrationRolledBack(db, '2_unknown', { migrationsDir: dir })).rejects.toMatchObject({ code: 'ERR_MIGRATION_NOT_FAILED' });
      await markMigrationRolledBack(db, '1_bad', { migrationsDir: dir });
      expect(await deployMigrations(db, { migrationsDir: dir })).toEqual(['1_bad']);
      expect(await migrationStatus(db, { migrationsDir: dir })).toEqual({ applied: ['1_bad'], pending: [] });
      expect(await db.prisma.$queryRaw`SELECT to_regclass('x') IS NULL AS gone`).toEqual([{ gone: false }]);
    } finally {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('createMigration', SLOW, () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'migrate-create-'));
    cpSync(DEFAULT_MIGRATIONS_DIR, join(dir, 'migrations'), { recursive: true });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('returns null when the schema matches the committed history', async () => {
    expect(await createMigration('nothing', { migrationsDir: join(dir, 'migrations') })).toBeNull();
  });

  it('writes the diff when the schema changed', async () => {
    const schemaPath = join(dir, 'schema.prisma');
    writeFileSync(schemaPath, `${readFileSync(DEFAULT_SCHEMA_PATH, 'utf8')}\nmodel Extra {\n  id Int @id\n}\n`);
    const file = await createMigration('Add extra!', {
      schemaPath,
      migrationsDir: join(dir, 'migrations'),
      now: new Date('2030-01-02T03:04:05Z'),
    });
    expect(file).toBe(join(dir, 'migrations', '20300102030405_add_extra', 'migration.sql'));
    expect(readFileSync(file!, 'utf8')).toContain('CREATE TABLE "Extra"');
  });

  it('writes migration_lock.toml into a new migrations directory', async () => {
    const fresh = join(dir, 'fresh');
    const file = await createMigration('init', { migrationsDir: fresh });
    expect(file).toMatch(/\d{14}_init[/\\]migration\.sql$/);
    expect(readFileSync(join(fresh, 'migration_lock.toml'), 'utf8')).toContain('provider = "postgresql"');
    expect(existsSync(file!)).toBe(true);
  });

  it('rejects names with nothing usable in them', async () => {
    await expect(createMigration('!!!', { migrationsDir: join(dir, 'migrations') })).rejects.toMatchObject({
      code: 'ERR_MIGRATION_INVALID_NAME',
    });
  });
});
