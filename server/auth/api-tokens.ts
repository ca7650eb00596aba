import { randomBytes } from 'node:crypto';
import { bearerToken } from '../http/bearer.ts';
import { sha256Hex } from '../ids.ts';
import type { PrismaClient } from '../generated/prisma/client.ts';

/**
 * API tokens: `lmt_` + 43 base64url characters (256 random bits). Only the SHA-256 of
 * the whole string is stored, so a database leak does not leak usable tokens, and a
 * token can never be shown again after creation.
 */
export const API_TOKEN_PREFIX = 'lmt_';
const TOKEN_PATTERN = /^lmt_[A-Za-z0-9_-]{43}$/;
/** lastUsedAt is refreshed at most this often, so a busy client does not cost a write per request. */
export const LAST_USED_RESOLUTION_MS = 60_000;

export function generateApiToken(): string {
  return API_TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

export function hashApiToken(token: string): string {
  return sha256Hex(token);
}

/** What may be displayed about a token after creation. */
export function displayPrefix(token: string): string {
  return token.slice(0, API_TOKEN_PREFIX.length + 6);
}

export interface IssuedApiToken {
  id: string;
  token: string;
}

export async function issueApiToken(
  // A transaction's client too: the first owner and its token are committed together.
  prisma: Pick<PrismaClient, 'apiToken'>,
  ownerId: string,
  name: string,
): Promise<IssuedApiToken> {
  const token = generateApiToken();
  const row = await prisma.apiToken.create({
    data: { ownerId, name, tokenHash: hashApiToken(token), prefix: displayPrefix(token) },
    select: { id: true },
  });
  return { id: row.id, token };
}

export interface AuthenticatedOwner {
  ownerId: string;
  tokenId: string;
}

/** Reads `Authorization: Bearer <token>`; undefined when absent, malformed, unknown or revoked. */
export async function authenticateApiToken(
  prisma: PrismaClient,
  authorization: string | null,
  now: Date,
): Promise<AuthenticatedOwner | undefined> {
  const token = bearerToken(authorization);
  if (!token || !TOKEN_PATTERN.test(token)) return undefined;
  const row = await prisma.apiToken.findUnique({
    where: { tokenHash: hashApiToken(token) },
    select: { id: true, ownerId: true, revokedAt: true, lastUsedAt: true },
  });
  if (!row || row.revokedAt) return undefined;
  if (!row.lastUsedAt || now.getTime() - row.lastUsedAt.getTime() >= LAST_USED_RESOLUTION_MS) {
    // Conditional so concurrent requests don't race each other backwards in time.
    await prisma.apiToken.updateMany({
      where: { id: row.id, OR: [{ lastUsedAt: null }, { lastUsedAt: { lt: now } }] },
      data: { lastUsedAt: now },
    });
  }
  return { ownerId: row.ownerId, tokenId: row.id };
}
