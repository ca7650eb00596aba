/**
 * Fuzzing the launch (`/lti/apps/{appId}/launch`): 10,000 requests built from a real login
 * and a real id_token of the fake Open edX platform, then mutated — one claim replaced by
 * a hostile or wrong-typed value, hostile headers (alg none/HS256/PS256, missing, odd or
 * huge kid, crit), foreign keys, tampered segments, JWT-shaped garbage, payloads that are
 * not JSON objects (signed by a trusted key), and the browser side: missing, mismatched,
 * duplicated, garbage and tampered cookies (the login is sealed in the state cookie, see
 * server/lti/sealed-login.ts), unknown (a cookie that is not a sealed login)/used/expired
 * states, wrong apps, methods, content types and oversized forms. Each sample predicts its
 * outcome (one code, or a small set when the mutation is blind); the server must agree,
 * never answer 5xx, and write only on a 303 (then exactly one Launch, which holds the
 * login's nonce and so is also what makes the login used) — except the audit
 * trail: a refusal for an existing app stores exactly one LaunchRefusal row with its code
 * (server/lti/refusal-audit.ts), a refusal for an unknown app id none. The launch may take
 * the short road (launchFromCachedRegistration, after this process's own login) or the full
 * one: the codes are the same either way.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { CompactSign, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../server/app.ts';
import type { Database } from '../../server/db/client.ts';
import { MAX_FORM_BYTES } from '../../server/http/form.ts';
import type { LtiErrorCode } from '../../server/lti/errors.ts';
import { stateCookieName } from '../../server/lti/state-cookie.ts';
import { ltiToolUrls } from '../../server/lti/tool-urls.ts';
import { publicAppFor, type PublicApp } from '../helpers/lti-flow.ts';
import { AGS_ENDPOINT_CLAIM, LTI_CLAIM, startTestPlatform, type LaunchOverrides, type TestPlatform } from '../helpers/platform.ts';
import { NO_RATE_LIMITS, TEST_PUBLIC_URL, testConfig } from '../helpers/server.ts';
import {
  AuditModel,
  anyContentType,
  anyCookieHeader,
  changedTables,
  errorRecordingLogger,
  expectLtiRefusal,
  expectSaneResponse,
  fuzzParameters,
  FUZZ_TIMEOUT_MS,
  hostileString,
  jwtShapedGarbage,
  rawComponent,
  snapshotTables,
  UNTHROTTLED_REFUSAL_AUDIT,
  WriteWatch,
  type TableSnapshot,
} from './support.ts';

/** Tool and platform share one frozen clock, so minted tokens are fresh for the whole run. */
const T0 = Date.now();
const NOW_S = Math.floor(T0 / 1000);
const TOLERANCE_S = 5;
/** server/lti/checks/token.ts refuses longer id_tokens before parsing them. */
const MAX_ID_TOKEN = 32 * 1024;
const OWN_KEYSET_URL = 'https://keys.example.test/jwks';
const OWN_ISSUER = 'https://own-key-lms.example.test';
const OWN_CLIENT = 'own-client';

let db: Database;
let watch: WriteWatch;
let app: App;
let loggedErrors: string[];
let platform: TestPlatform;
let publicApp: PublicApp;
let ownApp: { appId: string; launchUrl: string };
let ownKey: CryptoKey;
let baseline: TableSnapshot;
let audit: AuditModel;

/** A login in flight: what the browser holds and what the platform was told. */
interface Login {
  state: string;
  nonce: string;
  /** The state cookie's value: the sealed login. */
  cookie: string;
  /** The app it was sealed for. */
  appId: string;
  sub: string;
  /** The platform's genuine id_token for it (platform logins only). */
  idToken: string;
}
/** Live logins: the one samples launch with, another browser's, and the own-key app's. */
let logins: { primary: Login; secondary: Login; own: Login };
/** A login whose launch already happened, and one that expired. */
let usedLogin: Login;
let expiredLogin: Login;
/** Every login issued, by its sealed cookie: what the model knows the tool sealed. */
const issued = new Map<string, Login>();
/** Added to the tool's frozen clock (the expired login is made in the past). */
let toolClockOffsetMs = 0;

