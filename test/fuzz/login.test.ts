/**
 * Fuzzing the OIDC login initiation (`/lti/apps/{appId}/login`): 10,000 structure-aware
 * requests — the platform's real parameters, each kept, dropped, emptied, duplicated,
 * oversized or replaced by hostile text, raw broken percent-encoding, odd methods and
 * content types, random cookies, unknown/private/ambiguous apps. A model of docs/lti.md
 * ("Login initiation") and README "Request limits" (a URL over 8 KiB is 414 before any
 * check) predicts the outcome of each; the server must agree, never answer 5xx, and write
 * nothing, a 302 included (the login is sealed into the state cookie, which must open as the
 * login the platform was sent: server/lti/sealed-login.ts) — except the audit trail: a
 * refusal by the login handler for an existing app stores exactly one LaunchRefusal row
 * (server/lti/refusal-audit.ts), an unknown app id or a 404/414 none.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../server/app.ts';
import type { Database } from '../../server/db/client.ts';
import { MAX_FORM_BYTES } from '../../server/http/form.ts';
import type { LtiErrorCode } from '../../server/lti/errors.ts';
import { LoginStateKey } from '../../server/lti/login-state-key.ts';
import { openLogin } from '../../server/lti/sealed-login.ts';
import { stateCookieName } from '../../server/lti/state-cookie.ts';
import { publicAppFor, type PublicApp } from '../helpers/lti-flow.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { NO_RATE_LIMITS, TEST_PUBLIC_URL, testConfig } from '../helpers/server.ts';
import {
  AuditModel,
  anyContentType,
  anyCookieHeader,
  anyMethod,
  changedTables,
  errorRecordingLogger,
  expectLtiRefusal,
  expectSaneResponse,
  fuzzParameters,
  FUZZ_TIMEOUT_MS,
  hostileString,
  rawComponent,
  snapshotTables,
  UNTHROTTLED_REFUSAL_AUDIT,
  uriTooLong,
  WriteWatch,
  type TableSnapshot,
} from './support.ts';

let db: Database;
let watch: WriteWatch;
let app: App;
let loggedErrors: string[];
let platform: TestPlatform;
let publicApp: PublicApp;
let baseline: TableSnapshot;
let audit: AuditModel;
/** The login state MAC key the app seals with (the same ServerSecret row). */
let key: Buffer;
/** The tool's login TTL. */
const LOGIN_TTL_MS = testConfig().loginStateTtlSeconds * 1000;
/** App id → what the model knows about it. */
const apps = new Map<string, { isPublic: boolean; registrations: Array<{ id: string; issuer: string; clientId: string; deploymentIds: string[]; authLoginUrl: string }> }>();
let ids: { public: string; private: string; twoRegs: string };
/** The parameters the platform sends for the public app. */
let validParams: Record<string, string>;

beforeAll(async () => {
  watch = await WriteWatch.create();
  db = watch.db;
  const recording = errorRecordingLogger();
  loggedErrors = recording.errors;
  // Rate limits off: 10,000 logins from one in-process "client" would otherwise measure the
  // limiter (tested in test/http/request-limits.test.ts). The audit trail unthrottled, so
  // every refusal of an existing app has its one row (throttle: test/lti/refusal-audit.test.ts).
  app = createApp(testConfig({ rateLimits: NO_RATE_LIMITS }), { db, logger: recording.logger, refusalAuditLimits: UNTHROTTLED_REFUSAL_AUDIT });
  platform = await startTestPlatform();
  publicApp = await publicAppFor(db, platform, TEST_PUBLIC_URL);
  const reg = platform.registration();
  const ownerId = (await db.prisma.owner.create({ data: { name: 'Other' } })).id;
  const privateApp = await db.prisma.app.create({ data: { ownerId, name: 'Private', exerciseUrl: 'https://ex.example.org/', isPublic: false } });
  await db.prisma.ltiRegistration.create({ data: { ...reg, appId: privateApp.id, clientId: randomUUID() } });
  const twoRegsApp = await db.prisma.app.create({ data: { ownerId, name: 'Two', exerciseUrl: 'https://ex.example.org/', isPublic: true } });
  const twoRegs = await Promise.all(
    [randomUUID(), randomUUID()].map((clientId) => db.prisma.ltiRegistration.create({ data: { ...reg, clientId, appId: twoRegsApp.id } })),
  );
  ids = { public: publicApp.appId, private: privateApp.id, twoRegs: twoRegsApp.id };
  apps.set(ids.public, { isPublic: true, registrations: [{ ...reg, id: publicApp.registrationId }] });
  apps.set(ids.private, { isPublic: false, registrations: [] });
  apps.set(ids.twoRegs, { isPublic: true, registrations: twoRegs });
  const init = platform.loginInitiation(publicApp.urls.loginUrl, { targetLinkUri: publicApp.urls.launchUrl });
  validParams = Object.fromEntries(new URL(init.url).searchParams);
  expect(Object.keys(validParams).sort()).toEqual(['client_id', 'iss', 'login_hint', 'lti_deployment_id', 'lti_message_hint', 'target_link_uri']);
  // The key exists before the baseline, as on any database past its first login or /readyz.
  key = await new LoginStateKey(db.prisma).get();
  baseline = await snapshotTables(db);
  audit = await AuditModel.read(db);
  await watch.sync();
});
afterAll(async () => {
  await platform?.close();
  await db?.close();
});

