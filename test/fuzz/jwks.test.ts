/**
 * Fuzzing the tool keyset (`/lti/jwks`): 10,000 requests with any method, path spellings
 * around the route, query strings, headers, cookies and bodies. GET and HEAD answer the
 * public keys only (never a private member); other methods 405; a path + query over 8 KiB
 * is 414 on any path (README "Request limits"); nothing is ever written.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../server/app.ts';
import type { Database } from '../../server/db/client.ts';
import { TEST_PUBLIC_URL, testConfig } from '../helpers/server.ts';
import {
  anyBody,
  anyContentType,
  anyCookieHeader,
  anyMethod,
  changedTables,
  errorRecordingLogger,
  expectSaneResponse,
  expectUriTooLong,
  FUZZ_TIMEOUT_MS,
  fuzzParameters,
  headerValue,
  rawComponent,
  snapshotTables,
  uriTooLong,
  WriteWatch,
  type TableSnapshot,
} from './support.ts';

let db: Database;
let watch: WriteWatch;
let app: App;
let loggedErrors: string[];
let baseline: TableSnapshot;

beforeAll(async () => {
  watch = await WriteWatch.create();
  db = watch.db;
  const recording = errorRecordingLogger();
  loggedErrors = recording.errors;
  app = createApp(testConfig(), { db, logger: recording.logger });
  await app.toolKeys.ensureKey();
  await app.toolKeys.rotate(); // two published keys: the current one and the next
  baseline = await snapshotTables(db);
  await watch.sync();
});
afterAll(async () => {
  await db?.close();
});

const PATHS = ['/lti/jwks', '/lti/jwks', '/lti/jwks', '/lti/jwks/', '/lti/JWKS', '//lti/jwks', '/lti/./jwks', '/lti/x/../jwks', '/lti/jwks%2F', '/lti/%6Awks', '/lti/jwks.json', '/lti/jwks;x', '/lti', '/lti/'];
/** Private members of RSA and EC JWKs: none may ever be published. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

const sampleArb = fc.record({
  method: fc.oneof({ weight: 3, arbitrary: fc.constantFrom('GET', 'HEAD') }, { weight: 1, arbitrary: anyMethod }),
  path: fc.constantFrom(...PATHS),
  query: fc.option(rawComponent, { nil: undefined }),
  headers: fc.dictionary(fc.constantFrom('accept', 'if-none-match', 'if-modified-since', 'authorization', 'origin', 'range', 'x-forwarded-host', 'accept-encoding'), headerValue, { maxKeys: 4 }),
  cookie: anyCookieHeader,
  contentType: anyContentType,
  body: anyBody,
});

describe('fuzz: keyset', () => {
  it('never 5xx, publishes public keys only, writes nothing', async () => {
    const seen = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(sampleArb, async (sample) => {
        loggedErrors.length = 0;
        const method = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS'].includes(sample.method.toUpperCase()) ? sample.method.toUpperCase() : sample.method;
        const hasBody = method !== 'GET' && method !== 'HEAD' && sample.body !== undefined;
        const request = new Request(`${TEST_PUBLIC_URL}${sample.path}${sample.query !== undefined ? `?${sample.query}` : ''}`, {
          method: sample.method,
          headers: { ...sample.headers, ...(sample.cookie !== undefined ? { cookie: sample.cookie } : {}), ...(hasBody ? { 'content-type': sample.contentType } : {}) },
          ...(hasBody ? { body: sample.body } : {}),
        });
        const isRoute = new URL(request.url).pathname === '/lti/jwks';
        // Checked before any route (server/app.ts MAX_URL_BYTES): long queries are 414, whatever the method.
        const tooLong = uriTooLong(request.url);
        let body = '';
        const { result: response, writes } = await watch.observe(async () => {
          const answer = await app.fetch(request);
          body = await expectSaneResponse(answer, method, loggedErrors);
          return answer;
        });
        expect(loggedErrors).toEqual([]);
        expect(writes).toEqual({});
        if (tooLong) {
          expectUriTooLong(request, response, body);
          expect(body).not.toContain('"kty"');
        } else if (isRoute && (method === 'GET' || method === 'HEAD')) {
          expect(response.status).toBe(200);
          expect(response.headers.get('content-type')).toMatch(/^application\/json/);
          expect(response.headers.get('cache-control')).toMatch(/^public, max-age=\d+$/);
          if (method === 'GET') {
            const jwks = JSON.parse(body) as { keys: Array<Record<string, unknown>> };
            expect(jwks.keys.length).toBe(2);
            for (const key of jwks.keys) {
              expect(key).toMatchObject({ kty: 'RSA', use: 'sig', alg: 'RS256' });
              for (const member of PRIVATE_MEMBERS) expect(key).not.toHaveProperty(member);
            }
          }
        } else if (isRoute) {
          expect(response.status).toBe(405);
          expect(response.headers.get('allow')).toBe('GET, HEAD');
        } else {
          expect(body).not.toContain('"kty"');
        }
        seen.set(response.status, (seen.get(response.status) ?? 0) + 1);
      }),
      fuzzParameters('jwks'),
    );
    expect(changedTables(baseline, await snapshotTables(db))).toEqual([]);
    console.info('[fuzz] jwks statuses:', Object.fromEntries(seen));
    for (const status of [200, 405, 414]) expect(seen.get(status) ?? 0, String(status)).toBeGreaterThan(0);
  }, FUZZ_TIMEOUT_MS);
});
