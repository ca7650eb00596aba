import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, MAX_URL_BYTES, type App } from '../../server/app.ts';
import { DEFAULT_RATE_LIMITS, type RateLimitConfig } from '../../server/config.ts';
import type { Database } from '../../server/db/client.ts';
import { MAX_HEADER_BYTES } from '../../server/http/node-server.ts';
import { createSilentLogger } from '../../server/logger.ts';
import { Metrics } from '../../server/metrics.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { errorCode } from '../helpers/lti-flow.ts';
import { parseExposition } from '../helpers/metrics.ts';
import { createOwner, NO_RATE_LIMITS, TEST_PUBLIC_URL, testConfig } from '../helpers/server.ts';
import { startToolServer } from '../helpers/tool-server.ts';

let db: Database;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.close());

const APP_ID = '0190c1f6-0000-7000-8000-000000000001';
/** What these incomplete LTI requests get from the routes themselves (ERR_LTI_BAD_REQUEST, no cookie…): not limited. */
const PASSED = 400;

function limitedApp(limits: Partial<RateLimitConfig>, trustProxyHops = 0) {
  const clock = { ms: Date.UTC(2030, 0, 1) };
  const metrics = new Metrics();
  const app = createApp(testConfig({ rateLimits: { ...NO_RATE_LIMITS, ...limits }, trustProxyHops }), {
    db,
    logger: createSilentLogger(),
    now: () => new Date(clock.ms),
    metrics,
  });
  /** One counter's value for one label set, from the exposition /metrics would serve. */
  const counted = async (name: string, labels: Record<string, string>) => parseExposition(await metrics.render()).value(name, labels) ?? 0;
  return { app, clock, counted };
}

const login = (app: App, address: string, headers: Record<string, string> = {}) =>
  app.fetch(new Request(`${TEST_PUBLIC_URL}/lti/apps/${APP_ID}/login?iss=https://lms.example.test`, { headers }), { address });
const launch = (app: App, address: string) =>
  app.fetch(
    new Request(`${TEST_PUBLIC_URL}/lti/apps/${APP_ID}/launch`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'id_token=x&state=y',
    }),
    { address },
  );
const complete = (app: App, address: string, credential: string, method = 'POST') =>
  app.fetch(
    new Request(`${TEST_PUBLIC_URL}/api/completions`, {
      method,
      headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' },
      ...(method === 'POST' ? { body: '{}' } : {}),
    }),
    { address },
  );
