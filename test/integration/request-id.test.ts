/**
 * A request id on every log line: each request has an id (a sane incoming X-Request-Id,
 * else a fresh UUID), echoed as a response header, and every line logged while it is handled
 * carries it as `reqId` — app.ts passes the request's child logger down explicitly, so this
 * also checks the components a request makes log (the keyset fetch a launch waits for).
 * Background grade delivery logs its job and grade id instead (the access token request it
 * makes too), never a request's id. GraphQL's unexpected errors: test/graphql/error-logging.test.ts;
 * a failed refusal audit write: test/lti/refusal-audit.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueApiToken } from '../../server/auth/api-tokens.ts';
import type { Database } from '../../server/db/client.ts';
import { requestIdFor } from '../../server/request-id.ts';
import { LAUNCH_FRAGMENT_PARAM } from '../../server/lti/launch.ts';
import { COMPLETIONS_PATH, EXERCISE_ORIGIN } from '../grades/fixtures.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { launch, postLaunch, publicAppFor, type PublicApp } from '../helpers/lti-flow.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { registerTestSecret } from '../helpers/test-logger.ts';
import { capturingLogger } from '../helpers/log-capture.ts';
import { startToolServer, type ToolServer } from '../helpers/tool-server.ts';

type Line = Record<string, unknown> & { msg: string };

let db: Database;
let platform: TestPlatform;
let tool: ToolServer;
let app: PublicApp;
let token: string;
let lines: Line[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  platform = await startTestPlatform();
  const captured = capturingLogger<Line>();
  lines = captured.lines;
  tool = await startToolServer(db, { logger: captured.logger });
  platform.setToolKeysetUrl(`${tool.baseUrl}/lti/jwks`);
  app = await publicAppFor(db, platform, tool.baseUrl, { exerciseUrl: `${EXERCISE_ORIGIN}/fractions/index.html` });
  const owner = await db.prisma.owner.create({ data: { name: 'Owner' } });
  token = registerTestSecret((await issueApiToken(db.prisma, owner.id, 'test')).token, 'API token');
});
afterAll(async () => {
  await tool?.close();
  await platform?.close();
  await db?.close();
});

/** Runs `fn` and returns the log lines written meanwhile. */
async function linesDuring(fn: () => Promise<unknown>): Promise<Line[]> {
  const from = lines.length;
  await fn();
  // pino writes synchronously to the capture stream; nothing is pending here.
  return lines.slice(from);
}

