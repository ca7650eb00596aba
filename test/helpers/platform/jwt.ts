/**
 * Compact JWS production with full control over the header, including headers jose would
 * refuse to sign (no `alg`, a lying `alg`) and unsigned `alg: none` tokens.
 */
import { base64url, CompactSign, type CryptoKey } from 'jose';

/** Copies `base` and applies `overrides`; a key whose override is `undefined` is deleted. */
export function mergeDeletingUndefined(
  base: Record<string, unknown>,
  overrides: Record<string, unknown> | undefined,
): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(overrides ?? {})) {
    if (value === undefined) delete merged[key];
    else merged[key] = value;
  }
  return merged;
}

function encodeSegment(value: Record<string, unknown>): string {
  return base64url.encode(JSON.stringify(value));
}

/** `base64url(header).base64url(payload).` — an unsigned JWT, built by hand. */
export function unsignedJwt(header: Record<string, unknown>, payload: Record<string, unknown>): string {
  return `${encodeSegment(header)}.${encodeSegment(payload)}.`;
}

/**
 * Signs `payload` with `key` using `alg`. If `header.alg` is not `alg` (absent or different),
 * the token is signed with `alg` and the header segment is then swapped for the requested one,
 * so the signature no longer covers the header that is sent.
 */
export async function signJwt(input: {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  alg: string;
  key: CryptoKey | Uint8Array;
}): Promise<string> {
  const { header, payload, alg, key } = input;
  const signingHeader = { ...header, alg };
  const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader(signingHeader)
    .sign(key);
  if (header.alg === alg) return jws;
  const [, payloadSegment, signature] = jws.split('.');
  return `${encodeSegment(header)}.${payloadSegment}.${signature}`;
}