// ---------------------------------------------------------------------------------------
// The generated request

const PARAM_NAMES = ['iss', 'login_hint', 'target_link_uri', 'client_id', 'lti_message_hint', 'lti_deployment_id', 'deployment_id'] as const;
type ParamName = (typeof PARAM_NAMES)[number];

/** Plausible wrong values per parameter (the model decides whether each is still accepted). */
const ALTERNATES: Record<ParamName, (valid: string) => string[]> = {
  iss: (v) => [`${v}/`, `${v}//`, v.toUpperCase(), v.replace('http:', 'https:'), 'https://other-lms.example.org', ` ${v}`],
  login_hint: () => ['x', '0'],
  target_link_uri: (v) => [
    v.replace('/launch', '/login'),
    `${TEST_PUBLIC_URL}/`,
    `${TEST_PUBLIC_URL}:443/anything`,
    'https://evil.example.org/lti/launch',
    'http://tool.example.test/lti/launch',
    `${TEST_PUBLIC_URL}@evil.example.org/`,
    '//tool.example.test/x',
    'not a url',
  ],
  client_id: (v) => [randomUUID(), v.toUpperCase(), `${v} `],
  lti_message_hint: () => ['x'],
  lti_deployment_id: () => ['2', '1 ', '01', ''],
  deployment_id: () => ['1', '2'],
};

type Variant = { kind: 'valid' | 'missing' | 'empty' | 'oversized' } | { kind: 'alternate'; index: number } | { kind: 'hostile'; value: string; duplicateFirst: boolean };

const variantArb: fc.Arbitrary<Variant> = fc.oneof(
  { weight: 8, arbitrary: fc.constant({ kind: 'valid' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'missing' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'empty' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'oversized' as const }) },
  { weight: 2, arbitrary: fc.nat(7).map((index) => ({ kind: 'alternate' as const, index })) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('hostile' as const), value: hostileString, duplicateFirst: fc.boolean() }) },
);

interface LoginSample {
  method: string;
  target: 'public' | 'private' | 'twoRegs' | 'unknown' | 'upper' | 'dashes' | 'trailingSlash' | 'encodedSlash';
  unknownId: string;
  variants: Record<ParamName, Variant>;
  extra: Array<[string, string]>;
  contentType: string;
  cookie: string | undefined;
  /** For POST: also put garbage in the query string (the form wins). */
  queryJunk: string;
}

const sampleArb: fc.Arbitrary<LoginSample> = fc.record({
  method: fc.oneof({ weight: 6, arbitrary: fc.constantFrom('GET', 'POST') }, { weight: 1, arbitrary: anyMethod }),
  target: fc.oneof(
    { weight: 6, arbitrary: fc.constant('public' as const) },
    { weight: 3, arbitrary: fc.constantFrom('private' as const, 'twoRegs' as const, 'unknown' as const, 'upper' as const) },
    { weight: 1, arbitrary: fc.constantFrom('dashes' as const, 'trailingSlash' as const, 'encodedSlash' as const) },
  ),
  unknownId: fc.uuid(),
  variants: fc.record(Object.fromEntries(PARAM_NAMES.map((n) => [n, n === 'deployment_id' ? fc.oneof({ weight: 6, arbitrary: fc.constant({ kind: 'missing' as const }) }, { weight: 1, arbitrary: variantArb }) : variantArb])) as Record<ParamName, fc.Arbitrary<Variant>>),
  extra: fc.array(fc.tuple(rawComponent, rawComponent), { maxLength: 3 }),
  contentType: fc.oneof({ weight: 5, arbitrary: fc.constant('application/x-www-form-urlencoded') }, { weight: 1, arbitrary: anyContentType }),
  cookie: anyCookieHeader,
  queryJunk: fc.oneof(fc.constant(''), rawComponent),
});

/** Encodes like a form, but keeps lone surrogates (as U+FFFD) instead of throwing. */
const enc = (s: string) => encodeURIComponent(s.replace(/[\uD800-\uDFFF]/g, '\uFFFD'));