async function login(target: 'platform' | 'own'): Promise<Login> {
  const sub = randomBytes(8).toString('hex');
  const loginUrl = target === 'platform' ? publicApp.urls.loginUrl : ltiToolUrls(TEST_PUBLIC_URL, ownApp.appId).loginUrl;
  const url =
    target === 'platform'
      ? platform.loginInitiation(loginUrl, { targetLinkUri: publicApp.urls.launchUrl, sub }).url
      : `${loginUrl}?${new URLSearchParams({ iss: OWN_ISSUER, client_id: OWN_CLIENT, login_hint: sub, target_link_uri: ownApp.launchUrl })}`;
  const response = await app.fetch(new Request(url));
  expect(response.status).toBe(302);
  const location = response.headers.get('location')!;
  const params = new URL(location).searchParams;
  const state = params.get('state')!;
  const cookie = new RegExp(`^${stateCookieName(state)}=([^;]*);`).exec(response.headers.get('set-cookie') ?? '')?.[1];
  expect(cookie).toMatch(SEALED_SHAPE);
  const idToken = target === 'platform' ? (await platform.authorize(location)).idToken : '';
  const made: Login = { state, nonce: params.get('nonce')!, cookie: cookie!, appId: target === 'platform' ? publicApp.appId : ownApp.appId, sub, idToken };
  issued.set(made.cookie, made);
  return made;
}

/**
 * The sealed login's layout (docs: `l1.<nonce>.<registrationId>.<expiresAtMs>.<mac>`): a
 * cookie without it is no login of ours (ERR_LTI_STATE_UNKNOWN); one with it that the tool
 * did not seal for this state and app is a forgery (ERR_LTI_STATE_MISMATCH).
 */
