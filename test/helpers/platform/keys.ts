/**
 * Key pairs the platform signs with, and the JWKS it serves.
 */
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';

/** A private key with its public half, as the platform holds it. */
export interface SigningKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  /** Kept so the same key material can be re-imported for another algorithm of its type. */
  privateJwk: JWK;
  /** Public JWK with `kid` only (no `alg`/`use`), as Open edX serves it. */
  publicJwk: JWK;
}

/** Generates a fresh key pair for `alg` (RSA keys are 2048 bits) with a random kid. */
export async function createSigningKey(alg: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const kid = randomUUID();
  const { kty, n, e, crv, x, y } = await exportJWK(publicKey);
  const publicJwk = Object.fromEntries(
    Object.entries({ kty, n, e, crv, x, y, kid }).filter(([, value]) => value !== undefined),
  ) as JWK;
  return { kid, alg, privateKey, privateJwk: await exportJWK(privateKey), publicJwk };
}

/** The JWKS document: one key, optionally with `alg` and `use` (Open edX sends neither). */
export function toPublicJwks(key: SigningKey, publishAlg: boolean): { keys: Array<Record<string, unknown>> } {
  const jwk: Record<string, unknown> = { ...key.publicJwk };
  if (publishAlg) Object.assign(jwk, { alg: key.alg, use: 'sig' });
  return { keys: [jwk] };
}

/** The platform's current key, its rotation, and keys that are deliberately not in the JWKS. */
export interface KeyRing {
  current(): SigningKey;
  /** Replaces the current key with a new one of the same alg (new kid). */
  rotate(): Promise<{ oldKid: string; newKid: string }>;
  /** A key pair for `alg` that is never published; one per alg, made on first use. */
  foreign(alg: string): Promise<SigningKey>;
}

/** Creates the platform's key ring with a first key for `alg`. */
export async function createKeyRing(alg: string): Promise<KeyRing> {
  let current = await createSigningKey(alg);
  const foreignKeys = new Map<string, Promise<SigningKey>>();
  return {
    current: () => current,
    async rotate() {
      const oldKid = current.kid;
      current = await createSigningKey(alg);
      return { oldKid, newKid: current.kid };
    },
    foreign(foreignAlg) {
      let key = foreignKeys.get(foreignAlg);
      if (!key) {
        key = createSigningKey(foreignAlg);
        foreignKeys.set(foreignAlg, key);
      }
      return key;
    },
  };
}
