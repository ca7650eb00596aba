import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../server/db/client.ts';
import { deployMigrations, migrationStatus, readMigrations } from '../../server/db/migrate.ts';
import { capturingLogger } from '../helpers/log-capture.ts';

// Runs only in the PostgreSQL pass (`*.pg.test.ts` are included when TEST_DATABASE_URL is set).
const SLOW = { timeout: 60_000 };
const committed = readMigrations().migrationDirectories.map((m) => m.path);

// Needs a PostgreSQL URL whose user may create databases, e.g. postgres://postgres@127.0.0.1:5432/postgres.
const adminUrl = process.env.TEST_DATABASE_URL!;

describe('deployMigrations on PostgreSQL', SLOW, () => {
  const prefix = `migrate_test_${process.pid}_${Date.now()}`;
  const created: string[] = [];
  async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end();
    }
  }
  async function freshDatabaseUrl(suffix: string): Promise<string> {
    const name = `${prefix}_${suffix}`;
    await admin((c) => c.query(`CREATE DATABASE "${name}"`));
    created.push(name);
    const u = new URL(adminUrl!);
    u.pathname = `/${name}`;
    return u.toString();
  }
  afterAll(() =>
    admin(async (c) => {
      for (const name of created) await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    }),
  );

  it('applies the history exactly once when three processes deploy at once', async () => {
    const url = await freshDatabaseUrl('concurrent');
    // Separate Database objects (separate pools) stand in for separate server processes.
    const dbs = await Promise.all([1, 2, 3].map(() => openDatabase({ url, poolMax: 2 })));
    try {
      const results = await Promise.all(dbs.map((db) => deployMigrations(db)));
      expect(results.flat()).toEqual(committed);
      expect(results.filter((r) => r.length > 0)).toHaveLength(1);
      const rows = await dbs[0]!.prisma.$queryRaw<{ migration_name: string }[]>`
        SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`;
      expect(rows.map((r) => r.migration_name)).toEqual(committed);
      expect(await migrationStatus(dbs[0]!)).toEqual({ applied: committed, pending: [] });
    } finally {
      await Promise.all(dbs.map((db) => db.close()));
    }
    // The engine's connections are closed: a template copy (as the test setup does) needs that.
    const others = await admin((c) =>
      c.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [`${prefix}_concurrent`]),
    );
    expect(others.rows[0].n).toBe(0);
  });

  it("keeps the lock through a long migration and a waiting turn, whatever the database's timeouts", async () => {
    // A migration that outlasts the database's idle_session_timeout (the lock's connection is
    // idle meanwhile) and the lock_timeout/statement_timeout a second process waits under.
    const dir = mkdtempSync(join(tmpdir(), 'migrate-slow-'));
    mkdirSync(join(dir, '1_slow'));
    writeFileSync(join(dir, '1_slow', 'migration.sql'), 'SELECT pg_sleep(2.5);\nCREATE TABLE slow_done (id int);\n');
    const url = await freshDatabaseUrl('timeouts');
    const name = new URL(url).pathname.slice(1);
    await admin((c) => c.query(`ALTER DATABASE "${name}" SET idle_session_timeout = '1s'`));
    const first = await openDatabase({ url, poolMax: 2 });
    const second = await openDatabase({ url, poolMax: 2 });
    try {
      // The timeouts below apply to sessions opened from now on: the lock's connections.
      await admin((c) => c.query(`ALTER DATABASE "${name}" SET lock_timeout = '1s'`));
      const results = await Promise.all([deployMigrations(first, { migrationsDir: dir }), deployMigrations(second, { migrationsDir: dir })]);
      expect(results.flat()).toEqual(['1_slow']);
    } finally {
      await Promise.all([first.close(), second.close()]);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a process killed mid-migration leaves nothing for a human: the next deploy settles it', async () => {
    // The killed process's backend may still be running the script (PostgreSQL notices a
    // vanished client only when it next talks to it): the next deploy must wait for that
    // script to commit or roll back, then record or re-apply it accordingly.
    const dir = mkdtempSync(join(tmpdir(), 'migrate-killed-'));
    mkdirSync(join(dir, '1_a'));
    writeFileSync(join(dir, '1_a', 'migration.sql'), 'CREATE TABLE a (id int);\n');
    mkdirSync(join(dir, '2_slow'));
    writeFileSync(join(dir, '2_slow', 'migration.sql'), 'SELECT pg_sleep(3);\nCREATE TABLE slow_done (id int);\n');
    const url = await freshDatabaseUrl('killed');
    const name = new URL(url).pathname.slice(1);
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `const { openDatabase } = await import(${JSON.stringify(new URL('../../server/db/client.ts', import.meta.url).pathname)});
         const { deployMigrations } = await import(${JSON.stringify(new URL('../../server/db/migrate.ts', import.meta.url).pathname)});
         const db = await openDatabase({ url: process.env.KILL_URL });
         await deployMigrations(db, { migrationsDir: process.env.KILL_DIR });
         console.log('deploy finished, which it must not have');
         process.exit(0);`,
      ],
      { cwd: new URL('../..', import.meta.url).pathname, env: { ...process.env, KILL_URL: url, KILL_DIR: dir }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const db = await openDatabase({ url, poolMax: 2 });
    const { logger, lines } = capturingLogger();
    try {
      await expect
        .poll(
          async () =>
            (
              await admin((c) =>
                c.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND state = 'active' AND query LIKE '%pg_sleep(3)%'`, [name]),
              )
            ).rows[0].n,
          { timeout: 30_000, interval: 50 },
        )
        .toBe(1);
      child.kill('SIGKILL');
      await exited;
      expect(output).not.toContain('deploy finished');
      const applied = await deployMigrations(db, { migrationsDir: dir, logger });
      // Which of the two it was depends on what the dead backend did at the end; both are settled.
      expect([[], ['2_slow']]).toContainEqual(applied);
      expect(lines).toContainEqual(expect.objectContaining({ level: 40, migration: '2_slow', msg: expect.stringContaining('interrupted') }));
      expect(await migrationStatus(db, { migrationsDir: dir })).toEqual({ applied: ['1_a', '2_slow'], pending: [] });
      expect(await db.prisma.$queryRaw`SELECT to_regclass('slow_done') IS NOT NULL AS present`).toEqual([{ present: true }]);
    } finally {
      child.kill('SIGKILL');
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs a migration as one script, semicolons in bodies included', async () => {
    // Guards the executeScript workaround: @prisma/adapter-pg alone splits this at every ";".
    const dir = mkdtempSync(join(tmpdir(), 'migrate-fn-'));
    mkdirSync(join(dir, '1_fn'));
    writeFileSync(
      join(dir, '1_fn', 'migration.sql'),
      "CREATE FUNCTION semi() RETURNS text LANGUAGE sql AS $$ SELECT 'a;b' $$;\nCOMMENT ON FUNCTION semi() IS 'x; y';\n",
    );
    const db = await openDatabase({ url: await freshDatabaseUrl('fn') });
    try {
      expect(await deployMigrations(db, { migrationsDir: dir })).toEqual(['1_fn']);
      expect(await db.prisma.$queryRaw`SELECT semi() AS s`).toEqual([{ s: 'a;b' }]);
    } finally {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
