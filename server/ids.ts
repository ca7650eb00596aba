import { createHash, randomBytes } from 'node:crypto';

/**
 * UUIDv7 (RFC 9562): time-ordered, so primary keys sort by creation like Prisma's
 * `uuid(7)` default. Used where rows are inserted with raw SQL.
 */
export function uuidv7(nowMs: number = Date.now()): string {
  const bytes = randomBytes(16);
  bytes.writeUIntBE(nowMs, 0, 6);
  bytes[6] = 0x70 | (bytes[6]! & 0x0f);
  bytes[8] = 0x80 | (bytes[8]! & 0x3f);
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** 256 random bits, base64url: states, nonces, credentials. */
export function randomToken(): string {
  return randomBytes(32).toString('base64url');
}

/** What randomToken() returns: 32 bytes as unpadded base64url. */
export const RANDOM_TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** Hex SHA-256: how API tokens and launch credentials are stored (never the secret itself). */
export function sha256Hex(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}
