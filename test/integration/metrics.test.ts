/**
 * `/metrics`: the token check (Bearer parsing, wrong tokens of any length), a valid
 * exposition, and values that move with what happens: launches by outcome and code, grade
 * deliveries by resulting state, the delivery latency histogram, the PENDING outbox gauge.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../server/db/client.ts';
import { LAUNCH_FRAGMENT_PARAM } from '../../server/lti/launch.ts';
import { ltiToolUrls } from '../../server/lti/tool-urls.ts';
import { cachedFor, Metrics } from '../../server/metrics.ts';
import { HTTP_ROUTES, httpRouteOf, type HttpRoute } from '../../server/app.ts';
import { createTestDatabase, usingPostgres } from '../helpers/db.ts';
import { errorCode, launch, publicAppFor, type PublicApp } from '../helpers/lti-flow.ts';
import { parseExposition, type Exposition } from '../helpers/metrics.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { startToolServer, type ToolServer } from '../helpers/tool-server.ts';

const TOKEN = 'metrics-token-0123456789abcdef';

let db: Database;
let tool: ToolServer;
let platform: TestPlatform;
let app: PublicApp;
/** The tool's clock runs this far ahead of real time (the latency test moves it). */
let clockOffsetMs = 0;

beforeAll(async () => {
  db = await createTestDatabase();
  tool = await startToolServer(db, { config: { metricsToken: TOKEN }, now: () => new Date(Date.now() + clockOffsetMs) });
  platform = await startTestPlatform();
  platform.setToolKeysetUrl(`${tool.baseUrl}/lti/jwks`);
  app = await publicAppFor(db, platform, tool.baseUrl);
});
afterAll(async () => {
  await platform?.close();
  await tool?.close();
  await db?.close();
});

function getMetrics(authorization?: string): Promise<Response> {
  return fetch(`${tool.baseUrl}/metrics`, authorization === undefined ? {} : { headers: { authorization } });
}