const SEALED_SHAPE = /^l1\.[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{1,64}\.[0-9]{1,15}\.[^.]{43}$/;

beforeAll(async () => {
  watch = await WriteWatch.create();
  db = watch.db;
  const recording = errorRecordingLogger();
  loggedErrors = recording.errors;
  // ES256 (allowed, like Open edX's RS256): the checks do not depend on the algorithm, and
  // P-256 signs an order of magnitude faster than RSA-2048, which 10,000 tokens need.
  platform = await startTestPlatform({ now: () => T0, alg: 'ES256' });
  const keyPair = await generateKeyPair('RS256', { extractable: true });
  ownKey = keyPair.privateKey;
  const ownJwks = { keys: [{ ...(await exportJWK(keyPair.publicKey)), kid: 'own' }] };
  // Rate limits off: 10,000 launches (and a login after each success) from one in-process
  // "client" would otherwise measure the limiter (tested in test/http/request-limits.test.ts).
  app = createApp(testConfig({ rateLimits: NO_RATE_LIMITS }), {
    db,
    logger: recording.logger,
    now: () => new Date(T0 + toolClockOffsetMs),
    // Unthrottled (on the frozen clock every refusal is in one minute): every refusal of an
    // existing app has its one row, which the model predicts (throttle: test/lti/refusal-audit.test.ts).
    refusalAuditLimits: UNTHROTTLED_REFUSAL_AUDIT,
    // Keysets in-process: the platform's, and a trusted key that signs arbitrary payloads.
    fetch: async (url) => {
      if (url === platform.keysetUrl) return Response.json(platform.publicJwks());
      if (url === OWN_KEYSET_URL) return Response.json(ownJwks);
      return new Response('no', { status: 404 });
    },
  });
  publicApp = await publicAppFor(db, platform, TEST_PUBLIC_URL);
  const owner = await db.prisma.owner.create({ data: { name: 'Own key' } });
  const own = await db.prisma.app.create({ data: { ownerId: owner.id, name: 'Own', exerciseUrl: 'https://ex.example.org/own', isPublic: true } });
  await db.prisma.ltiRegistration.create({
    data: { appId: own.id, issuer: OWN_ISSUER, clientId: OWN_CLIENT, authLoginUrl: `${OWN_ISSUER}/auth`, authTokenUrl: `${OWN_ISSUER}/token`, keysetUrl: OWN_KEYSET_URL, deploymentIds: ['1'] },
  });
  ownApp = { appId: own.id, launchUrl: ltiToolUrls(TEST_PUBLIC_URL, own.id).launchUrl };
  logins = { primary: await login('platform'), secondary: await login('platform'), own: await login('own') };
  // A consumed login (one genuine launch) and an expired one (made one TTL and a second ago).
  usedLogin = await login('platform');
  const first = await app.fetch(launchRequest(publicApp.urls.launchUrl, `id_token=${usedLogin.idToken}&state=${usedLogin.state}`, `${stateCookieName(usedLogin.state)}=${usedLogin.cookie}`));
  expect(first.status).toBe(303);
  toolClockOffsetMs = -(testConfig().loginStateTtlSeconds * 1000 + 1000);
  expiredLogin = await login('platform');
  toolClockOffsetMs = 0;
  baseline = await snapshotTables(db);
  audit = await AuditModel.read(db);
  await watch.sync();
});
afterAll(async () => {
  await platform?.close();
  await db?.close();
});

function launchRequest(url: string, body: string, cookie: string | undefined, method = 'POST', contentType = 'application/x-www-form-urlencoded'): Request {
  const hasBody = method !== 'GET' && method !== 'HEAD';
  return new Request(url, {
    method,
    headers: { ...(hasBody ? { 'content-type': contentType } : {}), ...(cookie !== undefined ? { cookie } : {}) },
    ...(hasBody ? { body } : {}),
  });
}

// ---------------------------------------------------------------------------------------
// Token recipes: plain data (so fast-check can print and shrink them), built per sample.

type Outcome = LtiErrorCode | 'ok';

const CLAIMS_WITH_A_CHECK = ['iss', 'aud', 'azp', 'sub', 'exp', 'iat', 'nbf', 'nonce', 'deploymentId', 'version', 'messageType', 'resourceLink', 'roles', 'targetLinkUri'] as const;
/** Claims that are stored or ignored: any value must still launch, or be refused without a 500. */
const STORED_CLAIMS = ['name', 'given_name', 'family_name', 'email', 'context', 'resourceLinkTitle', 'ags', 'custom', 'unknown'] as const;
type ClaimName = (typeof CLAIMS_WITH_A_CHECK)[number] | (typeof STORED_CLAIMS)[number];

const CLAIM_KEY: Record<string, string> = {
  deploymentId: LTI_CLAIM.deploymentId,
  version: LTI_CLAIM.version,
  messageType: LTI_CLAIM.messageType,
  resourceLink: LTI_CLAIM.resourceLink,
  roles: LTI_CLAIM.roles,
  targetLinkUri: LTI_CLAIM.targetLinkUri,
  context: LTI_CLAIM.context,
  ags: AGS_ENDPOINT_CLAIM,
  custom: LTI_CLAIM.custom,
  unknown: 'https://example.org/claim/whatever',
};

type TokenRecipe =
  | { kind: 'genuine' }
  | { kind: 'claim'; claim: ClaimName; value: unknown; deleted: boolean }
  | { kind: 'header'; variant: 'none' | 'HS256' | 'PS256' | 'rsaUnderEcKid' | 'noKid' | 'emptyKid' | 'numberKid' | 'unknownKid' | 'hugeKid' | 'foreignKey' | 'crit' | 'typ'; kid: string }
  | { kind: 'tamper'; segment: 0 | 1 | 2; position: number; char: string }
  | { kind: 'segments'; count: number }
  | { kind: 'garbage'; token: string }
  | { kind: 'absent' }
  | { kind: 'ownKey'; payload: string | Uint8Array };

/** Values for one claim: the right one's neighbours, wrong types, and hostile text. */
const claimValue: fc.Arbitrary<unknown> = fc.oneof(
  hostileString,
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(null, 0, -1, 1.5, NOW_S, NOW_S - 3600, NOW_S + 3600, NOW_S + 4, NOW_S - 4, 1e308, '1.3.0', '1.3', 'LtiResourceLinkRequest', 'LtiDeepLinkingRequest', '1', '2', [], [''], ['x', 1], {}, { id: '' }, { id: 'rl' }, { id: 1 }, { title: 'x' }),
  fc.array(hostileString, { maxLength: 3 }),
  fc.record({ id: hostileString, title: hostileString, label: hostileString }, { requiredKeys: [] }),
  fc.record({ lineitem: hostileString, lineitems: hostileString, scope: fc.array(hostileString, { maxLength: 3 }) }, { requiredKeys: [] }),
);

const recipeArb: fc.Arbitrary<TokenRecipe> = fc.oneof(
  { weight: 1, arbitrary: fc.constant({ kind: 'genuine' as const }) },
  // Checked claims mostly: a stored claim's mutation usually succeeds, and each success
  // costs a new login (the run stays fast while still storing every kind of hostile value).
  {
    weight: 14,
    arbitrary: fc.record({ kind: fc.constant('claim' as const), claim: fc.constantFrom<ClaimName>(...CLAIMS_WITH_A_CHECK), value: claimValue, deleted: fc.boolean() }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('claim' as const), claim: fc.constantFrom<ClaimName>(...STORED_CLAIMS), value: claimValue, deleted: fc.boolean() }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('header' as const),
      variant: fc.constantFrom('none' as const, 'HS256' as const, 'PS256' as const, 'rsaUnderEcKid' as const, 'noKid' as const, 'emptyKid' as const, 'numberKid' as const, 'unknownKid' as const, 'hugeKid' as const, 'foreignKey' as const, 'crit' as const, 'typ' as const),
      kid: fc.string({ minLength: 1, maxLength: 30 }),
    }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('tamper' as const), segment: fc.constantFrom(0 as const, 1 as const, 2 as const), position: fc.nat(), char: fc.constantFrom('A', '_', '-', '0', '.', '=', '+', '/', ' ', '%') }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('segments' as const), count: fc.constantFrom(1, 2, 4, 5) }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('garbage' as const), token: jwtShapedGarbage }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'absent' as const }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('ownKey' as const),
      payload: fc.oneof(fc.uint8Array({ maxLength: 50 }), fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)), hostileString, fc.constantFrom('', '[]', 'null', '{"iss":', '{}')),
    }),
  },
);

