import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type CryptoKey,
  type JWK,
} from 'jose';
import type { PrismaClient } from '../generated/prisma/client.ts';
import type { Logger } from '../logger.ts';
import {
  decryptPrivateJwk,
  deriveKeyEncryptionSecret,
  encryptPrivateJwk,
  isEncryptedJwk,
  secretFingerprintOf,
  type KeyEncryptionSecret,
} from './tool-key-encryption.ts';

export const TOOL_KEY_ALG = 'RS256';
/** Serialises key creation and rotation across processes. */
const TOOL_KEY_LOCK = 7_318_201_002n;
/** Several processes starting together queue on the lock: give them time to wait their turn. */
const TRANSACTION_OPTIONS = { maxWait: 20_000, timeout: 30_000 };

export interface ToolKeyPolicy {
  /** A new key is published this long before it signs anything (≥ the JWKS cache max-age). */
  rotationLeadMs: number;
  /** A replaced key stays published this long after its successor starts signing. */
  retireGraceMs: number;
}

/** TOOL_KEY_ENCRYPTION_SECRET and, while changing it, TOOL_KEY_ENCRYPTION_SECRET_PREVIOUS. */
export interface ToolKeyEncryption {
  secret?: string | undefined;
  /** Only ever decrypts: keys made with it are re-encrypted with `secret` by ensureKey. */
  previousSecret?: string | undefined;
}

export interface PublishedJwk extends JWK {
  kid: string;
  alg: string;
  use: 'sig';
}

export interface ToolKeyInfo {
  kid: string;
  alg: string;
  createdAt: Date;
  activatesAt: Date;
  retiresAt: Date | null;
}

export interface RotationResult {
  next: ToolKeyInfo;
  retiring: ToolKeyInfo[];
}

/**
 * The tool's own signing keys, stored in the database so every process signs with the
 * same key and publishes the same keyset. The private key never leaves the server.
 */
export class ToolKeys {
  readonly #imported = new Map<string, Promise<CryptoKey>>();
  readonly #current: KeyEncryptionSecret | undefined;
  /** Decryption order: the current secret, then the previous one. */
  readonly #secrets: KeyEncryptionSecret[];

  constructor(
    private readonly prisma: PrismaClient,
    private readonly policy: ToolKeyPolicy,
    private readonly now: () => Date,
    private readonly logger: Logger,
    encryption: ToolKeyEncryption = {},
  ) {
    if (encryption.previousSecret && !encryption.secret) {
      throw new TypeError('a previous key-encryption secret needs a current one to re-encrypt with');
    }
    this.#current = encryption.secret ? deriveKeyEncryptionSecret(encryption.secret) : undefined;
    const previous = encryption.previousSecret ? deriveKeyEncryptionSecret(encryption.previousSecret) : undefined;
    this.#secrets = [this.#current, previous].filter((s): s is KeyEncryptionSecret => s !== undefined);
  }