const graphql = (query: string, headers: Record<string, string> = {}) =>
  fetch(`${tool.baseUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...headers },
    body: JSON.stringify({ query }),
  });

describe('request ids', () => {
  it('launch + completion + GraphQL: every line logged during a request carries its id, which the response echoes', async () => {
    const ids: string[] = [];
    const logged = await linesDuring(async () => {
      const result = await launch(platform, app);
      expect(result.response.status).toBe(303);
      ids.push(result.login.response.headers.get('x-request-id')!, result.response.headers.get('x-request-id')!);

      // A refused launch (a replayed form post): logged at warn with its reason.
      const replay = await postLaunch(app.urls.launchUrl, { id_token: result.auth.idToken, state: result.auth.state }, result.jar.header());
      expect(replay.status).toBeGreaterThanOrEqual(400);
      ids.push(replay.headers.get('x-request-id')!);

      const credential = new URLSearchParams(new URL(result.location!).hash.slice(1)).get(LAUNCH_FRAGMENT_PARAM)!;
      const completion = await fetch(`${tool.baseUrl}${COMPLETIONS_PATH}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json', origin: EXERCISE_ORIGIN },
        body: '{}',
      });
      expect(completion.status).toBe(200);
      ids.push(completion.headers.get('x-request-id')!);

      const ok = await graphql('{ viewer { name } }', { 'x-request-id': 'proxy-req-000001' });
      expect(ok.headers.get('x-request-id')).toBe('proxy-req-000001');
      // An unexpected GraphQL error is logged by yoga, inside the request.
      const bad = await graphql('{ nope }', { 'x-request-id': 'proxy-req-000002' });
      expect(bad.headers.get('x-request-id')).toBe('proxy-req-000002');
      ids.push('proxy-req-000001', 'proxy-req-000002');
    });
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9._:-]{8,128}$/);
    expect(new Set(ids).size).toBe(ids.length);

    const requestLines = logged.filter((line) => line.job === undefined);
    expect(requestLines.length).toBeGreaterThan(0);
    for (const line of requestLines) expect(ids, JSON.stringify(line)).toContain(line.reqId);
    // The refused replay was logged under its own request's id.
    expect(requestLines).toContainEqual(expect.objectContaining({ msg: 'lti request refused', reqId: ids[2] }));
    // The first launch fetched the platform's keyset: logged by the keysets, with the launch's id.
    expect(requestLines).toContainEqual(expect.objectContaining({ msg: 'platform keyset fetched', component: 'keysets', reqId: ids[1] }));
    expect(requestLines).toContainEqual(expect.objectContaining({ msg: 'lti launch', component: 'lti', reqId: ids[1] }));
    expect(requestLines).toContainEqual(expect.objectContaining({ msg: 'completion recorded', component: 'completions', reqId: ids[3] }));
  });

  it('background grade delivery logs its job and grade id, not the id of the request that queued it', async () => {
    const logged = await linesDuring(async () => {
      const result = await launch(platform, app);
      const credential = new URLSearchParams(new URL(result.location!).hash.slice(1)).get(LAUNCH_FRAGMENT_PARAM)!;
      await fetch(`${tool.baseUrl}${COMPLETIONS_PATH}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json', origin: EXERCISE_ORIGIN },
        body: '{}',
      });
      tool.app.deliveryWorker.start();
      tool.app.deliveryWorker.wake();
      await expect.poll(() => lines.some((l) => l.msg === 'grade delivered'), { timeout: 20_000 }).toBe(true);
      await tool.app.deliveryWorker.stop();
    });
    const delivered = logged.find((l) => l.msg === 'grade delivered')!;
    expect(delivered).toMatchObject({ job: 'grade-delivery', component: 'grades', gradeId: expect.any(String) });
    expect(delivered).not.toHaveProperty('reqId');
    // The token request made for this delivery carries its job and grade id too.
    const token = logged.find((l) => l.msg === 'access token obtained')!;
    expect(token).toMatchObject({ job: 'grade-delivery', component: 'access-tokens', gradeId: delivered.gradeId });
    expect(token).not.toHaveProperty('reqId');
    // Every line of the job carries it, none a request's id; no line is left without either.
    for (const line of logged) expect(line.job === 'grade-delivery' || typeof line.reqId === 'string', JSON.stringify(line)).toBe(true);
    for (const line of logged.filter((l) => l.job)) expect(line, JSON.stringify(line)).not.toHaveProperty('reqId');
  });

  it('keeps a sane incoming X-Request-Id and replaces anything else with a fresh UUID', async () => {
    expect(requestIdFor('abc-123_4.5:6')).toBe('abc-123_4.5:6');
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    for (const bad of [null, '', 'short', 'a'.repeat(129), 'has space here', 'line\nbreak!', '{"json":1}', 'ümlautümlaut']) {
      expect(requestIdFor(bad)).toMatch(uuid);
    }
    const res = await fetch(`${tool.baseUrl}/healthz`, { headers: { 'x-request-id': 'x'.repeat(200) } });
    expect(res.headers.get('x-request-id')).toMatch(uuid);
    // Even responses with immutable headers (redirects) carry it.
    const redirect = await fetch(`${tool.baseUrl}/demo`, { redirect: 'manual' });
    expect(redirect.status).toBe(308);
    expect(redirect.headers.get('x-request-id')).toMatch(uuid);
  });
});