/** What the server must answer for one claim set to `value` (or deleted), all else genuine. */
function claimOutcome(recipe: Extract<TokenRecipe, { kind: 'claim' }>, login: Login): Outcome {
  const v = recipe.deleted ? undefined : recipe.value;
  const isNumber = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
  const isNonEmptyString = (x: unknown): x is string => typeof x === 'string' && x.length > 0;
  const clientId = platform.clientId;
  switch (recipe.claim) {
    case 'exp':
      return !isNumber(v) ? 'ERR_LTI_TOKEN_MALFORMED' : v <= NOW_S - TOLERANCE_S ? 'ERR_LTI_TOKEN_EXPIRED' : 'ok';
    case 'iat':
      return !isNumber(v) ? 'ERR_LTI_TOKEN_MALFORMED' : v > NOW_S + TOLERANCE_S ? 'ERR_LTI_TOKEN_NOT_YET_VALID' : 'ok';
    case 'nbf':
      return v === undefined ? 'ok' : !isNumber(v) ? 'ERR_LTI_TOKEN_MALFORMED' : v > NOW_S + TOLERANCE_S ? 'ERR_LTI_TOKEN_NOT_YET_VALID' : 'ok';
    case 'iss':
      return v === platform.issuer ? 'ok' : 'ERR_LTI_ISSUER';
    case 'aud':
      // The genuine azp is the client id, so an array only needs to contain it.
      return v === clientId || (Array.isArray(v) && v.includes(clientId)) ? 'ok' : 'ERR_LTI_AUDIENCE';
    case 'azp':
      return v === undefined || v === clientId ? 'ok' : 'ERR_LTI_AUDIENCE';
    case 'nonce':
      return v === login.nonce ? 'ok' : 'ERR_LTI_NONCE_MISMATCH';
    case 'deploymentId':
      return !isNonEmptyString(v) ? 'ERR_LTI_DEPLOYMENT_ID_MISSING' : v === platform.deploymentId ? 'ok' : 'ERR_LTI_UNKNOWN_DEPLOYMENT';
    case 'version':
      return v === '1.3.0' ? 'ok' : 'ERR_LTI_VERSION';
    case 'messageType':
      return v === 'LtiResourceLinkRequest' ? 'ok' : 'ERR_LTI_MESSAGE_TYPE';
    case 'resourceLink':
      return typeof v === 'object' && v !== null && isNonEmptyString((v as { id?: unknown }).id) ? 'ok' : 'ERR_LTI_RESOURCE_LINK_MISSING';
    case 'sub':
      return isNonEmptyString(v) ? 'ok' : 'ERR_LTI_SUB_MISSING';
    case 'roles':
      return Array.isArray(v) && v.every((r) => typeof r === 'string') ? 'ok' : 'ERR_LTI_ROLES_MISSING';
    case 'targetLinkUri': {
      try {
        return typeof v === 'string' && new URL(v).origin === TEST_PUBLIC_URL ? 'ok' : 'ERR_LTI_TARGET_LINK_URI';
      } catch {
        return 'ERR_LTI_TARGET_LINK_URI';
      }
    }
    default:
      return 'ok';
  }
}

/** PostgreSQL text takes neither NUL nor unpaired surrogates: the launch refuses them as malformed. */
const unstorable = (v: string) => /\u0000/.test(v) || !isWellFormedUtf16(v);
function isWellFormedUtf16(v: string): boolean {
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(v);
}
/** Cuts like the server: never half a surrogate pair. */
const cut = (v: string, max: number) => (v.length > max && /[\uD800-\uDBFF]$/.test(v.slice(0, max)) ? v.slice(0, max - 1) : v.slice(0, max));

/** The strings the launch stores from a claim (as server/lti/launch.ts cuts them: text at 1000, URLs never). */
function storedStrings(claim: ClaimName, value: unknown): string[] {
  const optional = (v: unknown) => (typeof v === 'string' && v.length > 0 ? [cut(v, 1000)] : []);
  const whole = (v: unknown) => (typeof v === 'string' && v.length > 0 ? [v] : []);
  const field = (name: string) => (typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[name] : undefined);
  switch (claim) {
    case 'sub':
      return typeof value === 'string' ? [value] : [];
    case 'roles':
      return Array.isArray(value) ? value.filter((r): r is string => typeof r === 'string') : [];
    case 'resourceLink':
      return [...(typeof field('id') === 'string' ? [field('id') as string] : []), ...optional(field('title'))];
    case 'name':
    case 'given_name':
    case 'family_name':
    case 'email':
      return optional(value);
    case 'context':
      return [...optional(field('id')), ...optional(field('title')), ...optional(field('label'))];
    case 'ags': {
      const scope = field('scope');
      const scopes = Array.isArray(scope) ? scope.filter((s): s is string => typeof s === 'string').slice(0, 20).map((s) => cut(s, 200)) : [];
      return [...whole(field('lineitem')), ...whole(field('lineitems')), ...scopes];
    }
    default:
      return [];
  }
}

