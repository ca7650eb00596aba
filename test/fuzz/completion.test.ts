/**
 * Fuzzing the completion route (`/api/completions`): 10,000 requests with launch
 * credentials that are unknown, expired, malformed, almost right, of another scheme, or
 * right (first report and repeats), with any method, content type, body and cookie.
 * Only a known, unexpired credential is accepted: the first time it writes exactly the
 * launch's completion and its grade, afterwards nothing; a known credential whose launch
 * was completed is answered with that result even once expired, writing nothing; everything
 * else is a 401 (or 204 / 405 by method) that writes nothing.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../server/app.ts';
import type { Database } from '../../server/db/client.ts';
import { uuidv7 } from '../../server/ids.ts';
import { hashCredential } from '../../server/lti/launch.ts';
import { NO_RATE_LIMITS, TEST_PUBLIC_URL, testConfig } from '../helpers/server.ts';
import {
  anyBody,
  anyContentType,
  anyCookieHeader,
  anyMethod,
  changedTables,
  errorRecordingLogger,
  expectSaneResponse,
  FUZZ_TIMEOUT_MS,
  fuzzParameters,
  headerValue,
  snapshotTables,
  WriteWatch,
  type TableSnapshot,
} from './support.ts';

const T0 = Date.now();
let db: Database;
let watch: WriteWatch;
let app: App;
let loggedErrors: string[];
let baseline: TableSnapshot;
/**
 * Credentials by role; `fresh` has not reported completion yet when the run starts,
 * `expiredCompleted` reported it and then expired.
 */
const credentials = { fresh: '', completed: '', expired: '', expiredCompleted: '' };
let freshCompleted = false;

async function insertLaunch(appId: string, registrationId: string, expiresAt: Date): Promise<string> {
  const credential = randomBytes(32).toString('base64url');
  await db.prisma.launch.create({
    data: {
      id: uuidv7(T0),
      appId,
      registrationId,
      deploymentId: '1',
      subject: randomBytes(8).toString('hex'),
      roles: [],
      resourceLinkId: 'rl',
      // No AGS line item: the grade is NOT_GRADABLE, so no delivery runs during the fuzz.
      agsScopes: [],
      credentialHash: hashCredential(credential),
      credentialExpiresAt: expiresAt,
    },
  });
  return credential;
}

beforeAll(async () => {
  watch = await WriteWatch.create();
  db = watch.db;
  const recording = errorRecordingLogger();
  loggedErrors = recording.errors;
  // Rate limits off: 10,000 reports from one in-process "client", thousands with the same two
  // live credentials (30 a minute each by default, on a frozen clock), would otherwise be 429s
  // that measure the limiter (tested in test/http/request-limits.test.ts), not the route.
  app = createApp(testConfig({ rateLimits: NO_RATE_LIMITS }), { db, logger: recording.logger, now: () => new Date(T0) });
  const owner = await db.prisma.owner.create({ data: { name: 'Owner' } });
  const exercise = await db.prisma.app.create({ data: { ownerId: owner.id, name: 'App', exerciseUrl: 'https://ex.example.org/', isPublic: true } });
  const registration = await db.prisma.ltiRegistration.create({
    data: { appId: exercise.id, issuer: 'https://lms.example.org', clientId: 'c', authLoginUrl: 'https://lms.example.org/a', authTokenUrl: 'https://lms.example.org/t', keysetUrl: 'https://lms.example.org/k', deploymentIds: ['1'] },
  });
  const later = new Date(T0 + 3_600_000);
  credentials.fresh = await insertLaunch(exercise.id, registration.id, later);
  credentials.completed = await insertLaunch(exercise.id, registration.id, later);
  credentials.expired = await insertLaunch(exercise.id, registration.id, new Date(T0 - 1));
  credentials.expiredCompleted = await insertLaunch(exercise.id, registration.id, later);
  for (const credential of [credentials.completed, credentials.expiredCompleted]) {
    const first = await app.fetch(new Request(`${TEST_PUBLIC_URL}/api/completions`, { method: 'POST', headers: { authorization: `Bearer ${credential}` } }));
    expect(first.status).toBe(200);
  }
  await db.prisma.launch.update({ where: { credentialHash: hashCredential(credentials.expiredCompleted) }, data: { credentialExpiresAt: new Date(T0 - 1) } });
  baseline = await snapshotTables(db);
  await watch.sync();
});
afterAll(async () => {
  await db?.close();
});

type CredentialChoice = 'fresh' | 'completed' | 'expired' | 'expiredCompleted' | 'unknown' | 'flipped' | 'extended' | 'truncated' | 'apiToken';

const authorizationArb = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('bearer' as const),
      scheme: fc.constantFrom('Bearer ', 'bearer ', 'BEARER ', 'Bearer  ', 'Bearer', 'Basic ', 'Bearer\t', 'Token '),
      credential: fc.constantFrom<CredentialChoice>('fresh', 'completed', 'completed', 'expired', 'expiredCompleted', 'unknown', 'flipped', 'extended', 'truncated', 'apiToken'),
      position: fc.nat(42),
      suffix: fc.constantFrom('', ' ', '  ', ' x', ',', '\t'),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('raw' as const), value: headerValue }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'none' as const }) },
);