async function scrape(): Promise<Exposition> {
  const response = await getMetrics(`Bearer ${TOKEN}`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4');
  return parseExposition(await response.text());
}

describe('the token', () => {
  it.each([
    ['no header', undefined],
    ['another scheme', `Basic ${TOKEN}`],
    ['a wrong token of the same length', `Bearer ${'x'.repeat(TOKEN.length)}`],
    ['a prefix of the token', `Bearer ${TOKEN.slice(0, -1)}`],
    ['the token and more', `Bearer ${TOKEN}0`],
    ['the token in another case', `Bearer ${TOKEN.toUpperCase()}`],
    ['no token', 'Bearer '],
  ])('refuses %s with 401', async (_name, authorization) => {
    const response = await getMetrics(authorization);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer');
    expect(await response.text()).not.toContain('lti_');
  });

  it.each([
    ['Bearer', `Bearer ${TOKEN}`],
    ['a lower-case scheme (RFC 7235)', `bearer ${TOKEN}`],
    ['extra spaces', `Bearer   ${TOKEN} `],
  ])('accepts %s', async (_name, authorization) => {
    expect((await getMetrics(authorization)).status).toBe(200);
  });
});

describe('methods', () => {
  it.each(['POST', 'PUT', 'DELETE'])('%s: 405 with Allow, the token notwithstanding', async (method) => {
    const response = await fetch(`${tool.baseUrl}/metrics`, { method, headers: { authorization: `Bearer ${TOKEN}` } });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET, HEAD');
    expect(await response.text()).toBe('');
  });

  it('HEAD: 200 without a body', async () => {
    const response = await fetch(`${tool.baseUrl}/metrics`, { method: 'HEAD', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('');
  });
});

describe('the exposition', () => {
  it('is well-formed, with process basics and every family typed', async () => {
    const m = await scrape();
    const expected = {
      lti_logins_total: 'counter',
      lti_launches_total: 'counter',
      lti_launch_refusals_dropped_total: 'counter',
      lti_completions_total: 'counter',
      lti_grade_deliveries_total: 'counter',
      lti_grade_delivery_latency_seconds: 'histogram',
      lti_grade_delivery_attempt_duration_seconds: 'histogram',
      lti_grade_outbox_pending: 'gauge',
      lti_change_notices_listening: 'gauge',
      lti_platform_keyset_fetches_total: 'counter',
      lti_access_token_requests_total: 'counter',
      process_cpu_seconds_total: 'counter',
      process_resident_memory_bytes: 'gauge',
      process_start_time_seconds: 'gauge',
      nodejs_heap_size_used_bytes: 'gauge',
      nodejs_external_memory_bytes: 'gauge',
      nodejs_array_buffers_bytes: 'gauge',
      nodejs_eventloop_active_seconds_total: 'counter',
      lti_http_request_duration_seconds: 'histogram',
    };
    for (const [name, type] of Object.entries(expected)) expect(m.types.get(name), name).toBe(type);
    // PGlite has no other processes to hear; on PostgreSQL this server's background jobs, which
    // listen, are not started (test/scale/change-notices.pg.test.ts covers the listening).
    expect(m.value('lti_change_notices_listening')).toBe(usingPostgres ? 0 : 1);
    expect(m.value('process_resident_memory_bytes')).toBeGreaterThan(1_000_000);
    expect(m.value('process_cpu_seconds_total')).toBeGreaterThan(0);
    // Outside the V8 heap: Buffers and ArrayBuffers at least (PGlite's wasm memory too). One
    // memoryUsage() snapshot per scrape, so array buffers (part of external) never exceed it.
    const external = m.value('nodejs_external_memory_bytes')!;
    const arrayBuffers = m.value('nodejs_array_buffers_bytes')!;
    expect(external).toBeGreaterThan(2 ** 10);
    expect(external).toBeLessThan(2 ** 40);
    expect(arrayBuffers).toBeGreaterThan(0);
    expect(arrayBuffers).toBeLessThanOrEqual(external);
    expect(m.value('process_start_time_seconds')).toBeLessThanOrEqual(Date.now() / 1000);
    expect(m.value('lti_grade_delivery_latency_seconds_bucket', { le: '+Inf' })).toBe(0);
  });

  it('every family served is documented in docs/deployment.md', async () => {
    const doc = readFileSync(new URL('../../docs/deployment.md', import.meta.url), 'utf8');
    const m = await scrape();
    expect(m.types.size).toBeGreaterThan(10);
    for (const name of m.types.keys()) expect(doc, name).toMatch(new RegExp(`\`${name}[\`{]`));
  });

  it('renders histograms with cumulative buckets, a sum and a count', async () => {
    const metrics = new Metrics();
    for (const seconds of [0.05, 0.3, 0.3, 7, 100_000]) metrics.deliveryLatency.observe(seconds);
    const m = parseExposition(await metrics.render());
    const bucket = (le: string) => m.value('lti_grade_delivery_latency_seconds_bucket', { le });
    expect([bucket('0.1'), bucket('0.25'), bucket('0.5'), bucket('5'), bucket('10'), bucket('86400'), bucket('+Inf')]).toEqual([1, 1, 3, 3, 4, 4, 5]);
    expect(m.value('lti_grade_delivery_latency_seconds_count')).toBe(5);
    expect(m.value('lti_grade_delivery_latency_seconds_sum')).toBeCloseTo(100_007.65);
  });

  it('a labeled observer counts into its own series, which is served (at zero) from the start', async () => {
    const metrics = new Metrics();
    const observeLogin = metrics.requestDuration.labeled({ route: 'lti_login' });
    metrics.requestDuration.labeled({ route: 'graphql' });
    observeLogin(0.004);
    observeLogin(0.2);
    const m = parseExposition(await metrics.render());
    const bucket = (route: string, le: string) => m.value('lti_http_request_duration_seconds_bucket', { route, le });
    expect([bucket('lti_login', '0.003'), bucket('lti_login', '0.005'), bucket('lti_login', '0.25'), bucket('lti_login', '+Inf')]).toEqual([0, 1, 2, 2]);
    expect(m.value('lti_http_request_duration_seconds_sum', { route: 'lti_login' })).toBeCloseTo(0.204);
    expect(m.value('lti_http_request_duration_seconds_count', { route: 'graphql' })).toBe(0);
    expect(bucket('graphql', '+Inf')).toBe(0);
  });

  it('serves the rest when a value cannot be read', async () => {
    const metrics = new Metrics();
    metrics.collected.push({ name: 'broken_gauge', help: 'Fails.', type: 'gauge', read: () => Promise.reject(new Error('db down')) });
    const m = parseExposition(await metrics.render());
    expect(m.types.get('broken_gauge')).toBe('gauge');
    expect(m.value('broken_gauge')).toBeUndefined();
    expect(m.value('process_resident_memory_bytes')).toBeGreaterThan(0);
  });
});

describe('values move with what happens', () => {
  it('a launch counts as ok; a refused one under its code', async () => {
    const before = await scrape();
    expect((await launch(platform, app)).response.status).toBe(303);
    const refused = await launch(platform, app, { overrides: { signWith: 'foreign-key' } });
    expect(await errorCode(refused.response)).toBe('ERR_LTI_BAD_SIGNATURE');
    const after = await scrape();
    const delta = (name: string, labels: Record<string, string>) => (after.value(name, labels) ?? 0) - (before.value(name, labels) ?? 0);
    expect(delta('lti_launches_total', { outcome: 'ok' })).toBe(1);
    expect(delta('lti_launches_total', { outcome: 'refused', code: 'ERR_LTI_BAD_SIGNATURE' })).toBe(1);
    expect(delta('lti_logins_total', { outcome: 'ok' })).toBe(2);
  });

  it('a delivered grade: the outbox gauge, the deliveries counter and both histograms', async () => {
    // A fresh server: its outbox gauge has not been read (and cached) yet.
    const own = await startToolServer(db, { config: { metricsToken: TOKEN }, now: () => new Date(Date.now() + clockOffsetMs) });
    try {
      // The same app and registration, reached through this server's URLs.
      const ownApp = { ...app, urls: ltiToolUrls(own.baseUrl, app.appId) };
      platform.setToolLaunchUrl(ownApp.urls.launchUrl);
      const result = await launch(platform, ownApp);
      const credential = new URLSearchParams(new URL(result.location!).hash.slice(1)).get(LAUNCH_FRAGMENT_PARAM)!;
      const completed = await fetch(`${own.baseUrl}/api/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json', origin: 'https://exercises.example.org' },
        body: '{}',
      });
      expect(completed.status).toBe(200);
      const scrapeOwn = async () => {
        const response = await fetch(`${own.baseUrl}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
        return parseExposition(await response.text());
      };
      const pending = await db.prisma.grade.count({ where: { state: 'PENDING' } });
      expect(pending).toBeGreaterThanOrEqual(1);
      const before = await scrapeOwn();
      expect(before.value('lti_grade_outbox_pending')).toBe(pending);
      expect(before.value('lti_completions_total', { status: '200' })).toBe(1);

      // Delivered three seconds (of the tool's clock) after the completion was recorded.
      clockOffsetMs += 3_000;
      expect(await own.app.deliveryWorker.runOnce()).toBeGreaterThanOrEqual(1);
      expect(platform.scores.length).toBeGreaterThanOrEqual(1);
      const after = await scrapeOwn();
      expect(after.value('lti_grade_deliveries_total', { outcome: 'delivered' })).toBe(1);
      expect(after.value('lti_grade_delivery_latency_seconds_count')).toBe(1);
      expect(after.value('lti_grade_delivery_latency_seconds_bucket', { le: '2.5' })).toBe(0);
      expect(after.value('lti_grade_delivery_latency_seconds_bucket', { le: '5' })).toBe(1);
      expect(after.value('lti_grade_delivery_latency_seconds_sum')).toBeGreaterThanOrEqual(3);
      expect(after.value('lti_grade_delivery_attempt_duration_seconds_count')).toBe(1);
      expect(after.value('lti_grade_delivery_attempt_duration_seconds_bucket', { le: '+Inf' })).toBe(1);
      expect(after.value('lti_access_token_requests_total')).toBe(1);
    } finally {
      clockOffsetMs = 0;
      await own.close();
    }
  });
});

describe('request durations and the event loop', () => {
  it('times every request under its route, from the first scrape on', async () => {
    const before = await scrape();
    for (const route of HTTP_ROUTES) expect(before.value('lti_http_request_duration_seconds_count', { route }), route).toBeGreaterThanOrEqual(0);
    expect((await launch(platform, app)).response.status).toBe(303);
    expect((await fetch(`${tool.baseUrl}/lti/jwks`)).status).toBe(200);
    expect((await fetch(`${tool.baseUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${tool.baseUrl}/no/such/page?x=1`)).status).toBe(404);
    const after = await scrape();
    const count = (m: Exposition, route: string) => m.value('lti_http_request_duration_seconds_count', { route })!;
    // The first scrape is counted once it has been answered: under "metrics".
    const expected = { lti_login: 1, lti_launch: 1, lti_jwks: 1, health: 1, other: 1, metrics: 1, graphql: 0, completions: 0 };
    for (const route of HTTP_ROUTES) expect(count(after, route) - count(before, route), route).toBe(expected[route]);
    // Cumulative buckets ending at the count, and a positive time.
    const buckets = [...'0.001 0.002 0.003 0.005 0.0075 0.01 0.015 0.02 0.03 0.05 0.075 0.1 0.25 0.5 1 2.5 5 10 +Inf'.split(' ')].map(
      (le) => after.value('lti_http_request_duration_seconds_bucket', { route: 'lti_launch', le })!,
    );
    expect(buckets.every((n, i) => i === 0 || n >= buckets[i - 1]!)).toBe(true);
    expect(buckets.at(-1)).toBe(count(after, 'lti_launch'));
    expect(after.value('lti_http_request_duration_seconds_sum', { route: 'lti_launch' })).toBeGreaterThan(before.value('lti_http_request_duration_seconds_sum', { route: 'lti_launch' })!);
  });

  it('names routes from the path as sent, query and PUBLIC_URL prefix aside', () => {
    const id = '0b1e5c8a-3f7d-4c2e-9a61-2d4f8e7b9c10';
    const cases: [string | undefined, string, HttpRoute][] = [
      [`/lti/apps/${id}/login?iss=x&login_hint=y`, '', 'lti_login'],
      [`/lti/apps/${id}/launch`, '', 'lti_launch'],
      [`/tools/lti/lti/apps/${id}/launch`, '/tools/lti', 'lti_launch'],
      [`/tools/lti/lti/apps/${id}/launch`, '', 'other'],
      [`/lti/apps/${id}/launchx`, '', 'other'],
      [`/lti/apps/not-an-id/login`, '', 'other'],
      ['/lti/jwks', '', 'lti_jwks'],
      ['/graphql?query={viewer{name}}', '', 'graphql'],
      ['/graphqlx', '', 'other'],
      ['/api/completions', '', 'completions'],
      ['/healthz', '', 'health'],
      ['/readyz', '/tools/lti', 'health'],
      ['/metrics', '', 'metrics'],
      ['/', '', 'other'],
      ['', '', 'other'],
      [undefined, '', 'other'],
    ];
    for (const [target, basePath, route] of cases) expect(httpRouteOf(target, basePath), `${target} under "${basePath}"`).toBe(route);
  });

  it('counts the time the event loop was busy, rising with work', async () => {
    const first = (await scrape()).value('nodejs_eventloop_active_seconds_total')!;
    expect(first).toBeGreaterThan(0);
    expect((await launch(platform, app)).response.status).toBe(303);
    expect((await scrape()).value('nodejs_eventloop_active_seconds_total')!).toBeGreaterThan(first);
  });
});

describe('cachedFor', () => {
  it('shares one read within the time to live, reads again after it, and does not cache failures', async () => {
    let t = 0;
    let reads = 0;
    let fail = false;
    const read = cachedFor(5_000, () => t, async () => {
      reads++;
      if (fail) throw new Error('down');
      return reads;
    });
    expect(await read()).toBe(1);
    t = 4_999;
    expect(await read()).toBe(1);
    t = 5_000;
    fail = true;
    await expect(read()).rejects.toThrow('down');
    fail = false;
    expect(await read()).toBe(3);
    expect(reads).toBe(3);
  });
});
