/**
 * The whole flow in real Chromium, as a learner meets it: the course page opens our login
 * URL in a new window (as Open edX's "new window" LTI component does) → OIDC login at the
 * platform → launch → the demo exercise with the completion widget → Finish → the platform
 * receives a valid score, and GraphQL shows the grade delivered.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../server/db/client.ts';
import { BrowserAppGradesDocument } from '../generated/graphql.ts';
import { launchChromium, screenshotOnFailure } from '../helpers/browser.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { publicAppFor, type PublicApp } from '../helpers/lti-flow.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { graphqlClient } from '../helpers/server.ts';
import { issueApiToken } from '../../server/auth/api-tokens.ts';
import { startToolServer, type ToolServer } from '../helpers/tool-server.ts';
import { encodeGlobalID } from '@pothos/plugin-relay';

let db: Database;
let tool: ToolServer;
let platform: TestPlatform;
let app: PublicApp;
let ownerToken: string;
let course: Server;
let courseUrl: string;
let browser: Browser;
let page: Page | undefined;
let popup: Page | undefined;
let stopJobs: () => Promise<void>;
const sub = 'edx-user-7';

beforeAll(async () => {
  db = await createTestDatabase();
  tool = await startToolServer(db, { deliveryPolicy: { pollIntervalMs: 100 } });
  stopJobs = tool.app.startBackgroundJobs();
  // Same site as the tool (both "localhost"): on plain http the state cookie is SameSite=Lax.
  platform = await startTestPlatform({ host: 'localhost' });
  platform.setToolKeysetUrl(`${tool.baseUrl}/lti/jwks`);
  const owner = await db.prisma.owner.create({ data: { name: 'Teacher' } });
  ownerToken = (await issueApiToken(db.prisma, owner.id, 'e2e')).token;
  app = await publicAppFor(db, platform, tool.baseUrl, { ownerId: owner.id, exerciseUrl: `${tool.baseUrl}/demo/` });

  const loginRequest = platform.loginInitiation(app.urls.loginUrl, { targetLinkUri: app.urls.launchUrl, sub });
  course = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<!doctype html><title>Course</title><h1>Unit 1</h1>
      <button id="launch">Open the exercise in a new window</button>
      <script>document.getElementById('launch').onclick = () => window.open(${JSON.stringify(loginRequest.url)}, '_blank');</script>`);
  });
  await new Promise<void>((resolve) => course.listen(0, '127.0.0.1', resolve));
  courseUrl = `http://127.0.0.1:${(course.address() as AddressInfo).port}/`;
  browser = await launchChromium();
}, 60_000);

afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail') {
    await screenshotOnFailure(page, `${ctx.task.name}-course`);
    await screenshotOnFailure(popup, `${ctx.task.name}-exercise`);
  }
});

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => course?.close(resolve));
  await stopJobs?.();
  await platform?.close();
  await tool?.close();
  await db?.close();
});

describe('Open edX → exercise → gradebook, in Chromium', () => {
  it('delivers full marks after the learner finishes', async () => {
    const context = await browser.newContext();
    page = await context.newPage();
    await page.goto(courseUrl);
    [popup] = await Promise.all([context.waitForEvent('page'), page.click('#launch')]);
    await popup.waitForURL(/\/demo\//, { timeout: 15_000 });

    // The widget took the credential and removed it from the address bar.
    await popup.waitForFunction(() => !location.hash.includes('lti_launch'));
    expect(popup.url()).not.toContain('lti_launch');

    for (const [step, answer] of [
      [1, 'button'],
      [2, 'not-found'],
      [3, 'color'],
    ] as const) {
      const form = popup.locator(`form[data-step="${step}"]`);
      await form.locator(`input[value="${answer}"]`).check();
      await form.getByRole('button', { name: 'Check' }).click();
    }
    await popup.locator('lti-completion').getByRole('button', { name: 'Finish' }).click();
    await popup.locator('lti-completion [part="status"]').filter({ hasText: 'Recorded' }).waitFor({ timeout: 10_000 });

    // The platform received one valid score for this learner.
    const deadline = Date.now() + 10_000;
    while (!platform.scores.some((s) => s.body.userId === sub) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const scores = platform.scores.filter((s) => s.body.userId === sub);
    expect(scores).toHaveLength(1);
    expect(scores[0]!.body).toMatchObject({
      scoreGiven: 100,
      scoreMaximum: 100,
      activityProgress: 'Completed',
      gradingProgress: 'FullyGraded',
    });

    // …and the owner sees it delivered. The platform has the score before the worker records
    // DELIVERED: stopping the worker waits for that delivery to finish.
    await tool.app.deliveryWorker.stop();
    const client = graphqlClient(tool.app, ownerToken);
    const { app: seen } = await client.run(BrowserAppGradesDocument, { id: encodeGlobalID('App', app.appId) });
    expect(seen?.grades.edges.map((e) => e.node.state)).toEqual(['DELIVERED']);
    await context.close();
  }, 60_000);
});