function rawParams(sample: LoginSample): string {
  const pairs: string[] = [];
  for (const name of PARAM_NAMES) {
    const valid = validParams[name] ?? validParams.lti_deployment_id!;
    const v = sample.variants[name];
    const add = (value: string) => pairs.push(`${name}=${enc(value)}`);
    if (v.kind === 'valid') add(valid);
    else if (v.kind === 'empty') add('');
    else if (v.kind === 'oversized') add(valid + 'x'.repeat(4097));
    else if (v.kind === 'alternate') {
      const alternates = ALTERNATES[name](valid);
      add(alternates[v.index % alternates.length]!);
    } else if (v.kind === 'hostile') {
      // A duplicated parameter: the first occurrence is the one that counts.
      for (const value of v.duplicateFirst ? [v.value, valid] : [valid, v.value]) add(value);
    }
  }
  for (const [k, val] of sample.extra) pairs.push(`${k}=${val}`);
  return pairs.join('&');
}

function pathFor({ target, unknownId }: LoginSample): { path: string; appId: string | undefined } {
  switch (target) {
    case 'public':
    case 'private':
    case 'twoRegs':
      return { path: `/lti/apps/${ids[target]}/login`, appId: ids[target] };
    case 'unknown':
      return { path: `/lti/apps/${unknownId}/login`, appId: unknownId };
    case 'upper':
      return { path: `/lti/apps/${ids.public.toUpperCase()}/login`, appId: ids.public };
    case 'dashes':
      return { path: `/lti/apps/${'-'.repeat(36)}/login`, appId: '-'.repeat(36) };
    case 'trailingSlash':
      return { path: `/lti/apps/${ids.public}/login/`, appId: undefined };
    case 'encodedSlash':
      return { path: `/lti/apps/${ids.public}%2Flogin`, appId: undefined };
  }
}

// ---------------------------------------------------------------------------------------
// The model (docs/lti.md, "Login initiation")

type Expected = { kind: 'notFound' } | { kind: 'refused'; code: LtiErrorCode } | { kind: 'redirect'; appId: string; registrationId: string; authLoginUrl: string };

const FETCH_NORMALISED = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT']);

function expectedOutcome(sample: LoginSample, url: string, method: string, appId: string | undefined, rawBody: string, params: URLSearchParams): Expected {
  const refused = (code: LtiErrorCode): Expected => ({ kind: 'refused', code });
  // Before routing (server/app.ts): any method, any path under /lti/ (the 404 paths too).
  if (uriTooLong(url)) return refused('ERR_LTI_URI_TOO_LONG');
  if (appId === undefined) return { kind: 'notFound' };
  if (method !== 'GET' && method !== 'POST') return refused('ERR_LTI_METHOD');
  if (method === 'POST' && !/^application\/x-www-form-urlencoded\b/i.test(sample.contentType)) return refused('ERR_LTI_BAD_REQUEST');
  if (method === 'POST' && Buffer.byteLength(rawBody) > MAX_FORM_BYTES) return refused('ERR_LTI_BODY_TOO_LARGE');
  const values: Partial<Record<ParamName, string | undefined>> = {};
  for (const name of PARAM_NAMES) {
    if (name === 'deployment_id' && values.lti_deployment_id !== undefined) break;
    const value = params.get(name) ?? undefined;
    if (value !== undefined && value.length > 4096) return refused('ERR_LTI_BAD_REQUEST');
    if (value?.includes('\u0000')) return refused('ERR_LTI_BAD_REQUEST');
    if ((name === 'iss' || name === 'login_hint' || name === 'target_link_uri') && !value) return refused('ERR_LTI_BAD_REQUEST');
    values[name] = value || undefined;
  }
  let origin: string | undefined;
  try {
    origin = new URL(values.target_link_uri!).origin;
  } catch {
    origin = undefined;
  }
  if (origin !== TEST_PUBLIC_URL) return refused('ERR_LTI_TARGET_LINK_URI');
  const known = apps.get(appId);
  if (!known) return refused('ERR_LTI_UNKNOWN_APP');
  if (!known.isPublic) return refused('ERR_LTI_APP_NOT_PUBLIC');
  // The issuer is compared exactly: `${iss}/` and `${iss}//` (ALTERNATES) match nothing.
  const matching = known.registrations.filter((r) => r.issuer === values.iss && (values.client_id === undefined || r.clientId === values.client_id));
  if (matching.length === 0) return refused('ERR_LTI_UNKNOWN_REGISTRATION');
  if (matching.length > 1) return refused('ERR_LTI_CLIENT_ID_REQUIRED');
  const deploymentId = values.lti_deployment_id ?? values.deployment_id;
  if (deploymentId !== undefined && !matching[0]!.deploymentIds.includes(deploymentId)) return refused('ERR_LTI_UNKNOWN_DEPLOYMENT');
  return { kind: 'redirect', appId, registrationId: matching[0]!.id, authLoginUrl: matching[0]!.authLoginUrl };
}

