/**
 * The refusal cleanup (deleteOldRefusals; the only cleanup since logins are stateless) runs in
 * every process at once (docs/lti.md, Cleanup): one process's delete must not wait on rows
 * another transaction holds (another process's cleanup mid-batch, or any lock), must skip
 * them, and must still delete the rest. Runs only in the PostgreSQL pass.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../server/db/client.ts';
import { sqlTimestamp as ts } from '../../server/db/sql.ts';
import { timestampParam } from '../../server/db/sql-runner.ts';
import { deleteOldRefusals, REFUSAL_RETENTION_MS } from '../../server/lti/cleanup.ts';
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
  /** `count` refusals older than the retention period, ids `${prefix}0`…; `now` is the cleanup's clock. */
  async function oldRefusals(prefix: string, count: number, now: Date): Promise<void> {
    const old = new Date(now.getTime() - REFUSAL_RETENTION_MS - 60_000);
    for (let i = 0; i < count; i++) {
      await db.prisma.$executeRaw`
        INSERT INTO "LaunchRefusal" ("id", "appId", "route", "code", "reason", "createdAt")
        VALUES (${`${prefix}${i}`}, 'cl-app', 'LAUNCH', 'ERR_LTI_STATE_UNKNOWN', 'x', ${ts(old)})`;
    }
  }

  it("two cleanups at once: one mid-batch (its delete not committed), the other deletes the rest without waiting, no row twice", async () => {
    const now = new Date('2031-01-02T12:00:00Z');
    await db.prisma.launchRefusal.deleteMany();
    await oldRefusals('cl-b', 5, now);
    await holder.query('BEGIN');
    let theirs: number;
    let ours: number;
    try {
      // Another process's cleanup, inside its batch: the statement deleteOldRefusals sends
      // (server/lti/cleanup.ts), with a batch of 2, not yet committed.
      const batch = await holder.query(
        `DELETE FROM "LaunchRefusal" WHERE "id" IN (
           SELECT "id" FROM "LaunchRefusal" WHERE "createdAt" < CAST($1 AS timestamp(3)) LIMIT 2 FOR UPDATE SKIP LOCKED)`,
        [timestampParam(new Date(now.getTime() - REFUSAL_RETENTION_MS))],
      );
      theirs = batch.rowCount ?? 0;
      expect(theirs).toBe(2);
      // Ours, in batches of 1: skips the two rows the other holds, deletes the three others.
      ours = await deleteOldRefusals(db.prisma, now, REFUSAL_RETENTION_MS, 1);
      expect(ours).toBe(3);
      await holder.query('COMMIT');
    } catch (err) {
      await holder.query('ROLLBACK');
      throw err;
    }
    expect(theirs + ours).toBe(5);
    expect(await db.prisma.launchRefusal.count()).toBe(0);
    expect(await deleteOldRefusals(db.prisma, now)).toBe(0);
  });

  it('deleteOldRefusals deletes the others without waiting', async () => {
    const now = new Date('2031-01-01T12:00:00Z');
    await oldRefusals('cl-f', 5, now);
    await holder.query('BEGIN');
    try {
      await holder.query(`SELECT 1 FROM "LaunchRefusal" WHERE "id" = 'cl-f0' FOR UPDATE`);
      expect(await deleteOldRefusals(db.prisma, now)).toBe(4);
    } finally {
      await holder.query('ROLLBACK');
    }
    expect((await db.prisma.launchRefusal.findMany({ select: { id: true } })).map((r) => r.id)).toEqual(['cl-f0']);
    expect(await deleteOldRefusals(db.prisma, now)).toBe(1);
  });
});