const sampleArb = fc.record({
  method: fc.oneof({ weight: 6, arbitrary: fc.constant('POST') }, { weight: 1, arbitrary: anyMethod }),
  authorization: authorizationArb,
  unknown: fc.stringMatching(/^[A-Za-z0-9_-]{43}$/),
  contentType: fc.option(anyContentType, { nil: undefined }),
  body: anyBody,
  cookie: anyCookieHeader,
  origin: fc.option(headerValue, { nil: undefined }),
});

const CREDENTIAL_PATTERN = /^[A-Za-z0-9_-]{43}$/;

describe('fuzz: completion', () => {
  it('never 5xx, accepts only a live credential, writes only its first completion', async () => {
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(sampleArb, async (sample) => {
        loggedErrors.length = 0;
        const method = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS'].includes(sample.method.toUpperCase()) ? sample.method.toUpperCase() : sample.method;
        let authorization: string | undefined;
        const auth = sample.authorization;
        if (auth.kind === 'raw') authorization = auth.value;
        else if (auth.kind === 'bearer') {
          const named = auth.credential === 'fresh' || auth.credential === 'expired' || auth.credential === 'expiredCompleted' ? auth.credential : 'completed';
          const base = auth.credential === 'unknown' || auth.credential === 'apiToken' ? sample.unknown : credentials[named];
          const flip = (s: string) => s.slice(0, auth.position) + (s[auth.position] === 'A' ? 'B' : 'A') + s.slice(auth.position + 1);
          const credential = {
            fresh: base,
            completed: base,
            expired: base,
            expiredCompleted: base,
            unknown: base,
            flipped: flip(base),
            extended: `${base}A`,
            truncated: base.slice(0, 42),
            apiToken: `lmt_${base}`,
          }[auth.credential];
          authorization = `${auth.scheme}${credential}${auth.suffix}`;
        }
        const hasBody = method !== 'GET' && method !== 'HEAD' && sample.body !== undefined;
        const request = new Request(`${TEST_PUBLIC_URL}/api/completions`, {
          method: sample.method,
          headers: {
            ...(authorization !== undefined ? { authorization } : {}),
            ...(sample.cookie !== undefined ? { cookie: sample.cookie } : {}),
            ...(sample.origin !== undefined ? { origin: sample.origin } : {}),
            ...(hasBody && sample.contentType !== undefined ? { 'content-type': sample.contentType } : {}),
          },
          ...(hasBody ? { body: sample.body } : {}),
        });

        // The model: the bearer token as the server reads it, then which launch it names.
        const token = request.headers.get('authorization')?.match(/^Bearer[ ]+(\S+)\s*$/i)?.[1];
        const live = token !== undefined && CREDENTIAL_PATTERN.test(token) && (token === credentials.fresh || token === credentials.completed);
        // Expired, but its completion was recorded while it was live: the stored result.
        const recordedRepeat = token !== undefined && token === credentials.expiredCompleted;
        const expected = method === 'OPTIONS' ? 204 : method !== 'POST' ? 405 : live || recordedRepeat ? 200 : 401;
        const firstReport = live && token === credentials.fresh && !freshCompleted;

        let body = '';
        const { result: response, writes } = await watch.observe(async () => {
          const answer = await app.fetch(request);
          body = await expectSaneResponse(answer, method, loggedErrors);
          return answer;
        });
        expect(loggedErrors).toEqual([]);
        expect(response.status).toBe(expected);
        expect(response.headers.get('access-control-allow-origin')).toBe('*');
        if (expected === 204) expect(body).toBe('');
        else expect(response.headers.get('content-type')).toMatch(/^application\/json/);
        if (expected === 401) expect(JSON.parse(body)).toMatchObject({ error: 'invalid_credential' });
        if (expected === 200) expect(JSON.parse(body)).toMatchObject({ status: 'recorded', grade: { state: 'not_gradable' } });
        if (firstReport) {
          // The launch marked completed, and its grade: the only writes a completion makes.
          expect(writes).toEqual({ Launch: 1, Grade: 1 });
          freshCompleted = true;
        } else {
          expect(writes).toEqual({});
        }
        const label = `${expected}${firstReport ? ' first' : ''}${recordedRepeat && expected === 200 ? ' after expiry' : ''}`;
        seen.set(label, (seen.get(label) ?? 0) + 1);
      }),
      fuzzParameters('completion'),
    );
    const after = await snapshotTables(db);
    expect(changedTables(baseline, after)).toEqual(freshCompleted ? ['Launch', 'Grade'] : []);
    console.info('[fuzz] completion statuses:', Object.fromEntries(seen));
    for (const label of ['200', '200 first', '200 after expiry', '204', '401', '405']) expect(seen.get(label) ?? 0, label).toBeGreaterThan(0);
  }, FUZZ_TIMEOUT_MS);
});