const MALFORMED_OR_SIGNATURE: Outcome[] = ['ERR_LTI_TOKEN_MALFORMED', 'ERR_LTI_BAD_SIGNATURE', 'ERR_LTI_ALG_NOT_ALLOWED', 'ERR_LTI_KID_MISSING', 'ERR_LTI_UNKNOWN_KID', 'ERR_LTI_BAD_REQUEST'];
const CLAIM_CODES: Outcome[] = ['ERR_LTI_TOKEN_MALFORMED', 'ERR_LTI_TOKEN_EXPIRED', 'ERR_LTI_TOKEN_NOT_YET_VALID', 'ERR_LTI_ISSUER', 'ERR_LTI_AUDIENCE'];

/** Builds the id_token for a recipe and says which outcomes it allows. */
async function buildToken(recipe: TokenRecipe, login: Login): Promise<{ idToken: string | undefined; allowed: Outcome[] }> {
  const mint = (overrides: LaunchOverrides) => platform.mintIdToken({ nonce: login.nonce, targetLinkUri: publicApp.urls.launchUrl, sub: login.sub, ...overrides });
  switch (recipe.kind) {
    case 'genuine':
      return { idToken: login.idToken, allowed: ['ok'] };
    case 'claim': {
      const key = CLAIM_KEY[recipe.claim] ?? recipe.claim;
      if (recipe.claim === 'resourceLinkTitle') {
        const value = recipe.deleted ? { id: 'rl' } : { id: 'rl', title: recipe.value };
        const nul = !recipe.deleted && storedStrings('resourceLink', value).some(unstorable);
        return { idToken: await mint({ claims: { [LTI_CLAIM.resourceLink]: value } }), allowed: [nul ? 'ERR_LTI_TOKEN_MALFORMED' : 'ok'] };
      }
      const outcome = claimOutcome(recipe, login);
      const nul = outcome === 'ok' && !recipe.deleted && storedStrings(recipe.claim, recipe.value).some(unstorable);
      return { idToken: await mint({ claims: { [key]: recipe.deleted ? undefined : recipe.value } }), allowed: [nul ? 'ERR_LTI_TOKEN_MALFORMED' : outcome] };
    }
    case 'header': {
      const v = recipe.variant;
      if (v === 'none') return { idToken: await mint({ signWith: 'none' }), allowed: ['ERR_LTI_ALG_NOT_ALLOWED'] };
      if (v === 'HS256') return { idToken: await mint({ alg: v }), allowed: ['ERR_LTI_ALG_NOT_ALLOWED'] };
      if (v === 'PS256') return { idToken: await mint({ header: { alg: 'PS256' } }), allowed: ['ERR_LTI_ALG_NOT_ALLOWED'] };
      // An allowed alg whose key type the keyset's key under that kid does not have.
      if (v === 'rsaUnderEcKid') return { idToken: await mint({ alg: 'RS256', signWith: 'foreign-key' }), allowed: ['ERR_LTI_UNKNOWN_KID'] };
      if (v === 'noKid') return { idToken: await mint({ header: { kid: undefined } }), allowed: ['ERR_LTI_KID_MISSING'] };
      if (v === 'emptyKid') return { idToken: await mint({ header: { kid: '' } }), allowed: ['ERR_LTI_KID_MISSING'] };
      if (v === 'numberKid') return { idToken: await mint({ header: { kid: 7 } }), allowed: ['ERR_LTI_KID_MISSING'] };
      if (v === 'unknownKid') return { idToken: await mint({ header: { kid: `x${recipe.kid}` } }), allowed: ['ERR_LTI_UNKNOWN_KID'] };
      if (v === 'hugeKid') return { idToken: await mint({ header: { kid: 'k'.repeat(33_000) } }), allowed: ['ERR_LTI_TOKEN_MALFORMED'] };
      if (v === 'foreignKey') return { idToken: await mint({ signWith: 'foreign-key' }), allowed: ['ERR_LTI_BAD_SIGNATURE'] };
      if (v === 'crit') {
        // jose will not sign an unknown critical header: swap it in over the genuine signature.
        const [header, payload, signature] = login.idToken.split('.');
        const critical = { ...JSON.parse(Buffer.from(header!, 'base64url').toString()), crit: ['exp'], exp: 1 };
        return { idToken: `${Buffer.from(JSON.stringify(critical)).toString('base64url')}.${payload}.${signature}`, allowed: ['ERR_LTI_TOKEN_MALFORMED', 'ERR_LTI_BAD_SIGNATURE'] };
      }
      return { idToken: await mint({ header: { typ: recipe.kid } }), allowed: ['ok'] };
    }
    case 'tamper': {
      const parts = login.idToken.split('.');
      const segment = parts[recipe.segment]!;
      const at = recipe.position % segment.length;
      parts[recipe.segment] = segment.slice(0, at) + recipe.char + segment.slice(at + 1);
      const idToken = parts.join('.');
      // The same character, or a change in the padding bits of the last one, changes nothing.
      return { idToken, allowed: idToken === login.idToken ? ['ok'] : ['ok', ...MALFORMED_OR_SIGNATURE] };
    }
    case 'segments': {
      const parts = login.idToken.split('.');
      const idToken = recipe.count < 3 ? parts.slice(0, recipe.count).join('.') : [...parts, ...parts].slice(0, recipe.count).join('.');
      return { idToken, allowed: ['ERR_LTI_TOKEN_MALFORMED'] };
    }
    case 'garbage':
      return { idToken: recipe.token, allowed: MALFORMED_OR_SIGNATURE };
    case 'absent':
      return { idToken: undefined, allowed: ['ERR_LTI_BAD_REQUEST'] };
    case 'ownKey': {
      const bytes = typeof recipe.payload === 'string' ? new TextEncoder().encode(recipe.payload) : recipe.payload;
      const idToken = await new CompactSign(bytes).setProtectedHeader({ alg: 'RS256', kid: 'own' }).sign(ownKey);
      // Signed by a trusted key, but never a valid launch: not JSON, not an object, or no exp/iat/iss…
      return { idToken, allowed: CLAIM_CODES };
    }
  }
}

