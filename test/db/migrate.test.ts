import { createHash } from 'node:crypto';
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
import { capturingLogger } from '../helpers/log-capture.ts';

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

describe('a migration interrupted by a killed process', SLOW, () => {
  // Two migrations; the second is the one "interrupted". A killed process leaves the row the
  // engine inserts before running a script (unfinished, no error logged).
  const A = 'CREATE TABLE "a" (id int);\n';
  const B = 'CREATE TABLE "b" (id int);\n';
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'migrate-interrupted-'));
    for (const [name, sql] of [['1_a', A], ['2_b', B]] as const) {
      mkdirSync(join(dir, name));
      writeFileSync(join(dir, name, 'migration.sql'), sql);
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** A database on which 1_a is applied and 2_b was started by a process that then died. */
  async function interrupted(scriptCommitted: boolean): Promise<Database> {
    const db = await openDatabase({ pgliteDir: 'memory://' });
    await deployMigrations(db, { migrationsDir: dir });
    await db.prisma.$executeRawUnsafe(`DELETE FROM "_prisma_migrations" WHERE "migration_name" = '2_b'`);
    if (!scriptCommitted) await db.prisma.$executeRawUnsafe('DROP TABLE "b"');
    await db.prisma.$executeRawUnsafe(
      `INSERT INTO "_prisma_migrations" ("id", "checksum", "migration_name", "started_at", "applied_steps_count")
       VALUES ('killed', $1, '2_b', now(), $2)`,
      createHash('sha256').update(B).digest('hex'),
      scriptCommitted ? 1 : 0,
    );
    return db;
  }
  const tableB = (db: Database) => db.prisma.$queryRaw<[{ present: boolean }]>`SELECT to_regclass('b') IS NOT NULL AS present`;

  it('applies it again when its script never committed', async () => {
    const db = await interrupted(false);
    const { logger, lines } = capturingLogger();
    try {
      // Status tells it from a failed one, and resolve refuses it: deploy settles it.
      expect((await migrationStatus(db, { migrationsDir: dir })).problems).toEqual({ failed: [], interrupted: ['2_b'], edited: [], missingLocally: [] });
      await expect(markMigrationRolledBack(db, '2_b', { migrationsDir: dir })).rejects.toMatchObject({
        code: 'ERR_MIGRATION_NOT_FAILED',
        message: expect.stringContaining('interrupted'),
      });
      expect(await deployMigrations(db, { migrationsDir: dir, logger })).toEqual(['2_b']);
      expect(await migrationStatus(db, { migrationsDir: dir })).toEqual({ applied: ['1_a', '2_b'], pending: [] });
      expect(await tableB(db)).toEqual([{ present: true }]);
      expect(lines).toContainEqual(expect.objectContaining({ level: 40 /* warn */, migration: '2_b', msg: expect.stringContaining('before its script committed') }));
    } finally {
      await db.close();
    }
  });

  it('records it as applied, without running it again, when its script committed', async () => {
    const db = await interrupted(true);
    const { logger, lines } = capturingLogger();
    try {
      // Running B again would fail: "b" exists.
      expect(await deployMigrations(db, { migrationsDir: dir, logger })).toEqual([]);
      expect(await migrationStatus(db, { migrationsDir: dir })).toEqual({ applied: ['1_a', '2_b'], pending: [] });
      expect(lines).toContainEqual(expect.objectContaining({ level: 40 /* warn */, migration: '2_b', msg: expect.stringContaining('after its script committed') }));
    } finally {
      await db.close();
    }
  });

  it("a script's commit carries the mark that tells the two apart", async () => {
    // Every update of the engine's own, after the script, fails, as if the process died the
    // moment the script committed: what is left is the row the recovery reads. Only a statement
    // inside the script's transaction (which holds the script lock) can update the row.
    const db = await openDatabase({ pgliteDir: 'memory://' });
    try {
      await db.prisma.$executeRawUnsafe('CREATE TABLE "_prisma_migrations" ("id" varchar(36) PRIMARY KEY, "checksum" varchar(64) NOT NULL, "finished_at" timestamptz, "migration_name" varchar(255) NOT NULL, "logs" text, "rolled_back_at" timestamptz, "started_at" timestamptz NOT NULL DEFAULT now(), "applied_steps_count" integer NOT NULL DEFAULT 0)');
      await db.prisma.$executeRawUnsafe(`CREATE FUNCTION die_before_finish() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          -- The script lock's key, 30527293640763251, is (7107689 << 32) + 1835624307.
          IF NOT EXISTS (SELECT 1 FROM pg_locks WHERE "locktype" = 'advisory' AND "classid" = 7107689 AND "objid" = 1835624307 AND "pid" = pg_backend_pid()) THEN
            RAISE EXCEPTION 'killed before recording';
          END IF;
          RETURN NEW;
        END $$`);
      await db.prisma.$executeRawUnsafe(`CREATE TRIGGER die_before_finish BEFORE UPDATE ON "_prisma_migrations" FOR EACH ROW EXECUTE FUNCTION die_before_finish()`);
      await expect(deployMigrations(db, { migrationsDir: dir })).rejects.toMatchObject({ message: expect.stringContaining('killed before recording') });
      const rows = await db.prisma.$queryRawUnsafe<Array<{ migration_name: string; applied_steps_count: number; finished_at: Date | null; logs: string | null }>>(
        'SELECT "migration_name", "applied_steps_count", "finished_at", "logs" FROM "_prisma_migrations" ORDER BY "started_at"',
      );
      expect(rows).toEqual([{ migration_name: '1_a', applied_steps_count: 1, finished_at: null, logs: null }]);
      await db.prisma.$executeRawUnsafe('DROP TRIGGER die_before_finish ON "_prisma_migrations"');
      expect(await deployMigrations(db, { migrationsDir: dir })).toEqual(['2_b']);
      expect(await migrationStatus(db, { migrationsDir: dir })).toEqual({ applied: ['1_a', '2_b'], pending: [] });
    } finally {
      await db.close();
    }
  });

  it('leaves a migration that failed with an error to a human', async () => {
    const db = await interrupted(false);
    try {
      await db.prisma.$executeRawUnsafe(`UPDATE "_prisma_migrations" SET "logs" = 'syntax error' WHERE "id" = 'killed'`);
      await expect(deployMigrations(db, { migrationsDir: dir })).rejects.toMatchObject({ code: 'ERR_MIGRATION_FAILED' });
      expect((await migrationStatus(db, { migrationsDir: dir })).problems).toMatchObject({ failed: ['2_b'], interrupted: [] });
    } finally {
      await db.close();
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
