import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WIDGET_PATH } from '../../server/app.ts';
import type { Database } from '../../server/db/client.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { launch, publicAppFor } from '../helpers/lti-flow.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { startToolServer, type ToolServer } from '../helpers/tool-server.ts';

let db: Database;
let tool: ToolServer;
let platform: TestPlatform;

beforeAll(async () => {
  db = await createTestDatabase();
  tool = await startToolServer(db);
  platform = await startTestPlatform();
});
afterAll(async () => {
  await platform.close();
  await tool.close();
  await db.close();
});

describe('the widget and the demo exercise', () => {
  it('serves the widget build at a versioned URL, cached for a year, with CORS', async () => {
    const version = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;
    expect(WIDGET_PATH).toBe(`/widget/${version}/lti-completion.js`);
    const res = await fetch(`${tool.baseUrl}${WIDGET_PATH}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(await res.text()).toBe(readFileSync('widget/dist/lti-completion.js', 'utf8'));
  });

  it('serves the demo exercise, redirecting /demo to /demo/', async () => {
    const bare = await fetch(`${tool.baseUrl}/demo`, { redirect: 'manual' });
    expect(bare.status).toBe(308);
    expect(bare.headers.get('location')).toBe(`${tool.baseUrl}/demo/`);
    const page = await fetch(`${tool.baseUrl}/demo/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<lti-completion');
    expect((await fetch(`${tool.baseUrl}/demo/lti-completion.js`)).status).toBe(200);
  });
});

describe('the redirect into the exercise', () => {
  it("keeps the exercise's own fragment and adds the credential and server after it", async () => {
    const app = await publicAppFor(db, platform, tool.baseUrl, {
      exerciseUrl: 'https://exercises.example.org/app/?lang=fr#/chapter/2',
    });
    const result = await launch(platform, app);
    expect(result.response.status).toBe(303);
    const target = new URL(result.location!);
    expect(`${target.origin}${target.pathname}${target.search}`).toBe('https://exercises.example.org/app/?lang=fr');
    const [own, ...rest] = target.hash.slice(1).split('&');
    expect(own).toBe('/chapter/2');
    const ours = new URLSearchParams(rest.join('&'));
    expect(ours.get('lti_launch')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(ours.get('lti_server')).toBe(tool.baseUrl);
  });
});