// ---------------------------------------------------------------------------------------
// The request around the token

type StateChoice = 'login' | 'missing' | 'malformed' | 'unknown' | 'otherBrowser' | 'used' | 'expired';
type CookieChoice = 'right' | 'missing' | 'mismatch' | 'amongGarbage' | 'wrongFirst' | 'garbage' | 'tampered' | 'bare';

interface LaunchSample {
  method: string;
  contentType: string;
  target: 'loginApp' | 'otherApp' | 'unknownApp';
  unknownId: string;
  state: StateChoice;
  malformedState: string;
  cookie: CookieChoice;
  garbageCookie: string | undefined;
  /** For a tampered cookie: which character of the sealed value becomes which. */
  tamperAt: number;
  tamperChar: string;
  token: TokenRecipe;
  /** Form fields before / after the real ones (error=…, duplicates, junk, padding). */
  before: Array<[string, string]>;
  after: Array<[string, string]>;
  pad: number;
}

const sampleArb: fc.Arbitrary<LaunchSample> = fc.record({
  method: fc.oneof({ weight: 20, arbitrary: fc.constant('POST') }, { weight: 1, arbitrary: fc.constantFrom('GET', 'PUT', 'HEAD', 'DELETE', 'OPTIONS', 'FOO') }),
  contentType: fc.oneof({ weight: 20, arbitrary: fc.constant('application/x-www-form-urlencoded') }, { weight: 1, arbitrary: anyContentType }),
  target: fc.oneof({ weight: 20, arbitrary: fc.constant('loginApp' as const) }, { weight: 1, arbitrary: fc.constantFrom('otherApp' as const, 'unknownApp' as const) }),
  unknownId: fc.uuid(),
  state: fc.oneof({ weight: 20, arbitrary: fc.constant('login' as const) }, { weight: 1, arbitrary: fc.constantFrom<StateChoice>('missing', 'malformed', 'unknown', 'otherBrowser', 'used', 'expired') }),
  malformedState: hostileString,
  cookie: fc.oneof({ weight: 20, arbitrary: fc.constantFrom<CookieChoice>('right', 'amongGarbage') }, { weight: 1, arbitrary: fc.constantFrom<CookieChoice>('missing', 'mismatch', 'wrongFirst', 'garbage', 'tampered', 'bare') }),
  garbageCookie: anyCookieHeader,
  tamperAt: fc.nat(),
  tamperChar: fc.constantFrom('A', 'z', '_', '-', '0', '9', '.', '=', '+', '/', '%'),
  token: recipeArb,
  before: fc.oneof({ weight: 10, arbitrary: fc.constant<Array<[string, string]>>([]) }, { weight: 1, arbitrary: fc.array(fc.tuple(fc.constantFrom('error', 'id_token', 'state', 'x'), rawComponent), { maxLength: 2 }) }),
  after: fc.array(fc.tuple(fc.oneof({ weight: 10, arbitrary: rawComponent }, { weight: 1, arbitrary: fc.constantFrom('id_token', 'state', 'error') }), rawComponent), { maxLength: 2 }),
  pad: fc.oneof({ weight: 30, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 60_000, max: 70_000 }) }),
});

