import type { PrismaClient } from '../generated/prisma/client.ts';

/**
 * Deletes expired logins. Used ones are kept until they expire too, so a replay within
 * the login lifetime still gets the precise ERR_LTI_NONCE_REUSED. Safe to run from every
 * process at once. Returns the number of rows deleted.
 */
export async function deleteExpiredLoginStates(prisma: PrismaClient, now: Date): Promise<number> {
  const { count } = await prisma.loginState.deleteMany({ where: { expiresAt: { lt: now } } });
  return count;
}

/** How long the owner's audit trail of refused launches is kept. */
export const REFUSAL_RETENTION_MS = 30 * 24 * 3600_000;

/** Deletes refusals older than the retention period. Safe to run from every process at once. */
export async function deleteOldRefusals(prisma: PrismaClient, now: Date, retentionMs = REFUSAL_RETENTION_MS): Promise<number> {
  const { count } = await prisma.launchRefusal.deleteMany({ where: { createdAt: { lt: new Date(now.getTime() - retentionMs) } } });
  return count;
}
