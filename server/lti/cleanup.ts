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
