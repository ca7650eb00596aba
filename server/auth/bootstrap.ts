import type { PrismaClient } from '../generated/prisma/client.ts';
import { issueApiToken, type IssuedApiToken } from './api-tokens.ts';

/** Arbitrary constant shared by every process: serialises first-start bootstrap. */
const BOOTSTRAP_LOCK = 7_318_201_001n;

/**
 * On an empty database, creates the first owner account and its first API token, and
 * returns the token (to be printed once). Returns undefined when an owner exists.
 * Safe when several processes start together: a transaction-scoped advisory lock
 * makes exactly one of them create the owner.
 */
export async function ensureFirstOwner(
  prisma: PrismaClient,
  ownerName = 'Owner',
): Promise<(IssuedApiToken & { ownerId: string }) | undefined> {
  // The owner and its token in one transaction: a process that dies between the two would
  // otherwise leave an owner with no token, and no later start would make one.
  return prisma.$transaction(async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(${BOOTSTRAP_LOCK})`;
    if ((await tx.owner.count()) > 0) return undefined;
    const owner = await tx.owner.create({ data: { name: ownerName, isAdmin: true }, select: { id: true } });
    const issued = await issueApiToken(tx, owner.id, 'initial token');
    return { ...issued, ownerId: owner.id };
  });
}

/**
 * An owner made by the operator (`npm run token -- create --new-owner`). The first owner of
 * all is an administrator, as the one the server makes on first start would be (otherwise
 * nobody could rotate keys, and the server, seeing an owner, would make none); later ones are
 * not. Under the same lock as ensureFirstOwner, so a server starting meanwhile cannot make a
 * second "first" owner.
 */
export async function createOwner(prisma: PrismaClient, name: string): Promise<{ id: string; isAdmin: boolean }> {
  return prisma.$transaction(async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(${BOOTSTRAP_LOCK})`;
    const isAdmin = (await tx.owner.count()) === 0;
    return tx.owner.create({ data: { name, isAdmin }, select: { id: true, isAdmin: true } });
  });
}
