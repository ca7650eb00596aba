/**
 * The cleanup jobs run in every process at once (docs/lti.md, Cleanup): one process's delete
 * must not wait on rows another transaction holds (another process's cleanup mid-batch), and
 * must still delete the rest. Runs only in the PostgreSQL pass.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../server/db/client.ts';
import { sqlTimestamp as ts } from '../../server/db/sql.ts';
import { deleteExpiredLoginStates, deleteOldRefusals, REFUSAL_RETENTION_MS } from '../../server/lti/cleanup.ts';
import { createTestDatabase } from '../helpers/db.ts';

let testDb: Database;
let db: Database;
let holder: pg.Client;

beforeAll(async () => {
  testDb = await createTestDatabase();
  // This suite's own connections give up on a lock after 3 s instead of waiting forever: a
  // delete that waits for the held rows fails instead of hanging the test.
  const u = new URL(testDb.url!);
  u.searchParams.set('options', '-c lock_timeout=3000');
  db = await openDatabase({ url: u.toString(), poolMax: 2 });
  holder = new pg.Client({ connectionString: testDb.url! });
  await holder.connect();
  const owner = await db.prisma.owner.create({ data: { name: 'o' } });
  await db.prisma.app.create({ data: { id: 'cl-app', ownerId: owner.id, name: 'a', exerciseUrl: 'https://x.test/' } });
});
afterAll(async () => {
  await holder?.end();
  await db?.close();
  await testDb?.close();
});

describe('cleanup while another transaction holds some of the rows', () => {
  it('deleteExpiredLoginStates deletes the others without waiting', async () => {
    const now = new Date('2031-01-01T12:00:00Z');
    const expired = new Date(now.getTime() - 3600_000);
    await db.prisma.loginState.createMany({
      data: Array.from({ length: 5 }, (_, i) => ({
        state: `cl-s${i}`,
        nonce: `cl-n${i}`,
        appId: 'cl-app',
        registrationId: 'r',
        createdAt: expired,
        expiresAt: expired,
      })),
    });
    await holder.query('BEGIN');
    try {
      await holder.query(`SELECT 1 FROM "LoginState" WHERE "state" = 'cl-s0' FOR UPDATE`);
      expect(await deleteExpiredLoginStates(db.prisma, now)).toBe(4);
    } finally {
      await holder.query('ROLLBACK');
    }
    expect((await db.prisma.loginState.findMany({ select: { state: true } })).map((r) => r.state)).toEqual(['cl-s0']);
    expect(await deleteExpiredLoginStates(db.prisma, now)).toBe(1);
  });

  it('deleteOldRefusals deletes the others without waiting', async () => {
    const now = new Date('2031-01-01T12:00:00Z');
    const old = new Date(now.getTime() - REFUSAL_RETENTION_MS - 60_000);
    for (let i = 0; i < 5; i++) {
      await db.prisma.$executeRaw`
        INSERT INTO "LaunchRefusal" ("id", "appId", "route", "code", "reason", "createdAt")
        VALUES (${`cl-f${i}`}, 'cl-app', 'LAUNCH', 'ERR_LTI_STATE_UNKNOWN', 'x', ${ts(old)})`;
    }
    await holder.query('BEGIN');
    try {
      await holder.query(`SELECT 1 FROM "LaunchRefusal" WHERE "id" = 'cl-f0' FOR UPDATE`);
      expect(await deleteOldRefusals(db.prisma, now)).toBe(4);
    } finally {
      await holder.query('ROLLBACK');
    }
    expect(await deleteOldRefusals(db.prisma, now)).toBe(1);
  });
});
