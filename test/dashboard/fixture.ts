/**
 * Shared set-up for the dashboard's browser tests: our server on real HTTP (it serves the built
 * dashboard, see ./global-setup.ts), one Chromium, and an owner with an API token per test.
 * Pages collect console errors (a CSP violation is one) so tests can assert there are none.
 */
import { randomUUID } from 'node:crypto';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { issueApiToken } from '../../server/auth/api-tokens.ts';
import type { Database } from '../../server/db/client.ts';
import type { Grade, GradeState, LtiRegistration } from '../../server/generated/prisma/client.ts';
import type { DeliveryPolicy } from '../../server/grades/delivery-worker.ts';
import { launchChromium, screenshotOnFailure } from '../helpers/browser.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { seedRegistration } from '../helpers/seed.ts';
import { startToolServer, type ToolServer } from '../helpers/tool-server.ts';

export interface DashboardFixture {
  db: Database;
  tool: ToolServer;
  browser: Browser;
  /** A new owner (named `name`) and an API token of theirs. */
  owner(name?: string): Promise<{ ownerId: string; token: string; tokenId: string }>;
  /**
   * A new browser context and page (desktop size unless given), kept for failure screenshots.
   * Its console errors go to `consoleErrors` unless `watchConsole` is false (pages that are not ours).
   */
  page(options?: { width?: number; height?: number; clipboard?: boolean; watchConsole?: boolean }): Promise<Page>;
  /** Opens the dashboard and signs in with `token`; resolves when the apps list shows. */
  signIn(page: Page, token: string): Promise<void>;
  /** Console errors and uncaught exceptions of pages opened with `page()`. */
  consoleErrors: string[];
  /** An Open edX registration (Studio's URLs, deployment 1) of `appId`. */
  seedRegistration(appId: string, label?: string | null): Promise<LtiRegistration>;
  /** A completed launch of `subject` in an Open edX course, with its grade in `grade.state`. */
  seedLaunch(appId: string, registrationId: string, subject: string, grade: { state: GradeState; lastError?: string }): Promise<Grade>;
}

/** Registers beforeAll/afterEach/afterAll hooks; the fixture is usable from beforeAll on. */
export function useDashboardFixture(options: { deliveryPolicy?: Partial<DeliveryPolicy>; backgroundJobs?: boolean } = {}): DashboardFixture {
  const contexts: BrowserContext[] = [];
  const pages: Page[] = [];
  let stopJobs: (() => Promise<void>) | undefined;
  let owners = 0;
  const fixture = { consoleErrors: [] as string[] } as DashboardFixture;

  beforeAll(async () => {
    fixture.db = await createTestDatabase();
    fixture.tool = await startToolServer(fixture.db, options.deliveryPolicy ? { deliveryPolicy: options.deliveryPolicy } : {});
    if (options.backgroundJobs) stopJobs = fixture.tool.app.startBackgroundJobs();
    fixture.browser = await launchChromium();
  }, 60_000);

  afterEach(async (ctx) => {
    if (ctx.task.result?.state === 'fail') {
      await Promise.all(pages.map((p, i) => screenshotOnFailure(p, `dashboard-${ctx.task.name}-${i}`)));
    }
    await Promise.all(contexts.splice(0).map((c) => c.close()));
    pages.length = 0;
    fixture.consoleErrors.length = 0;
  });

  afterAll(async () => {
    await fixture.browser?.close();
    await stopJobs?.();
    await fixture.tool?.close();
    await fixture.db?.close();
  });

  fixture.owner = async (name?: string) => {
    owners += 1;
    const owner = await fixture.db.prisma.owner.create({ data: { name: name ?? `Teacher ${owners}` } });
    const issued = await issueApiToken(fixture.db.prisma, owner.id, 'dashboard test');
    return { ownerId: owner.id, token: issued.token, tokenId: issued.id };
  };

  fixture.page = async ({ width = 1280, height = 900, clipboard = false, watchConsole = true } = {}) => {
    const context = await fixture.browser.newContext({ viewport: { width, height } });
    if (clipboard) await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: fixture.tool.baseUrl });
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    if (watchConsole) page.on('console', (message) => {
      if (message.type() === 'error') fixture.consoleErrors.push(`${message.text()} (${message.location().url})`);
    });
    if (watchConsole) page.on('pageerror', (error) => fixture.consoleErrors.push(String(error)));
    pages.push(page);
    return page;
  };

  fixture.signIn = async (page: Page, token: string) => {
    await page.goto(`${fixture.tool.baseUrl}/`);
    await page.getByLabel('API token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    // exact: a role name matches case-insensitive substrings, and the sign-in page's own h1
    // ("Sign in to LTI micro-apps") would otherwise satisfy this before the token is checked.
    await page.getByRole('heading', { name: 'Apps', level: 1, exact: true }).waitFor();
    // The heading shows with "Loading…" under it: wait for the list (or its empty state) too.
    await page.getByRole('list', { name: 'Apps', exact: true }).or(page.getByRole('button', { name: 'Create your first app' })).waitFor();
  };

  fixture.seedRegistration = (appId, label = null) => seedRegistration(fixture.db, appId, label);

  fixture.seedLaunch = async (appId, registrationId, subject, grade) => {
    const launchId = randomUUID();
    await fixture.db.prisma.launch.create({
      data: {
        id: launchId,
        appId,
        registrationId,
        deploymentId: '1',
        subject,
        roles: ['http://purl.imsglobal.org/vocab/lis/v2/membership#Learner'],
        contextId: 'course-v1:OpenedX+DemoX+Demo_Course_with_a_long_run_name',
        contextTitle: 'Demonstration course with a rather long title',
        resourceLinkId: 'block-v1:OpenedX+DemoX+Demo_Course+type@lti_consumer+block@0123456789abcdef',
        agsLineitem: 'https://lms.example.org/api/lti_consumer/v1/lti/1/lti-ags/1',
        agsScopes: [],
        credentialHash: randomUUID(),
        credentialExpiresAt: new Date(Date.now() + 3_600_000),
        completedAt: new Date(),
      },
    });
    return fixture.db.prisma.grade.create({
      data: {
        id: randomUUID(),
        launchId,
        appId,
        registrationId,
        scoreGiven: 100,
        scoreMaximum: 100,
        state: grade.state,
        attempts: grade.state === 'FAILED' ? 8 : 1,
        lastError: grade.lastError ?? null,
        deliveredAt: grade.state === 'DELIVERED' ? new Date() : null,
      },
    });
  };

  return fixture;
}

/** The id of the focused element, looking inside shadow roots, with its accessible name if any. */
export async function focused(page: Page): Promise<{ id: string; tag: string; label: string | null; text: string }> {
  return page.evaluate(() => {
    let el = document.activeElement;
    while (el?.shadowRoot?.activeElement) el = el.shadowRoot.activeElement;
    return {
      id: el?.id ?? '',
      tag: el?.tagName.toLowerCase() ?? '',
      label: el?.getAttribute('aria-label') ?? null,
      text: el?.textContent?.trim() ?? '',
    };
  });
}

/** No console errors (CSP violations and uncaught exceptions included); empties the list. */
export function expectNoConsoleErrors(errors: string[]): void {
  expect(errors.splice(0)).toEqual([]);
}
