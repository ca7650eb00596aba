/**
 * Tool private keys at rest: a compact JWE (`dir` + `A256GCM`) whose content key is derived
 * with HKDF-SHA256 from TOOL_KEY_ENCRYPTION_SECRET. The protected header's `kid` is a
 * fingerprint of the secret (also HKDF-derived, so it reveals nothing about the key), which
 * tells "wrong secret" apart from "damaged ciphertext" and picks the previous secret during
 * a rotation of the secret.
 *
 * The `ToolKey.privateJwk` column is JSON: a JWK object when stored in clear (no secret
 * configured), a JSON string holding the compact JWE when encrypted. No schema change needed.
 */
import { hkdfSync } from 'node:crypto';
import { base64url, compactDecrypt, CompactEncrypt, decodeProtectedHeader, type JWK } from 'jose';
import { AppError } from '../errors.ts';

const HKDF_SALT = 'lti-microapps/tool-key-encryption/v1';
const JWE_CTY = 'jwk+json';

export type ToolKeyEncryptionErrorCode =
  | 'ERR_TOOL_KEY_SECRET_MISSING'
  | 'ERR_TOOL_KEY_WRONG_SECRET'
  | 'ERR_TOOL_KEY_UNREADABLE';

/** Startup refuses to go on: the stored keys and the configured secret(s) disagree. */
export class ToolKeyEncryptionError extends AppError {
  constructor(
    readonly code: ToolKeyEncryptionErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface KeyEncryptionSecret {
  /** Public fingerprint of the secret (the JWE `kid`). */
  fingerprint: string;
  key: Uint8Array;
}

export function deriveKeyEncryptionSecret(secret: string): KeyEncryptionSecret {
  const derive = (info: string, length: number) => new Uint8Array(hkdfSync('sha256', secret, HKDF_SALT, info, length));
  return { key: derive('A256GCM content key', 32), fingerprint: base64url.encode(derive('fingerprint', 12)) };
}

/** The stored value is a JWE (encrypted) rather than a JWK object (clear). */
export function isEncryptedJwk(stored: unknown): stored is string {
  return typeof stored === 'string';
}

export async function encryptPrivateJwk(jwk: JWK, secret: KeyEncryptionSecret): Promise<string> {
  return new CompactEncrypt(new TextEncoder().encode(JSON.stringify(jwk)))
    .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: secret.fingerprint, cty: JWE_CTY })
    .encrypt(secret.key);
}

/** The fingerprint of the secret a stored JWE was made with (undefined when unreadable). */
export function secretFingerprintOf(jwe: string): string | undefined {
  try {
    const { kid } = decodeProtectedHeader(jwe);
    return typeof kid === 'string' ? kid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Decrypts one stored key with whichever configured secret made it. `toolKid` is the row's
 * key id: the decrypted JWK must carry it, so ciphertexts cannot be swapped between rows.
 */
export async function decryptPrivateJwk(
  jwe: string,
  toolKid: string,
  secrets: readonly KeyEncryptionSecret[],
): Promise<JWK> {
  if (secrets.length === 0) {
    throw new ToolKeyEncryptionError(
      'ERR_TOOL_KEY_SECRET_MISSING',
      `Tool key ${toolKid} is stored encrypted but TOOL_KEY_ENCRYPTION_SECRET is not set. Set it to the secret the keys were encrypted with.`,
    );
  }
  const fingerprint = secretFingerprintOf(jwe);
  const secret = secrets.find((s) => s.fingerprint === fingerprint);
  if (!secret) {
    throw new ToolKeyEncryptionError(
      'ERR_TOOL_KEY_WRONG_SECRET',
      `Tool key ${toolKid} was encrypted with another secret (fingerprint ${fingerprint ?? 'unreadable'}; ` +
        `configured: ${secrets.map((s) => s.fingerprint).join(', ')}). Set TOOL_KEY_ENCRYPTION_SECRET to the secret ` +
        'the keys were encrypted with (or, while changing it, TOOL_KEY_ENCRYPTION_SECRET_PREVIOUS to the old one).',
    );
  }
  try {
    const { plaintext, protectedHeader } = await compactDecrypt(jwe, secret.key, {
      keyManagementAlgorithms: ['dir'],
      contentEncryptionAlgorithms: ['A256GCM'],
    });
    const jwk = JSON.parse(new TextDecoder().decode(plaintext)) as JWK;
    if (protectedHeader.cty !== JWE_CTY || jwk.kid !== toolKid) throw new Error('the content is not this tool key');
    return jwk;
  } catch (cause) {
    throw new ToolKeyEncryptionError('ERR_TOOL_KEY_UNREADABLE', `Tool key ${toolKid} could not be decrypted (damaged or swapped row).`, {
      cause,
    });
  }
}
