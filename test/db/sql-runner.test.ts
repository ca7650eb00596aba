/**
 * The driver-level runner for the launch path's statements (server/db/sql-runner.ts), on
 * PGlite and on PostgreSQL: parameters of every kind the launch uses, errors, and — what
 * the PGlite runner must get right by holding PGlite's locks — never running inside
 * another caller's open transaction.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../server/db/client.ts';
import { timestampParam } from '../../server/db/sql-runner.ts';
import { createTestDatabase } from '../helpers/db.ts';

let db: Database;
const seen: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase({ onQuery: (sql) => seen.push(sql) });
  await db.prisma.$executeRawUnsafe(
    'CREATE TABLE "RunnerProbe" ("id" text PRIMARY KEY, "tags" text[] NOT NULL, "note" text, "at" timestamp(3) NOT NULL)',
  );
});
afterAll(async () => {
  await db?.close();
});

const insert = (id: string, tags: string[], note: string | null, at: Date) => ({
  name: 'probe_insert',
  text: `INSERT INTO "RunnerProbe" ("id", "tags", "note", "at") VALUES ($1, CAST($2 AS text[]), $3, CAST($4 AS timestamp(3)))
    RETURNING "id", "tags", "note", to_char("at", 'YYYY-MM-DD"T"HH24:MI:SS.MS') AS "at", true AS "stored"`,
  values: [id, tags, note, timestampParam(at)],
});

describe('SqlRunner', () => {
  it('binds text, text[], null and timestamps, and returns typed rows', async () => {
    const at = new Date('2026-11-27T06:00:00.123Z');
    const rows = await db.sql.rows(insert('a', ['Learner', 'with "quotes", commas {braces}'], null, at));
    expect(rows).toEqual([{ id: 'a', tags: ['Learner', 'with "quotes", commas {braces}'], note: null, at: '2026-11-27T06:00:00.123', stored: true }]);
    expect(await db.sql.rows(insert('b', [], 'x', at))).toEqual([{ id: 'b', tags: [], note: 'x', at: '2026-11-27T06:00:00.123', stored: true }]);
    expect(seen.filter((sql) => sql.includes('INSERT INTO "RunnerProbe"'))).toHaveLength(2);
  });

  it('surfaces a statement error and keeps working afterwards', async () => {
    const at = new Date();
    await expect(db.sql.rows(insert('a', [], null, at))).rejects.toThrow(/duplicate key|unique/i);
    await expect(db.sql.rows({ name: 'probe_broken', text: 'SELEC 1', values: [] })).rejects.toThrow(/syntax/i);
    expect(await db.sql.rows(insert('c', [], null, at))).toHaveLength(1);
    // A failed preparation leaves nothing behind under its name.
    await expect(db.sql.rows({ name: 'probe_broken', text: 'SELEC 1', values: [] })).rejects.toThrow(/syntax/i);
  });

  it('never runs inside another caller’s open transaction', async () => {
    let started!: () => void;
    const inTransaction = new Promise<void>((resolve) => (started = resolve));
    const transaction = db.prisma
      .$transaction(async (tx) => {
        await tx.$executeRaw`INSERT INTO "RunnerProbe" ("id", "tags", "at") VALUES ('rolled-back', '{}', now())`;
        started();
        await new Promise((resolve) => setTimeout(resolve, 300));
        throw new Error('roll back');
      })
      .catch((err: Error) => err.message);
    await inTransaction;
    // Had this joined the open transaction, the rollback would take it away too.
    await db.sql.rows(insert('outside', [], null, new Date()));
    expect(await transaction).toBe('roll back');
    const ids = (await db.prisma.$queryRaw<Array<{ id: string }>>`SELECT "id" FROM "RunnerProbe" ORDER BY "id"`).map((r) => r.id);
    expect(ids).toContain('outside');
    expect(ids).not.toContain('rolled-back');
  });

  it('statements are prepared under their names', async () => {
    await db.sql.rows(insert('d', [], null, new Date()));
    await db.sql.rows(insert('e', [], null, new Date()));
    const prepared = await db.sql.rows<{ name: string }>({
      name: 'probe_prepared',
      text: `SELECT "name" FROM pg_prepared_statements WHERE "name" LIKE 'probe_%' ORDER BY "name"`,
      values: [],
    });
    const names = prepared.map((r) => r.name);
    // PGlite has one session; on PostgreSQL this statement ran on one of the pool's connections.
    if (db.kind === 'pglite') expect(names).toEqual(['probe_insert', 'probe_prepared']);
    else expect(names).toContain('probe_prepared');
  });
});