const graphql = (app: App, address: string, token?: string) =>
  app.fetch(
    new Request(`${TEST_PUBLIC_URL}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query: '{ viewer { name } }' }),
    }),
    { address },
  );

async function statuses(n: number, send: () => Promise<Response>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await send()).status);
  return out;
}

describe('rate limits (429 + Retry-After)', () => {
  it.each([
    ['login', login],
    ['launch', launch],
  ] as const)('%s: the error page with ERR_LTI_RATE_LIMITED past the limit; other addresses unaffected', async (route, send) => {
    const { app, counted } = limitedApp({ [`${route}PerMinute`]: 3 });
    expect(await statuses(3, () => send(app, '203.0.113.7'))).toEqual([PASSED, PASSED, PASSED]);
    const refused = await send(app, '203.0.113.7');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('20');
    expect(refused.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await errorCode(refused)).toBe('ERR_LTI_RATE_LIMITED');
    await send(app, '203.0.113.7');
    // Every refused request is counted with the route's other refusals (the log has one line per episode).
    const counter = route === 'login' ? 'lti_logins_total' : 'lti_launches_total';
    expect(await counted(counter, { outcome: 'refused', code: 'ERR_LTI_RATE_LIMITED' })).toBe(2);
    expect((await send(app, '198.51.100.1')).status).toBe(PASSED);
    // Families are separate: a limited launch address can still log in, and vice versa.
    const other = route === 'login' ? launch : login;
    expect((await other(app, '203.0.113.7')).status).not.toBe(429);
    expect(await app.metrics.render()).toContain(`lti_rate_limited_total{by="address",route="${route}"} 2`);
  });

  it('buckets refill with the injected clock', async () => {
    const { app, clock } = limitedApp({ launchPerMinute: 2 });
    expect(await statuses(3, () => launch(app, '203.0.113.7'))).toEqual([PASSED, PASSED, 429]);
    clock.ms += 29_000;
    const early = await launch(app, '203.0.113.7');
    expect(early.status).toBe(429);
    expect(early.headers.get('retry-after')).toBe('1');
    clock.ms += 1_000;
    expect(await statuses(2, () => launch(app, '203.0.113.7'))).toEqual([PASSED, 429]);
    clock.ms += 60_000;
    expect(await statuses(3, () => launch(app, '203.0.113.7'))).toEqual([PASSED, PASSED, 429]);
  });

  it('completion: per address and per launch credential, JSON with CORS and an exposed Retry-After', async () => {
    const { app } = limitedApp({ completionPerMinute: 5, completionPerCredentialPerMinute: 2 });
    // One credential from three addresses: the credential's limit applies.
    expect([
      (await complete(app, '192.0.2.1', 'cred-a')).status,
      (await complete(app, '192.0.2.2', 'cred-a')).status,
    ]).toEqual([401, 401]);
    const refused = await complete(app, '192.0.2.3', 'cred-a');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('30');
    expect(refused.headers.get('access-control-allow-origin')).toBe('*');
    expect(refused.headers.get('access-control-expose-headers')).toBe('retry-after');
    expect(await refused.json()).toEqual({ error: 'rate_limited', message: 'Too many requests. Try again in 30 s.' });
    // Another credential is unaffected; one address running through many credentials is not.
    expect(await statuses(3, () => complete(app, '192.0.2.9', `cred-${Math.random()}`))).toEqual([401, 401, 401]);
    expect(await statuses(2, () => complete(app, '192.0.2.9', `cred-${Math.random()}`))).toEqual([401, 401]);
    expect((await complete(app, '192.0.2.9', 'cred-new')).status).toBe(429);
    // CORS preflights are not counted.
    expect((await complete(app, '192.0.2.9', 'cred-new', 'OPTIONS')).status).toBe(204);
    const metrics = await app.metrics.render();
    expect(metrics).toContain('lti_rate_limited_total{by="credential",route="completion"} 1');
    expect(metrics).toContain('lti_rate_limited_total{by="address",route="completion"} 1');
    // The refused reports are counted with the others, by status.
    expect(metrics).toContain('lti_completions_total{status="429"} 2');
  });

  it('graphql: per API token and per address, a GraphQL-shaped JSON error', async () => {
    const { app } = limitedApp({ graphqlPerMinute: 4, graphqlPerTokenPerMinute: 2 });
    const a = await createOwner(db, 'A');
    const b = await createOwner(db, 'B');
    expect([(await graphql(app, '192.0.2.1', a.token)).status, (await graphql(app, '192.0.2.2', a.token)).status]).toEqual([200, 200]);
    const refused = await graphql(app, '192.0.2.3', a.token);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('30');
    expect(await refused.json()).toEqual({
      errors: [{ message: 'Too many requests. Try again in 30 s.', extensions: { code: 'RATE_LIMITED' } }],
    });
    expect((await graphql(app, '192.0.2.3', b.token)).status).toBe(200);
    // Without a token (or with made-up ones) only the address limit counts: 4 per minute.
    expect(await statuses(5, () => graphql(app, '192.0.2.50', `lmt_${Math.random()}`))).toEqual([401, 401, 401, 401, 429]);
    expect(await statuses(5, () => graphql(app, '192.0.2.51'))).toEqual([401, 401, 401, 401, 429]);
    expect(await app.metrics.render()).toContain('lti_rate_limited_total{by="token",route="graphql"} 1');
  });

  it('limits at 0 are off', async () => {
    const { app } = limitedApp({});
    expect(new Set(await statuses(50, () => launch(app, '203.0.113.7')))).toEqual(new Set([PASSED]));
  });

  it('the defaults let a school of 1,000 learners behind one address launch together', async () => {
    const { app } = limitedApp(DEFAULT_RATE_LIMITS);
    const results = await statuses(1000, () => launch(app, '203.0.113.7'));
    expect(results.filter((s) => s === 429)).toHaveLength(0);
  });

  it('without TRUST_PROXY a spoofed X-Forwarded-For is ignored', async () => {
    const { app } = limitedApp({ loginPerMinute: 1 });
    expect((await login(app, '10.0.0.1', { 'x-forwarded-for': '1.1.1.1' })).status).toBe(PASSED);
    expect((await login(app, '10.0.0.1', { 'x-forwarded-for': '2.2.2.2' })).status).toBe(429);
  });

  it('with TRUST_PROXY=1 clients behind the proxy are told apart by the entry the proxy added', async () => {
    const { app } = limitedApp({ loginPerMinute: 1 }, 1);
    const viaProxy = (xff: string) => login(app, '10.0.0.1', { 'x-forwarded-for': xff });
    expect((await viaProxy('203.0.113.7')).status).toBe(PASSED);
    expect((await viaProxy('198.51.100.1')).status).toBe(PASSED);
    // The client wrote its own "X-Forwarded-For: 9.9.9.9"; the proxy appended the real address.
    expect((await viaProxy('9.9.9.9, 203.0.113.7')).status).toBe(429);
  });
});

describe('URL length', () => {
  it(`path + query over ${MAX_URL_BYTES} bytes: 414, with the error page on LTI routes`, async () => {
    const { app, counted } = limitedApp({});
    const base = `/lti/apps/${APP_ID}/login?iss=`;
    const fits = await app.fetch(new Request(`${TEST_PUBLIC_URL}${base}${'a'.repeat(MAX_URL_BYTES - base.length)}`));
    expect(fits.status).toBe(PASSED);
    const long = await app.fetch(new Request(`${TEST_PUBLIC_URL}${base}${'a'.repeat(MAX_URL_BYTES - base.length + 1)}`));
    expect(long.status).toBe(414);
    expect(await errorCode(long)).toBe('ERR_LTI_URI_TOO_LONG');
    expect(await counted('lti_logins_total', { outcome: 'refused', code: 'ERR_LTI_URI_TOO_LONG' })).toBe(1);
    const api = await app.fetch(new Request(`${TEST_PUBLIC_URL}/graphql?query=${'a'.repeat(MAX_URL_BYTES)}`));
    expect(api.status).toBe(414);
    expect(await api.json()).toMatchObject({ error: 'uri_too_long' });
  });
});

describe('over real HTTP', () => {
  it(`headers over ${MAX_HEADER_BYTES} bytes get 431 and the server stays up`, async () => {
    const tool = await startToolServer(db);
    try {
      const big = await fetch(`${tool.baseUrl}/healthz`, { headers: { 'x-filler': 'a'.repeat(MAX_HEADER_BYTES) } });
      expect(big.status).toBe(431);
      const fine = await fetch(`${tool.baseUrl}/healthz`, { headers: { 'x-filler': 'a'.repeat(8 * 1024) } });
      expect(fine.status).toBe(200);
    } finally {
      await tool.close();
    }
  });

  it("the socket's address is the client, and X-Forwarded-For does not change it", async () => {
    const tool = await startToolServer(db, { config: { rateLimits: { ...NO_RATE_LIMITS, launchPerMinute: 1 } } });
    try {
      const post = (xff: string) =>
        fetch(`${tool.baseUrl}/lti/apps/${APP_ID}/launch`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': xff },
          body: 'id_token=x&state=y',
        });
      expect((await post('1.1.1.1')).status).toBe(PASSED);
      const refused = await post('2.2.2.2');
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(59);
    } finally {
      await tool.close();
    }
  });
});
