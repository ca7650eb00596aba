/**
 * The launch id_token: Open edX's default claims, overrides, and signing.
 */
import { randomBytes } from 'node:crypto';
import { importJWK, type CryptoKey } from 'jose';
import {
  AGS_ENDPOINT_CLAIM,
  DEFAULT_CONTEXT_ID,
  DEFAULT_RESOURCE_LINK_ID,
  ID_TOKEN_TTL_SECONDS,
  LAUNCH_AGS_SCOPES,
  LEARNER_ROLES,
  LTI_CLAIM,
} from './constants.ts';
import { mergeDeletingUndefined, signJwt, unsignedJwt } from './jwt.ts';
import type { KeyRing } from './keys.ts';
import type { MintIdTokenOptions } from './types.ts';

/** What minting needs to know about the platform. */
export interface IdTokenContext {
  issuer: string;
  clientId: string;
  deploymentId: string;
  variant: 'openedx' | 'canvas';
  keys: KeyRing;
  now: () => number;
  lineitemUrl(resourceLinkId: string): string;
  lineitemsUrl: string;
}

/** A fresh user id in Open edX's anonymous-user-id shape (32 hex digits). */
export function randomUserId(): string {
  return randomBytes(16).toString('hex');
}

/** The claims Open edX puts in a resource link launch (no name/email), before overrides. */
export function defaultIdTokenClaims(
  ctx: IdTokenContext,
  launch: { sub: string; nonce: string; targetLinkUri: string; resourceLinkId: string },
  times: { iat: number; exp: number; nbf?: number },
): Record<string, unknown> {
  const aud = ctx.variant === 'canvas' ? [ctx.clientId, 'other'] : ctx.clientId;
  return {
    iss: ctx.issuer,
    aud,
    azp: ctx.clientId,
    sub: launch.sub,
    ...times,
    nonce: launch.nonce,
    [LTI_CLAIM.messageType]: 'LtiResourceLinkRequest',
    [LTI_CLAIM.version]: '1.3.0',
    [LTI_CLAIM.deploymentId]: ctx.deploymentId,
    [LTI_CLAIM.targetLinkUri]: launch.targetLinkUri,
    [LTI_CLAIM.resourceLink]: { id: launch.resourceLinkId, title: 'Exercise 1' },
    [LTI_CLAIM.roles]: [...LEARNER_ROLES],
    [LTI_CLAIM.context]: {
      id: DEFAULT_CONTEXT_ID,
      title: 'Test Course',
      label: 'Course',
      type: ['http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering'],
    },
    [LTI_CLAIM.toolPlatform]: {
      guid: ctx.issuer,
      name: ctx.variant === 'canvas' ? 'Canvas test platform' : 'Open edX test platform',
      product_family_code: ctx.variant,
    },
    [LTI_CLAIM.launchPresentation]: { document_target: 'iframe' },
    [AGS_ENDPOINT_CLAIM]: {
      lineitem: ctx.lineitemUrl(launch.resourceLinkId),
      lineitems: ctx.lineitemsUrl,
      scope: [...LAUNCH_AGS_SCOPES],
    },
  };
}

/** iat/exp/nbf in seconds, from the context's clock and the overrides. */
function tokenTimes(now: () => number, opts: MintIdTokenOptions): { iat: number; exp: number; nbf?: number } {
  const iat = Math.floor(now() / 1000) + (opts.iatOffsetSeconds ?? 0);
  const exp = iat + (opts.expiresInSeconds ?? ID_TOKEN_TTL_SECONDS);
  return opts.nbfOffsetSeconds === undefined ? { iat, exp } : { iat, exp, nbf: iat + opts.nbfOffsetSeconds };
}

/** Finds the key for `alg`: the client id as HMAC secret, the platform key, or a foreign one. */
async function resolveSigningKey(
  ctx: IdTokenContext,
  alg: string,
  signWith: 'platform' | 'foreign-key',
): Promise<CryptoKey | Uint8Array> {
  if (alg.startsWith('HS')) {
    return signWith === 'foreign-key' ? randomBytes(32) : new TextEncoder().encode(ctx.clientId);
  }
  if (signWith === 'foreign-key') return (await ctx.keys.foreign(alg)).privateKey;
  const key = ctx.keys.current();
  if (key.alg === alg) return key.privateKey;
  try {
    return (await importJWK(key.privateJwk, alg)) as CryptoKey;
  } catch (cause) {
    throw new TypeError(`The platform's ${key.alg} key cannot sign ${alg}; use signWith: 'foreign-key'`, {
      cause,
    });
  }
}

/** Builds and signs an id_token as described by `opts` (see LaunchOverrides). */
export async function mintIdToken(ctx: IdTokenContext, opts: MintIdTokenOptions): Promise<string> {
  const launch = {
    sub: opts.sub ?? randomUserId(),
    nonce: opts.nonce,
    targetLinkUri: opts.targetLinkUri,
    resourceLinkId: opts.resourceLinkId ?? DEFAULT_RESOURCE_LINK_ID,
  };
  const payload = mergeDeletingUndefined(
    defaultIdTokenClaims(ctx, launch, tokenTimes(ctx.now, opts)),
    opts.claims,
  );
  const signWith = opts.signWith ?? 'platform';
  const kid = ctx.keys.current().kid;
  if (signWith === 'none') {
    return unsignedJwt(mergeDeletingUndefined({ alg: 'none', kid, typ: 'JWT' }, opts.header), payload);
  }
  const alg = opts.alg ?? ctx.keys.current().alg;
  const header = mergeDeletingUndefined({ alg, kid, typ: 'JWT' }, opts.header);
  return signJwt({ header, payload, alg, key: await resolveSigningKey(ctx, alg, signWith) });
}
