/** The operator commands, run as a user would: `npm run token -- …`, `npm run keys -- …`. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashApiToken } from '../../server/auth/api-tokens.ts';
import { openDatabase } from '../../server/db/client.ts';
import { databaseUrlWithName, recreateDatabase } from '../helpers/postgres-admin.ts';

const root = new URL('../..', import.meta.url).pathname;
let storage: Record<string, string>;
let dir: string | undefined;

beforeAll(async () => {
  const pgUrl = process.env.TEST_DATABASE_URL;
  if (pgUrl) {
    const name = `lti_cli_${process.pid}`;
    await recreateDatabase(pgUrl, name);
    storage = { DATABASE_URL: databaseUrlWithName(pgUrl, name) };
  } else {
    dir = mkdtempSync(join(tmpdir(), 'lti-cli-'));
    storage = { PGLITE_DIR: dir, DATABASE_URL: '' };
  }
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function cli(script: 'token' | 'keys' | 'migrate', ...args: string[]) {
  const result = spawnSync(process.execPath, ['--import', 'tsx', `server/cli/${script}.ts`, ...args], {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: 'silent', ...storage },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: result.status, out: `${result.stdout}${result.stderr}` };
}

async function withDb<T>(fn: (db: Awaited<ReturnType<typeof openDatabase>>) => Promise<T>): Promise<T> {
  const db = await openDatabase({ url: storage.DATABASE_URL || undefined, pgliteDir: storage.PGLITE_DIR });
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

describe('npm run token', () => {
  it('creates an owner with a token, lists without secrets, revokes', async () => {
    const created = cli('token', 'create', '--new-owner', 'Ada', '--name', 'laptop');
    expect(created.code).toBe(0);
    // The first owner of all is an administrator (the server then makes none of its own); the next is not.
    expect(created.out).toContain('an administrator');
    expect(cli('token', 'create', '--new-owner', 'Grace').code).toBe(0);
    const owners = await withDb((db) => db.prisma.owner.findMany({ select: { name: true, isAdmin: true }, orderBy: { name: 'asc' } }));
    expect(owners).toEqual([
      { name: 'Ada', isAdmin: true },
      { name: 'Grace', isAdmin: false },
    ]);
    const token = created.out.match(/lmt_[A-Za-z0-9_-]{43}/)?.[0];
    expect(token).toBeDefined();

    const listed = cli('token', 'list');
    expect(listed.code).toBe(0);
    expect(listed.out).toContain('Ada');
    expect(listed.out).toContain('laptop');
    expect(listed.out).not.toContain(token!);

    const row = await withDb((db) => db.prisma.apiToken.findUniqueOrThrow({ where: { tokenHash: hashApiToken(token!) } }));
    expect(cli('token', 'revoke', row.id).code).toBe(0);
    const revoked = await withDb((db) => db.prisma.apiToken.findUniqueOrThrow({ where: { id: row.id } }));
    expect(revoked.revokedAt).not.toBeNull();
  }, 120_000);

  it('refuses unknown commands and missing arguments with a usage message', () => {
    expect(cli('token', 'frobnicate').code).toBe(2);
    const bad = cli('token', 'revoke');
    expect(bad.code).toBe(2);
    expect(bad.out).toMatch(/TOKEN_ID/);
  }, 60_000);
});

describe('npm run keys', () => {
  it('rotates: the new key is published and pending, the old one still signs', async () => {
    const first = cli('keys', 'list');
    expect(first.code).toBe(0);
    const oldKid = first.out.match(/^ {2}(\S{43}) {2}RS256 {2}active/m)?.[1];
    expect(oldKid).toBeDefined();
    const rotated = cli('keys', 'rotate');
    expect(rotated.code).toBe(0);
    const newKid = rotated.out.match(/Published new key (\S{43})/)?.[1];
    expect(newKid).toBeDefined();
    expect(rotated.out).toMatch(new RegExp(`${newKid}  RS256  pending`));
    expect(rotated.out).toMatch(new RegExp(`${oldKid}  RS256  being replaced`));
  }, 120_000);
});

describe('npm run db:migrate:*', () => {
  it('settles a migration a killed deploy left unfinished, and says so', async () => {
    expect(cli('migrate', 'deploy').code).toBe(0);
    // As a process killed right after the last migration's script committed leaves it: the
    // engine's row unfinished, the script's own mark set (docs/database.md).
    const last = await withDb(async (db) => {
      const [row] = await db.prisma.$queryRawUnsafe<Array<{ migration_name: string; checksum: string }>>(
        `SELECT "migration_name", "checksum" FROM "_prisma_migrations" ORDER BY "migration_name" DESC LIMIT 1`,
      );
      await db.prisma.$executeRawUnsafe(`DELETE FROM "_prisma_migrations" WHERE "migration_name" = $1`, row!.migration_name);
      await db.prisma.$executeRawUnsafe(
        `INSERT INTO "_prisma_migrations" ("id", "checksum", "migration_name", "started_at", "applied_steps_count") VALUES ('killed', $1, $2, now(), 1)`,
        row!.checksum,
        row!.migration_name,
      );
      return row!.migration_name;
    });
    const status = cli('migrate', 'status');
    expect(status.code).toBe(0);
    expect(status.out).toContain(`Interrupted by a process that died (the next deploy or server start settles them):\n  ${last}`);
    expect(status.out).not.toContain('Failed');
    const deploy = cli('migrate', 'deploy');
    expect(deploy).toMatchObject({ code: 0, out: expect.stringContaining(`${last}: migration was interrupted after its script committed; recorded as applied`) });
    expect(deploy.out).toContain('is up to date');
    expect(cli('migrate', 'status').out).toMatch(/Pending: 0\n?$/);
  }, 120_000);
});
