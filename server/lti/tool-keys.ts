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

export const TOOL_KEY_ALG = 'RS256';
/** Serialises key creation and rotation across processes. */
const TOOL_KEY_LOCK = 7_318_201_002n;

export interface ToolKeyPolicy {
  /** A new key is published this long before it signs anything (≥ the JWKS cache max-age). */
  rotationLeadMs: number;
  /** A replaced key stays published this long after its successor starts signing. */
  retireGraceMs: number;
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

  constructor(
    private readonly prisma: PrismaClient,
    private readonly policy: ToolKeyPolicy,
    private readonly now: () => Date,
    private readonly logger: Logger,
  ) {}

  /** On first start: creates the first key, active at once. Safe with several processes. */
  async ensureKey(): Promise<void> {
    const created = await this.prisma.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(${TOOL_KEY_LOCK})`;
      if ((await tx.toolKey.count({ where: { retiresAt: null } })) > 0) return undefined;
      const key = await generateToolKey();
      await tx.toolKey.create({ data: { ...key, activatesAt: this.now() } });
      return key.kid;
    });
    if (created) this.logger.info({ kid: created }, 'created the first tool signing key');
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
      key = importJWK(row.privateJwk as JWK, row.alg) as Promise<CryptoKey>;
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
    const result = await this.prisma.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(${TOOL_KEY_LOCK})`;
      const current = await tx.toolKey.findMany({ where: { retiresAt: null }, select: { kid: true } });
      await tx.toolKey.updateMany({ where: { retiresAt: null }, data: { retiresAt } });
      const key = await generateToolKey();
      const next = await tx.toolKey.create({
        data: { ...key, createdAt: now, activatesAt },
        select: { kid: true, alg: true, createdAt: true, activatesAt: true, retiresAt: true },
      });
      const retiring = await tx.toolKey.findMany({
        where: { kid: { in: current.map((c) => c.kid) } },
        select: { kid: true, alg: true, createdAt: true, activatesAt: true, retiresAt: true },
      });
      return { next, retiring };
    });
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
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: TOOL_KEY_ALG };
  return { kid, alg: TOOL_KEY_ALG, publicJwk: published as object, privateJwk: privateJwk as object };
}
