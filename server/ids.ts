import { createHash, randomBytes } from 'node:crypto';

/**
 * UUIDv7 (RFC 9562): time-ordered, so primary keys sort by creation like Prisma's
 * `uuid(7)` default. Used where rows are inserted with raw SQL.
 */
export function uuidv7(nowMs: number = Date.now()): string {
  const bytes = randomSlice(16);
  bytes.writeUIntBE(nowMs, 0, 6);
  bytes[6] = 0x70 | (bytes[6]! & 0x0f);
  bytes[8] = 0x80 | (bytes[8]! & 0x3f);
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** 256 random bits, base64url: states, nonces, credentials. */
export function randomToken(): string {
  return randomSlice(32).toString('base64url');
}

/**
 * Random bytes are drawn from a CSPRNG pool refilled 4 KiB at a time (as Node's own
 * randomUUID does): a launch needs four draws, and one randomBytes call each cost more CPU
 * than the rest of the id work. Each byte is handed out once, and its pool copy is zeroed.
 */
const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let poolOffset = 0;

export function randomSlice(length: number): Buffer {
  if (length > POOL_BYTES) return randomBytes(length);
  if (poolOffset + length > pool.length) {
    pool = randomBytes(POOL_BYTES);
    poolOffset = 0;
  }
  const out = Buffer.from(pool.subarray(poolOffset, poolOffset + length));
  pool.fill(0, poolOffset, poolOffset + length);
  poolOffset += length;
  return out;
}

/** What randomToken() returns: 32 bytes as unpadded base64url. */
export const RANDOM_TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** Hex SHA-256: how API tokens and launch credentials are stored (never the secret itself). */
export function sha256Hex(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}