const enc = (s: string) => encodeURIComponent(s.replace(/[\uD800-\uDFFF]/g, '\uFFFD'));
const FETCH_NORMALISED = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT']);

describe('fuzz: launch', () => {
  it('never 5xx, refuses with the predicted code, writes only for a 303', async () => {
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(sampleArb, async (sample) => {
        loggedErrors.length = 0;
        const useOwn = sample.token.kind === 'ownKey';
        const loginName = useOwn ? 'own' : 'primary';
        const current = logins[loginName];
        const loginAppId = useOwn ? ownApp.appId : publicApp.appId;
        const appId = sample.target === 'loginApp' ? loginAppId : sample.target === 'otherApp' ? (useOwn ? publicApp.appId : ownApp.appId) : sample.unknownId;
        const url = ltiToolUrls(TEST_PUBLIC_URL, appId).launchUrl;

        // The login whose state the form carries (none for a missing, malformed or unknown state).
        const loginsByState: Partial<Record<StateChoice, Login>> = { login: current, otherBrowser: logins.secondary, used: usedLogin, expired: expiredLogin };
        const formLogin = loginsByState[sample.state];
        const formState = {
          login: current.state,
          missing: undefined,
          malformed: sample.malformedState,
          unknown: randomBytesFrom(sample.unknownId),
          otherBrowser: logins.secondary.state,
          used: usedLogin.state,
          expired: expiredLogin.state,
        }[sample.state];
        // The cookie this browser holds: for otherBrowser, the primary login's (a different name).
        const cookieLogin = sample.state === 'otherBrowser' ? current : formLogin;
        const cookieState = cookieLogin?.state ?? formState;
        // (A malformed state goes into the cookie percent-encoded: header values must be visible ASCII.)
        const cv = (v: string) => (/^[A-Za-z0-9._-]*$/.test(v) ? v : enc(v));
        // Its value: the sealed login; for a state never issued, the state itself (a cookie from
        // before stateless logins, or one made up).
        const rightValue = cookieLogin?.cookie ?? cookieState;
        const right = cookieState ? `${cv(stateCookieName(cookieState))}=${cv(rightValue!)}` : '';
        // Another login's genuine sealed cookie under this state's cookie name.
        const wrongValue = logins.secondary.state === cookieState ? current.cookie : logins.secondary.cookie;
        const wrong = cookieState ? `${cv(stateCookieName(cookieState))}=${wrongValue}` : '';
        const tamperedValue = rightValue ? rightValue.slice(0, sample.tamperAt % rightValue.length) + sample.tamperChar + rightValue.slice((sample.tamperAt % rightValue.length) + 1) : '';
        const cookie = {
          right,
          missing: undefined,
          mismatch: wrong,
          amongGarbage: [sample.garbageCookie, right].filter(Boolean).join('; '),
          wrongFirst: `${wrong}; ${right}`,
          garbage: sample.garbageCookie,
          // (A sealed value and the tamper characters are visible ASCII: sent as they are.)
          tampered: cookieState ? `${cv(stateCookieName(cookieState))}=${cookieLogin ? tamperedValue : cv(tamperedValue)}` : '',
          // The pre-upgrade cookie: the bare state as its value.
          bare: cookieState ? `${cv(stateCookieName(cookieState))}=${cv(cookieState)}` : '',
        }[sample.cookie];

        const { idToken, allowed } = await buildToken(sample.token, current);
        const fields = [
          ...sample.before.map(([k, v]) => `${k}=${v}`),
          ...(idToken !== undefined ? [`id_token=${enc(idToken)}`] : []),
          ...(formState !== undefined ? [`state=${enc(formState)}`] : []),
          ...sample.after.map(([k, v]) => `${k}=${v}`),
          ...(sample.pad ? [`pad=${'x'.repeat(sample.pad)}`] : []),
        ];
        const body = fields.join('&');
        const method = FETCH_NORMALISED.has(sample.method.toUpperCase()) ? sample.method.toUpperCase() : sample.method;

        // The outcome: request-level checks first, then the browser binding and login, then the token.
        const form = new URLSearchParams(body);
        const expected = ((): Outcome[] => {
          if (method !== 'POST') return ['ERR_LTI_METHOD'];
          if (!/^application\/x-www-form-urlencoded\b/i.test(sample.contentType)) return ['ERR_LTI_BAD_REQUEST'];
          if (Buffer.byteLength(body) > MAX_FORM_BYTES) return ['ERR_LTI_BODY_TOO_LARGE'];
          if (form.get('error')) return ['ERR_LTI_PLATFORM_ERROR'];
          const sentState = form.get('state');
          if (!sentState || !/^[A-Za-z0-9_-]{43}$/.test(sentState)) return ['ERR_LTI_BAD_REQUEST'];
          if (sentState !== formState || form.get('id_token') !== (idToken ?? null)) {
            // A junk field shadowed ours: still a refusal, whichever check catches it.
            return ['ERR_LTI_BAD_REQUEST', 'ERR_LTI_STATE_COOKIE_MISSING', 'ERR_LTI_STATE_MISMATCH', 'ERR_LTI_STATE_UNKNOWN', 'ERR_LTI_NONCE_REUSED', 'ERR_LTI_STATE_EXPIRED', ...MALFORMED_OR_SIGNATURE];
          }
          const sentCookie = parseFirstCookie(cookie, stateCookieName(sentState));
          if (sentCookie === undefined) return ['ERR_LTI_STATE_COOKIE_MISSING'];
          // Not a sealed login at all: unknown. Sealed, but not by the tool for this state and
          // the app in the URL (altered, another login's, another app): a forgery.
          if (!SEALED_SHAPE.test(sentCookie)) return ['ERR_LTI_STATE_UNKNOWN'];
          const sealed = issued.get(sentCookie);
          if (!sealed || sealed.state !== sentState || sealed.appId !== appId) return ['ERR_LTI_STATE_MISMATCH'];
          if (sealed === expiredLogin) return ['ERR_LTI_STATE_EXPIRED'];
          // A launch already used its nonce: refused before the token is even looked at.
          if (sealed === usedLogin) return ['ERR_LTI_NONCE_REUSED'];
          expect(sealed).toBe(current);
          if (idToken !== undefined && idToken.length > MAX_ID_TOKEN) return ['ERR_LTI_TOKEN_MALFORMED'];
          return allowed;
        })();

        let page = '';
        const { result: response, writes, audited } = await watch.observe(async () => {
          const answer = await app.fetch(launchRequest(url, body, cookie, sample.method, sample.contentType));
          page = await expectSaneResponse(answer, method, loggedErrors);
          return answer;
        });
        expect(loggedErrors).toEqual([]);
        if (response.status === 303) {
          expect(expected).toContain('ok');
          expect(response.headers.get('location')).toMatch(/^https:\/\/ex(ercises)?\.example\.org\/.*#lti_launch=/);
          // The only write of a launch: the Launch row, with the login's nonce (its single use).
          expect(writes).toEqual({ Launch: 1 });
          expect(audited).toBe(0);
          expect(await db.prisma.launch.count({ where: { nonce: current.nonce } })).toBe(1);
          logins[loginName] = await login(useOwn ? 'own' : 'platform');
          await watch.sync();
          seen.set('ok', (seen.get('ok') ?? 0) + 1);
        } else {
          const code = expectLtiRefusal(response, page);
          expect(expected).toContain(code);
          if (code === 'ERR_LTI_METHOD') expect(response.headers.get('allow')).toBe('POST');
          expect(writes).toEqual({});
          // The one write a refusal makes: its audit row, when the app in the URL exists.
          const appExists = sample.target !== 'unknownApp';
          expect(audited).toBe(appExists ? 1 : 0);
          if (appExists) audit.add({ appId, route: 'LAUNCH', code });
          seen.set(code, (seen.get(code) ?? 0) + 1);
        }
      }),
      fuzzParameters('launch'),
    );
    // Back-up for the per-request check: all rows as they were, except the successful launches'.
    const after = await snapshotTables(db);
    expect(changedTables(baseline, after).filter((t) => t !== 'Launch')).toEqual([]);
    expect(after.Launch.rows - baseline.Launch.rows).toBe(seen.get('ok') ?? 0);
    await audit.expectStored();
    console.info('[fuzz] launch outcomes:', Object.fromEntries([...seen].sort()));
    expect(seen.get('ok') ?? 0).toBeGreaterThan(0);
    expect(seen.size).toBeGreaterThanOrEqual(25);
  }, FUZZ_TIMEOUT_MS);
});

/** A 43-character state that was never issued, derived from the sample (reproducible). */
function randomBytesFrom(seed: string): string {
  return Buffer.from(seed.replace(/-/g, '').repeat(2)).toString('base64url').slice(0, 43);
}

/** The first cookie of that name, as the server reads it. */
function parseFirstCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