  /**
   * At start: brings stored keys in line with the configured secret (encrypts clear keys,
   * re-encrypts keys made with the previous secret), refuses to go on when it cannot read them,
   * and creates the first key, active at once. Idempotent and safe with several processes:
   * everything happens under one advisory lock, and every write re-reads under it.
   */
  async ensureKey(): Promise<void> {
    // RSA key generation takes seconds on a busy machine: never inside the transaction (it has a timeout).
    const needsKey = (await this.prisma.toolKey.count({ where: { retiresAt: null } })) === 0;
    const fresh = needsKey ? await this.#generate() : undefined;
    const { created, encrypted, clear } = await this.prisma.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(${TOOL_KEY_LOCK})`;
      const rows = await tx.toolKey.findMany({ select: { kid: true, privateJwk: true } });
      let encrypted = 0;
      let clear = 0;
      for (const row of rows) {
        const stored: unknown = row.privateJwk;
        if (!isEncryptedJwk(stored)) {
          if (!this.#current) {
            clear++;
            continue;
          }
          await tx.toolKey.update({ where: { kid: row.kid }, data: { privateJwk: await encryptPrivateJwk(stored as JWK, this.#current) } });
          encrypted++;
          continue;
        }
        // Throws a clear error for a missing or wrong secret, or a damaged row.
        const jwk = await decryptPrivateJwk(stored, row.kid, this.#secrets);
        if (secretFingerprintOf(stored) !== this.#current!.fingerprint) {
          await tx.toolKey.update({ where: { kid: row.kid }, data: { privateJwk: await encryptPrivateJwk(jwk, this.#current!) } });
          encrypted++;
        }
      }
      if ((await tx.toolKey.count({ where: { retiresAt: null } })) > 0) return { created: undefined, encrypted, clear };
      // Rare: the key another process had made was retired in the meantime.
      const key = fresh ?? (await this.#generate());
      await tx.toolKey.create({ data: { ...key, activatesAt: this.now() } });
      return { created: key.kid, encrypted, clear };
    }, TRANSACTION_OPTIONS);
    if (encrypted > 0) this.logger.info({ count: encrypted }, 'tool private keys encrypted with TOOL_KEY_ENCRYPTION_SECRET');
    // The key just made counts too: the first start must warn like every later one.
    const clearNow = clear + (created && !this.#current ? 1 : 0);
    if (clearNow > 0) this.logger.warn({ count: clearNow }, 'tool private keys are stored unencrypted: set TOOL_KEY_ENCRYPTION_SECRET');
    if (created) this.logger.info({ kid: created, encrypted: Boolean(this.#current) }, 'created the first tool signing key');
  }

  async #generate() {
    const key = await generateToolKey();
    const privateJwk: object | string = this.#current ? await encryptPrivateJwk(key.privateJwk, this.#current) : key.privateJwk;
    return { ...key, privateJwk };
  }

  /** Keys to publish now: every key that is not past its retirement. */
  async publishedJwks(): Promise<{ keys: PublishedJwk[] }> {
    const rows = await this.prisma.toolKey.findMany({
      where: { OR: [{ retiresAt: null }, { retiresAt: { gt: this.now() } }] },
      orderBy: { activatesAt: 'asc' },
      select: { publicJwk: true },
    });
    return { keys: rows.map((r) => r.publicJwk as unknown as PublishedJwk) };
  }

  async list(): Promise<ToolKeyInfo[]> {
    return this.prisma.toolKey.findMany({
      where: { OR: [{ retiresAt: null }, { retiresAt: { gt: this.now() } }] },
      orderBy: { activatesAt: 'asc' },
      select: { kid: true, alg: true, createdAt: true, activatesAt: true, retiresAt: true },
    });
  }

  /** The key to sign with now: the most recently activated one that is not retired. */
  async signingKey(): Promise<{ kid: string; alg: string; key: CryptoKey }> {
    const now = this.now();
    const row = await this.prisma.toolKey.findFirst({
      where: { activatesAt: { lte: now }, OR: [{ retiresAt: null }, { retiresAt: { gt: now } }] },
      orderBy: { activatesAt: 'desc' },
      select: { kid: true, alg: true, privateJwk: true },
    });
    if (!row) throw new Error('no active tool signing key (did the server run ensureKey at start?)');
    let key = this.#imported.get(row.kid);
    if (!key) {
      const stored: unknown = row.privateJwk;
      key = (isEncryptedJwk(stored) ? decryptPrivateJwk(stored, row.kid, this.#secrets) : Promise.resolve(stored as JWK)).then(
        (jwk) => importJWK(jwk, row.alg) as Promise<CryptoKey>,
      );
      // A failed decryption must not stay cached: the next call reports it again.
      key.catch(() => this.#imported.delete(row.kid));
      this.#imported.set(row.kid, key);
    }
    return { kid: row.kid, alg: row.alg, key: await key };
  }

  /**
   * Publishes a new key now; it starts signing after `rotationLeadMs`, so a platform that
   * caches our keyset sees it before it meets it. Current keys stay published until
   * `retireGraceMs` after that.
   */
  async rotate(): Promise<RotationResult> {
    const now = this.now();
    const activatesAt = new Date(now.getTime() + this.policy.rotationLeadMs);
    const retiresAt = new Date(activatesAt.getTime() + this.policy.retireGraceMs);
    const key = await this.#generate();
    const result = await this.prisma.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(${TOOL_KEY_LOCK})`;
      const current = await tx.toolKey.findMany({ where: { retiresAt: null }, select: { kid: true } });
      await tx.toolKey.updateMany({ where: { retiresAt: null }, data: { retiresAt } });
      const next = await tx.toolKey.create({
        data: { ...key, createdAt: now, activatesAt },
        select: { kid: true, alg: true, createdAt: true, activatesAt: true, retiresAt: true },
      });
      const retiring = await tx.toolKey.findMany({
        where: { kid: { in: current.map((c) => c.kid) } },
        select: { kid: true, alg: true, createdAt: true, activatesAt: true, retiresAt: true },
      });
      return { next, retiring };
    }, TRANSACTION_OPTIONS);
    this.logger.info(
      { next: result.next.kid, activatesAt, retiring: result.retiring.map((k) => k.kid), retiresAt },
      'tool key rotation scheduled',
    );
    return result;
  }
}

async function generateToolKey() {
  const { publicKey, privateKey } = await generateKeyPair(TOOL_KEY_ALG, { modulusLength: 2048, extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const published: PublishedJwk = { ...publicJwk, kid, alg: TOOL_KEY_ALG, use: 'sig' };
  const privateJwk: JWK = { ...(await exportJWK(privateKey)), kid, alg: TOOL_KEY_ALG };
  return { kid, alg: TOOL_KEY_ALG, publicJwk: published as object, privateJwk };
}