// ---------------------------------------------------------------------------------------

describe('fuzz: login initiation', () => {
  it('never 5xx, answers as docs/lti.md says, writes nothing but the refusal audit row (a 302 nothing at all)', async () => {
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(sampleArb, async (sample) => {
        loggedErrors.length = 0;
        const { path, appId } = pathFor(sample);
        const raw = rawParams(sample);
        const method = FETCH_NORMALISED.has(sample.method.toUpperCase()) ? sample.method.toUpperCase() : sample.method;
        const hasBody = method !== 'GET' && method !== 'HEAD';
        const query = hasBody ? sample.queryJunk : raw;
        const request = new Request(`${TEST_PUBLIC_URL}${path}${query ? `?${query}` : ''}`, {
          method: sample.method,
          headers: { ...(hasBody ? { 'content-type': sample.contentType } : {}), ...(sample.cookie !== undefined ? { cookie: sample.cookie } : {}) },
          ...(hasBody ? { body: raw } : {}),
        });
        const expected = expectedOutcome(sample, request.url, method, appId, raw, hasBody ? new URLSearchParams(raw) : new URL(request.url).searchParams);
        // The login handler refused an app that exists: one audit row (a 414 never reaches the handler).
        const audits = expected.kind === 'refused' && expected.code !== 'ERR_LTI_URI_TOO_LONG' && appId !== undefined && apps.has(appId);

        let body = '';
        const sentAt = Date.now();
        const { result: response, writes, audited } = await watch.observe(async () => {
          const answer = await app.fetch(request);
          body = await expectSaneResponse(answer, method, loggedErrors);
          return answer;
        });
        expect(loggedErrors).toEqual([]);
        expect(audited).toBe(audits ? 1 : 0);
        if (audits) audit.add({ appId: appId!, route: 'LOGIN', code: (expected as { code: string }).code });

        if (expected.kind === 'notFound') {
          expect(response.status).toBe(404);
          expect(response.headers.get('content-type')).toMatch(/^application\/json/);
          expect(writes).toEqual({});
        } else if (expected.kind === 'refused') {
          expect(expectLtiRefusal(response, body)).toBe(expected.code);
          if (expected.code === 'ERR_LTI_METHOD') expect(response.headers.get('allow')).toBe('GET, POST');
          expect(writes).toEqual({});
        } else {
          expect(response.status).toBe(302);
          const location = new URL(response.headers.get('location')!);
          expect(`${location.origin}${location.pathname}`).toBe(expected.authLoginUrl);
          const state = location.searchParams.get('state')!;
          // A successful login writes nothing either: the login is in its state cookie…
          expect(writes).toEqual({});
          const cookie = new RegExp(`^${stateCookieName(state)}=([^;]+);`).exec(response.headers.get('set-cookie') ?? '')?.[1];
          expect(cookie).toBeDefined();
          // …sealed for this state and this app, with the nonce the platform was sent, the
          // registration the model chose, and the tool's TTL from now.
          const opened = openLogin(key, cookie!, state, expected.appId);
          expect(opened.ok).toBe(true);
          const login = (opened as Extract<typeof opened, { ok: true }>).login;
          expect(login.nonce).toBe(location.searchParams.get('nonce'));
          expect(login.registrationId).toBe(expected.registrationId);
          expect(login.expiresAt.getTime()).toBeGreaterThanOrEqual(sentAt + LOGIN_TTL_MS);
          expect(login.expiresAt.getTime()).toBeLessThanOrEqual(Date.now() + LOGIN_TTL_MS);
        }
        const label = expected.kind === 'refused' ? expected.code : expected.kind;
        seen.set(label, (seen.get(label) ?? 0) + 1);
      }),
      fuzzParameters('login'),
    );
    // Back-up for the per-request check: every row of every table is as it was.
    expect(changedTables(baseline, await snapshotTables(db))).toEqual([]);
    await audit.expectStored();
    console.info('[fuzz] login outcomes:', Object.fromEntries([...seen].sort()));
    // The generator reaches every branch of the login, not just the first check.
    for (const outcome of ['redirect', 'notFound', 'ERR_LTI_URI_TOO_LONG', 'ERR_LTI_METHOD', 'ERR_LTI_BAD_REQUEST', 'ERR_LTI_TARGET_LINK_URI', 'ERR_LTI_UNKNOWN_APP', 'ERR_LTI_APP_NOT_PUBLIC', 'ERR_LTI_UNKNOWN_REGISTRATION', 'ERR_LTI_CLIENT_ID_REQUIRED', 'ERR_LTI_UNKNOWN_DEPLOYMENT']) {
      expect(seen.get(outcome) ?? 0, outcome).toBeGreaterThan(0);
    }
  }, FUZZ_TIMEOUT_MS);
});
