import { sqlTimestamp as ts } from '../db/sql.ts';
import { Prisma, type PrismaClient } from '../generated/prisma/client.ts';

/**
 * Rows deleted per statement. Each batch is its own short statement (and transaction): a
 * backlog never becomes one long delete holding its row locks (and, on PGlite, the one
 * connection) for its whole duration, and processes running the cleanup at once skip each
 * other's rows (SKIP LOCKED) instead of waiting for them.
 */
export const CLEANUP_BATCH_SIZE = 1000;

/**
 * What a cleanup deletes: a table, its key, and the time column compared. Fixed names from
 * this file, never input; spliced as identifiers.
 */
const REFUSALS = { table: '"LaunchRefusal"', key: '"id"', time: '"createdAt"' } as const;

/** Deletes the target's rows whose time is before `before`, `batchSize` per statement, skipping rows another process holds. */
async function deleteBefore(prisma: PrismaClient, target: typeof REFUSALS, before: Date, batchSize: number): Promise<number> {
  const [table, key, time] = [target.table, target.key, target.time].map((name) => Prisma.raw(name));
  let total = 0;
  for (;;) {
    const count = await prisma.$executeRaw`
      DELETE FROM ${table} WHERE ${key} IN (
        SELECT ${key} FROM ${table} WHERE ${time} < ${ts(before)}
        LIMIT ${batchSize} FOR UPDATE SKIP LOCKED
      )`;
    total += count;
    if (count < batchSize) return total;
  }
}

/** How long the owner's audit trail of refused launches is kept. */
export const REFUSAL_RETENTION_MS = 30 * 24 * 3600_000;

/** Deletes refusals older than the retention period. Safe to run from every process at once. */
export async function deleteOldRefusals(
  prisma: PrismaClient,
  now: Date,
  retentionMs = REFUSAL_RETENTION_MS,
  batchSize = CLEANUP_BATCH_SIZE,
): Promise<number> {
  return deleteBefore(prisma, REFUSALS, new Date(now.getTime() - retentionMs), batchSize);
}
