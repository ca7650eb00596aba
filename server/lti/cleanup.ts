import { sqlTimestamp as ts } from '../db/sql.ts';
import type { PrismaClient } from '../generated/prisma/client.ts';

/**
 * Rows deleted per statement. Each batch is its own short statement (and transaction): a
 * backlog never becomes one long delete holding its row locks (and, on PGlite, the one
 * connection) for its whole duration, and processes running the cleanup at once skip each
 * other's rows (SKIP LOCKED) instead of waiting for them.
 */
export const CLEANUP_BATCH_SIZE = 1000;

/** How long the owner's audit trail of refused launches is kept. */
export const REFUSAL_RETENTION_MS = 30 * 24 * 3600_000;

/**
 * Deletes refusals older than the retention period, `batchSize` per statement, skipping rows
 * another process holds. Safe to run from every process at once.
 */
export async function deleteOldRefusals(
  prisma: PrismaClient,
  now: Date,
  retentionMs = REFUSAL_RETENTION_MS,
  batchSize = CLEANUP_BATCH_SIZE,
): Promise<number> {
  const before = new Date(now.getTime() - retentionMs);
  let total = 0;
  for (;;) {
    const count = await prisma.$executeRaw`
      DELETE FROM "LaunchRefusal" WHERE "id" IN (
        SELECT "id" FROM "LaunchRefusal" WHERE "createdAt" < ${ts(before)}
        LIMIT ${batchSize} FOR UPDATE SKIP LOCKED
      )`;
    total += count;
    if (count < batchSize) return total;
  }
}
