/**
 * The owner dashboard, screen by screen, in Chromium: how it is served, signing in and out,
 * validation errors at their fields, deleting with confirmation, keyboard use of the menus and
 * tabs, focus in dialogs, registrations, retrying a failed grade delivery (or all of them), and a 375 px screen.
 */
import { encodeGlobalID } from '@pothos/plugin-relay';
import type { APIResponse, Page, Route } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { WIDGET_PATH } from '../../server/app.ts';
import { DASHBOARD_CSP } from '../../server/http/dashboard.ts';
import { uuidv7 } from '../../server/ids.ts';
import { LTI_ERRORS, type LtiErrorCode } from '../../server/lti/errors.ts';
import { expectNoConsoleErrors, focused, useDashboardFixture } from './fixture.ts';

const fx = useDashboardFixture();

const WRONG_TOKEN = 'This API token is not valid. Check that you copied all of it; it may also have been revoked.';
const REVOKED = 'Your API token is no longer valid (it may have been revoked). Sign in again with a valid token.';
const HTTPS_ONLY = 'Must use https (plain http is allowed only for localhost).';

let seq = 0;
async function seedApp(ownerId: string, data: { name?: string; isPublic?: boolean } = {}) {
  seq += 1;
  return fx.db.prisma.app.create({
    data: {
      ownerId,
      name: data.name ?? 'Fractions',
      exerciseUrl: `https://exercises.example.org/fractions-${seq}/index.html`,
      isPublic: data.isPublic ?? true,
    },
  });
}

/** Opens an app's page on a tab (the dashboard routes by fragment). */
async function seedRefusal(appId: string, registrationId: string | null, code: LtiErrorCode, minutesAgo = 0) {
  const createdAt = new Date(Date.now() - minutesAgo * 60_000);
  return fx.db.prisma.launchRefusal.create({
    data: { id: uuidv7(createdAt.getTime()), appId, registrationId, route: 'LAUNCH', code, reason: LTI_ERRORS[code][1], createdAt },
  });
}

async function openApp(page: Page, appId: string, tab: 'lti' | 'widget' | 'activity', name: string): Promise<void> {
  await page.goto(`${fx.tool.baseUrl}/#/apps/${encodeURIComponent(encodeGlobalID('App', appId))}/${tab}`);
  await page.getByRole('heading', { name, level: 1 }).waitFor();
}

/** A public app "Quiz" with registrations "Autumn course" and "Spring course", open on its LTI tab with both listed. */
async function quizWithTwoRegistrations() {
  const { token, ownerId } = await fx.owner();
  const app = await seedApp(ownerId, { name: 'Quiz' });
  const first = await fx.seedRegistration(app.id, 'Autumn course');
  const second = await fx.seedRegistration(app.id, 'Spring course');
  const page = await fx.page();
  await fx.signIn(page, token);
  await openApp(page, app.id, 'lti', 'Quiz');
  const list = page.getByRole('list', { name: 'LTI registrations' });
  await list.getByRole('heading', { name: 'Autumn course' }).waitFor();
  await list.getByRole('heading', { name: 'Spring course' }).waitFor();
  return { app, first, second, page, list };
}

/** Removes a registration through its button and the confirmation dialog. */
async function removeRegistration(page: Page, title: string): Promise<void> {
  await page.getByRole('button', { name: `Remove ${title}` }).click();
  await page.getByRole('dialog', { name: `Remove the LTI settings for ${title}?` }).getByRole('button', { name: 'Remove' }).click();
}

const sessionToken = (page: Page) => page.evaluate(() => sessionStorage.getItem('lti-dashboard:token'));

describe('serving the dashboard', () => {
  it('serves the page without caching, with a strict CSP and the server URLs, and its hashed files for a year', async () => {
    const res = await fetch(`${fx.tool.baseUrl}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('content-security-policy')).toBe(DASHBOARD_CSP);
    expect(DASHBOARD_CSP).toContain("default-src 'self'");
    expect(DASHBOARD_CSP).toContain("script-src 'self';");
    const page = await res.text();
    expect(page).toContain(`<meta name="public-url" content="${fx.tool.baseUrl}" />`);
    expect(page).toContain(`<meta name="widget-path" content="${WIDGET_PATH}" />`);
    // No inline scripts, nothing from elsewhere.
    expect(page.match(/<script\b[^>]*>/g)?.every((tag) => /\ssrc="\.\/assets\//.test(tag))).toBe(true);
    expect(page).not.toMatch(/(src|href)="(https?:)?\/\//);

    const assets = [...page.matchAll(/(?:src|href)="\.\/(assets\/[^"]+)"/g)].map((m) => m[1]!);
    expect(assets.some((a) => a.endsWith('.js'))).toBe(true);
    for (const asset of assets) {
      const file = await fetch(`${fx.tool.baseUrl}/${asset}`);
      expect(file.status).toBe(200);
      expect(file.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(file.headers.get('content-type')).toMatch(/^(text\/javascript|text\/css|image\/svg\+xml)/);
      await file.arrayBuffer();
    }
    expect((await fetch(`${fx.tool.baseUrl}/assets/missing-123.js`)).status).toBe(404);
    expect((await fetch(`${fx.tool.baseUrl}/assets/..%2Fpackage.json`)).status).toBe(404);
    expect((await fetch(`${fx.tool.baseUrl}/`, { method: 'POST' })).status).toBe(405);
  });
});

describe('signing in and out', () => {
  it('says clearly when a token is wrong, and sends a revoked one back to sign-in', async () => {
    const { token, tokenId } = await fx.owner();
    const page = await fx.page();
    await page.goto(`${fx.tool.baseUrl}/`);
    await page.getByLabel('API token').fill('lmt_not-a-real-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const field = page.getByLabel('API token');
    await page.getByRole('alert').filter({ hasText: WRONG_TOKEN }).waitFor();
    expect(await field.getAttribute('aria-invalid')).toBe('true');
    expect(await field.getAttribute('aria-describedby')).toContain('token-error');
    expect(await sessionToken(page)).toBeNull();

    await fx.signIn(page, token);
    expect(await sessionToken(page)).toBe(token);
    await page.reload(); // the session survives a reload (same tab)
    await page.getByRole('heading', { name: 'Apps', level: 1, exact: true }).waitFor();

    await fx.db.prisma.apiToken.update({ where: { id: tokenId }, data: { revokedAt: new Date() } });
    await page.getByRole('button', { name: 'New app' }).click();
    const dialog = page.getByRole('dialog', { name: 'New app' });
    await dialog.getByLabel('Name').fill('Too late');
    await dialog.getByLabel('Exercise URL').fill('https://exercises.example.org/late');
    await dialog.getByRole('button', { name: 'Create app' }).click();
    await page.getByText(REVOKED).waitFor();
    expect(await focused(page)).toMatchObject({ id: 'token' });
    expect(await sessionToken(page)).toBeNull();
    // The browser logs the refused requests (HTTP 401); nothing else.
    expectNoConsoleErrors(fx.consoleErrors.splice(0).filter((e) => !e.includes('status of 401')));
  });

  it('signs out', async () => {
    const { token } = await fx.owner('Grace');
    const page = await fx.page();
    await fx.signIn(page, token);
    await page.getByText('Signed in as Grace').waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByText('You are signed out.').waitFor();
    expect(await sessionToken(page)).toBeNull();
    expect(await focused(page)).toMatchObject({ id: 'token' });
    await page.reload();
    // Not just the token field: the form also shows (busy, "Signing in…") while a kept token is checked.
    await page.getByRole('button', { name: 'Sign in', exact: true }).waitFor();
    await page.getByLabel('API token').waitFor();
  });
});

describe('forms', () => {
  it("shows the API's validation errors at the fields they are about", async () => {
    const { token, ownerId } = await fx.owner();
    const page = await fx.page();
    await fx.signIn(page, token);

    await page.getByRole('button', { name: 'New app' }).click();
    const dialog = page.getByRole('dialog', { name: 'New app' });
    await dialog.getByLabel('Name').fill('Remote');
    await dialog.getByLabel('Exercise URL').fill('http://exercises.example.org/remote');
    await dialog.getByRole('button', { name: 'Create app' }).click();
    const urlError = dialog.locator('#exerciseUrl-error');
    await urlError.waitFor();
    expect(await urlError.textContent()).toBe(HTTPS_ONLY);
    const url = dialog.getByLabel('Exercise URL');
    expect(await url.getAttribute('aria-invalid')).toBe('true');
    expect(await url.getAttribute('aria-describedby')).toBe('exerciseUrl-hint exerciseUrl-error');
    expect(await dialog.getByLabel('Name').getAttribute('aria-invalid')).toBe('false');
    expect(await focused(page)).toMatchObject({ id: 'exerciseUrl' });
    expect(await fx.db.prisma.app.count({ where: { ownerId } })).toBe(0);

    // Checked before sending: an empty name.
    await dialog.getByLabel('Name').fill('');
    await dialog.getByRole('button', { name: 'Create app' }).click();
    await dialog.locator('#name-error').filter({ hasText: 'Required.' }).waitFor();
    await dialog.getByLabel('Name').fill('Remote');
    await url.fill('https://exercises.example.org/remote');
    await dialog.getByRole('button', { name: 'Create app' }).click();
    await dialog.waitFor({ state: 'hidden' });
    const app = await fx.db.prisma.app.findFirstOrThrow({ where: { ownerId } });

    // The LTI settings: checked when a field is left, and by the API on save.
    await fx.db.prisma.app.update({ where: { id: app.id }, data: { isPublic: true } });
    await openApp(page, app.id, 'lti', 'Remote');
    const issuer = page.getByLabel('Issuer', { exact: true });
    await issuer.fill('lms.example.org');
    await page.getByLabel('Client ID', { exact: true }).focus();
    await page.locator('#issuer-error').filter({ hasText: 'Enter a full URL, starting with https://' }).waitFor();
    await issuer.fill('https://lms.example.org');
    await page.getByLabel('Client ID', { exact: true }).fill('c0ffee00-0000-4000-8000-000000000001');
    await page.getByLabel('Login URL', { exact: true }).fill('https://lms.example.org/api/lti_consumer/v1/launch/');
    await page.getByLabel('Access Token URL', { exact: true }).fill('https://lms.example.org/api/lti_consumer/v1/token/x');
    await page.getByLabel('Keyset URL', { exact: true }).fill('http://lms.example.org/api/lti_consumer/v1/public_keysets/x');
    await page.getByLabel('Deployment ID', { exact: true }).fill('1');
    await page.getByRole('button', { name: 'Save LTI settings' }).click();
    await page.locator('#keysetUrl-error').filter({ hasText: HTTPS_ONLY }).waitFor();
    expect(await page.locator('#issuer-error').count()).toBe(0);
    expect(await page.getByLabel('Keyset URL', { exact: true }).getAttribute('aria-invalid')).toBe('true');
    expect(await focused(page)).toMatchObject({ id: 'keysetUrl' });
    expect(await fx.db.prisma.ltiRegistration.count({ where: { appId: app.id } })).toBe(0);
    expectNoConsoleErrors(fx.consoleErrors);
  });

  it('lists several registrations per app, and edits and removes them', async () => {
    const { app, first, second, page, list } = await quizWithTwoRegistrations();

    await page.getByRole('button', { name: 'Edit Autumn course' }).click();
    expect(await page.getByLabel('Issuer', { exact: true }).inputValue()).toBe(first.issuer);
    expect(await page.getByLabel('Client ID', { exact: true }).inputValue()).toBe(first.clientId);
    expect(await page.getByLabel('Deployment ID', { exact: true }).inputValue()).toBe('1');
    expect(await focused(page)).toMatchObject({ id: 'issuer' });
    await page.getByLabel('Label (optional)').fill('Autumn 2026');
    await page.getByLabel('Deployment ID', { exact: true }).fill('1, 2');
    await page.getByRole('button', { name: 'Save LTI settings' }).click();
    await list.getByRole('heading', { name: 'Autumn 2026' }).waitFor();
    expect(await focused(page)).toMatchObject({ label: 'Edit Autumn 2026' });
    expect(await fx.db.prisma.ltiRegistration.findUniqueOrThrow({ where: { id: first.id } })).toMatchObject({
      label: 'Autumn 2026',
      deploymentIds: ['1', '2'],
    });

    await page.getByRole('button', { name: 'Remove Spring course' }).click();
    const confirm = page.getByRole('dialog', { name: 'Remove the LTI settings for Spring course?' });
    await confirm.getByRole('button', { name: 'Remove' }).click();
    await list.getByRole('heading', { name: 'Spring course' }).waitFor({ state: 'detached' });
    expect(await fx.db.prisma.ltiRegistration.findUnique({ where: { id: second.id } })).toBeNull();

    // Another tab and back: the list is the saved one.
    await page.getByRole('tab', { name: 'Widget' }).click();
    await list.waitFor({ state: 'detached' });
    await page.getByRole('tab', { name: 'LTI' }).click();
    await list.getByRole('heading', { name: 'Autumn 2026' }).waitFor();
    expect(await list.getByRole('heading').allTextContents()).toEqual(['Autumn 2026']);

    await page.getByRole('button', { name: 'Add another registration' }).click();
    expect(await focused(page)).toMatchObject({ id: 'issuer' });
    await page.getByRole('button', { name: 'Cancel' }).click();
    expect(await focused(page)).toMatchObject({ text: 'Add another registration' });
  });

  it('shows the edited and removed registrations at once back on the LTI tab, before its reload answers', async () => {
    const { page, list } = await quizWithTwoRegistrations();

    await page.getByRole('button', { name: 'Edit Autumn course' }).click();
    await page.getByLabel('Label (optional)').fill('Autumn 2026');
    await page.getByRole('button', { name: 'Save LTI settings' }).click();
    await list.getByRole('heading', { name: 'Autumn 2026' }).waitFor();
    await removeRegistration(page, 'Spring course');
    await list.getByRole('heading', { name: 'Spring course' }).waitFor({ state: 'detached' });

    await page.getByRole('tab', { name: 'Widget' }).click();
    await list.waitFor({ state: 'detached' });
    // Hold the app page's reload (the next GraphQL request) until the list shown meanwhile is checked.
    let hold!: (route: Route) => void;
    const reload = new Promise<Route>((resolve) => (hold = resolve));
    await page.route('**/graphql', (route) => hold(route), { times: 1 });
    await page.getByRole('tab', { name: 'LTI' }).click();
    const route = await reload;
    try {
      expect(route.request().postDataJSON().query).toMatch(/\bquery AppSetup\b/);
      await list.waitFor();
      expect(await list.getByRole('heading').allTextContents()).toEqual(['Autumn 2026']);
    } finally {
      const answered = page.waitForResponse('**/graphql');
      await route.continue();
      await answered;
    }
    expect(await list.getByRole('heading').allTextContents()).toEqual(['Autumn 2026']);
    expectNoConsoleErrors(fx.consoleErrors);
  });

  it('a reload that answers after a removal does not bring the removed registration back', async () => {
    const { page, list } = await quizWithTwoRegistrations();

    await page.getByRole('tab', { name: 'Widget' }).click();
    await list.waitFor({ state: 'detached' });
    // The reload on coming back reads the server now (both registrations), but its answer is
    // held until after Spring course is removed: an answer older than the page's own change.
    let hold!: (answer: { route: Route; response: APIResponse }) => void;
    const held = new Promise<{ route: Route; response: APIResponse }>((resolve) => (hold = resolve));
    await page.route('**/graphql', async (route) => hold({ route, response: await route.fetch() }), { times: 1 });
    await page.getByRole('tab', { name: 'LTI' }).click();
    const { route, response } = await held;
    expect(route.request().postDataJSON().query).toMatch(/\bquery AppSetup\b/);
    await removeRegistration(page, 'Spring course');
    await page.getByText('Removed the LTI settings for Spring course.').waitFor();

    // Resolves once the page has read the next GraphQL answer and run every microtask after it
    // (the page's handling and Lit's render): a task queued then runs only after all of them.
    await page.evaluate(() => {
      const json = Response.prototype.json;
      (window as unknown as { handled: Promise<void> }).handled = new Promise((done) => {
        Response.prototype.json = function (this: Response) {
          const body = json.call(this);
          void body.finally(() => setTimeout(done, 0));
          return body;
        };
      });
    });
    await route.fulfill({ response });
    await page.evaluate(() => (window as unknown as { handled: Promise<void> }).handled);
    expect(await list.getByRole('heading').allTextContents()).toEqual(['Autumn course']);
    expectNoConsoleErrors(fx.consoleErrors);
  });

  it('says a private app must be public for LTI, and offers the switch', async () => {
    const { token, ownerId } = await fx.owner();
    const app = await seedApp(ownerId, { name: 'Draft', isPublic: false });
    const page = await fx.page();
    await fx.signIn(page, token);
    await openApp(page, app.id, 'lti', 'Draft');
    await page.getByText('LTI sharing needs the app to be public.').waitFor();
    expect(await page.getByLabel('Tool Launch URL', { exact: true }).count()).toBe(0);
    await page.getByRole('switch', { name: 'Public' }).click(); // the notice and its switch go once it is public
    await page.getByLabel('Tool Launch URL', { exact: true }).waitFor();
    await page.getByText('Public', { exact: true }).waitFor(); // the badge
    expect(await fx.db.prisma.app.findUniqueOrThrow({ where: { id: app.id } })).toMatchObject({ isPublic: true });
  });
});

describe('apps list', () => {
  it('deletes an app only after confirmation', async () => {
    const { token, ownerId } = await fx.owner();
    const keep = await seedApp(ownerId, { name: 'Keeper' });
    const drop = await seedApp(ownerId, { name: 'Old quiz' });
    const page = await fx.page();
    await fx.signIn(page, token);

    const kebab = page.getByRole('button', { name: 'Actions for Old quiz' });
    await kebab.click();
    await page.getByRole('menuitem', { name: 'Delete' }).click();
    const confirm = page.getByRole('dialog', { name: 'Delete Old quiz?' });
    await confirm.waitFor();
    expect(await focused(page)).toMatchObject({ id: 'cancel' }); // the safe choice first
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    await confirm.waitFor({ state: 'hidden' });
    expect(await focused(page)).toMatchObject({ label: 'Actions for Old quiz' });
    expect(await fx.db.prisma.app.count({ where: { id: drop.id } })).toBe(1);

    await kebab.click();
    await page.getByRole('menuitem', { name: 'Delete' }).click();
    await confirm.getByRole('button', { name: 'Delete app' }).click();
    await page.getByRole('link', { name: 'Old quiz' }).waitFor({ state: 'detached' });
    await page.getByText('Deleted Old quiz.').waitFor({ state: 'attached' });
    expect(await fx.db.prisma.app.count({ where: { id: drop.id } })).toBe(0);
    expect(await fx.db.prisma.app.count({ where: { id: keep.id } })).toBe(1);
    await page.getByRole('link', { name: 'Keeper' }).waitFor();
    expectNoConsoleErrors(fx.consoleErrors);
  });

  it('works the app menu and the tabs with the keyboard', async () => {
    const { token, ownerId } = await fx.owner();
    await seedApp(ownerId, { name: 'Fractions' });
    const page = await fx.page();
    await fx.signIn(page, token);
    const kebab = page.getByRole('button', { name: 'Actions for Fractions' });
    await kebab.focus();
    expect(await kebab.getAttribute('aria-haspopup')).toBe('menu');

    const expectFocus = async (text: string) => expect((await focused(page)).text).toBe(text);
    await page.keyboard.press('ArrowDown');
    await page.getByRole('menu', { name: 'Actions for Fractions' }).waitFor();
    expect(await kebab.getAttribute('aria-expanded')).toBe('true');
    await expectFocus('Edit');
    for (const [key, text] of [
      ['ArrowDown', 'Share'],
      ['ArrowDown', 'Delete'],
      ['ArrowDown', 'Edit'],
      ['ArrowUp', 'Delete'],
      ['Home', 'Edit'],
      ['End', 'Delete'],
      ['s', 'Share'],
    ] as const) {
      await page.keyboard.press(key);
      await expectFocus(text);
    }
    await page.keyboard.press('Escape');
    await page.getByRole('menu').waitFor({ state: 'hidden' });
    expect(await kebab.getAttribute('aria-expanded')).toBe('false');
    expect(await focused(page)).toMatchObject({ label: 'Actions for Fractions' });

    // ArrowUp opens on the last item; Enter chooses.
    await page.keyboard.press('ArrowUp');
    await expectFocus('Delete');
    await page.keyboard.press('ArrowUp');
    await page.keyboard.press('Enter');
    await page.getByRole('tab', { name: 'LTI', selected: true }).waitFor();

    // Tabs: arrows move and select, focus follows.
    await page.getByRole('tab', { name: 'LTI' }).focus();
    await page.keyboard.press('ArrowRight');
    await page.getByRole('tab', { name: 'Widget', selected: true }).waitFor();
    expect(await focused(page)).toMatchObject({ id: 'tab-widget' });
    await page.keyboard.press('End');
    await page.getByRole('tab', { name: 'Launches and grades', selected: true }).waitFor();
    await page.keyboard.press('ArrowRight');
    await page.getByRole('tab', { name: 'LTI', selected: true }).waitFor();
    expect(await focused(page)).toMatchObject({ id: 'tab-lti' });
  });

  it('moves focus into dialogs and back to what opened them', async () => {
    const { token, ownerId } = await fx.owner();
    await seedApp(ownerId, { name: 'Fractions' });
    const page = await fx.page();
    await fx.signIn(page, token);

    const kebab = page.getByRole('button', { name: 'Actions for Fractions' });
    await kebab.focus();
    await page.keyboard.press('Enter');
    await page.keyboard.press('Enter'); // Edit
    const dialog = page.getByRole('dialog', { name: 'Edit app' });
    await dialog.waitFor();
    expect(await focused(page)).toMatchObject({ id: 'name' });
    expect(await dialog.getByLabel('Name').inputValue()).toBe('Fractions');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    expect(await focused(page)).toMatchObject({ label: 'Actions for Fractions' });

    const newApp = page.getByRole('button', { name: 'New app' });
    await newApp.click();
    const create = page.getByRole('dialog', { name: 'New app' });
    await create.waitFor();
    expect(await focused(page)).toMatchObject({ id: 'name' });
    expect(await create.getByLabel('Name').inputValue()).toBe('');
    await create.getByRole('button', { name: 'Cancel' }).click();
    await create.waitFor({ state: 'hidden' });
    expect(await focused(page)).toMatchObject({ id: 'new-app' });
  });
});

describe('launches and grades', () => {
  it('shows the delivery state with the last error, and retries a failed delivery', async () => {
    const { token, ownerId } = await fx.owner();
    const app = await seedApp(ownerId, { name: 'Quiz' });
    const registration = await fx.seedRegistration(app.id);
    await fx.seedLaunch(app.id, registration.id, 'learner-delivered', { state: 'DELIVERED' });
    const failed = await fx.seedLaunch(app.id, registration.id, 'learner-failed', {
      state: 'FAILED',
      lastError: 'HTTP 400: score timestamp must be later than the last one',
    });
    const page = await fx.page();
    await fx.signIn(page, token);
    await openApp(page, app.id, 'activity', 'Quiz');

    const row = page.getByRole('row').filter({ hasText: 'learner-failed' });
    await row.getByText('Failed', { exact: true }).waitFor();
    await row.getByText('HTTP 400: score timestamp must be later than the last one').waitFor();
    await row.getByText('Demonstration course with a rather long title').waitFor();
    const other = page.getByRole('row').filter({ hasText: 'learner-delivered' });
    await other.getByText('Delivered', { exact: true }).waitFor();
    expect(await other.getByRole('button', { name: /Retry/ }).count()).toBe(0);

    await row.getByRole('button', { name: 'Retry the grade delivery for learner-failed' }).click();
    await row.getByText('Pending', { exact: true }).waitFor();
    expect(await row.getByRole('button', { name: /Retry/ }).count()).toBe(0);
    expect(await focused(page)).toMatchObject({ text: 'Pending' });
    expect(await fx.db.prisma.grade.findUniqueOrThrow({ where: { id: failed.id } })).toMatchObject({ state: 'PENDING' });
    expectNoConsoleErrors(fx.consoleErrors);
  });

  it('retries every failed delivery of the app at once, announces it, and keeps focus in the list', async () => {
    const { token, ownerId } = await fx.owner();
    const app = await seedApp(ownerId, { name: 'Quiz' });
    const registration = await fx.seedRegistration(app.id);
    const failed = [];
    for (const learner of ['learner-1', 'learner-2', 'learner-3']) {
      failed.push(await fx.seedLaunch(app.id, registration.id, learner, { state: 'FAILED', lastError: 'HTTP 400: invalid_client' }));
    }
    const delivered = await fx.seedLaunch(app.id, registration.id, 'learner-delivered', { state: 'DELIVERED' });
    // Another app's failed delivery is neither counted nor queued.
    const other = await seedApp(ownerId, { name: 'Other' });
    const otherFailed = await fx.seedLaunch(other.id, (await fx.seedRegistration(other.id)).id, 'learner-other', { state: 'FAILED' });
    const page = await fx.page();
    await fx.signIn(page, token);
    await openApp(page, app.id, 'activity', 'Quiz');

    await page.getByText('3 grade deliveries failed.').waitFor();
    const retryAll = page.getByRole('button', { name: 'Retry all failed' });
    // Hold the mutation's answer, to see the button while it runs.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    await page.route('**/graphql', async (route: Route) => {
      if (route.request().postDataJSON().query.includes('retryFailedGradeDeliveries')) await held;
      await route.fallback();
    });
    await retryAll.focus();
    await page.keyboard.press('Enter');
    const busy = page.getByRole('button', { name: 'Retrying…' });
    await busy.waitFor();
    expect(await busy.isDisabled()).toBe(true);
    release();

    await page.getByRole('status').filter({ hasText: 'Queued 3 grades for delivery again.' }).waitFor();
    for (const learner of ['learner-1', 'learner-2', 'learner-3']) {
      const row = page.getByRole('row').filter({ hasText: learner });
      await row.getByText('Pending', { exact: true }).waitFor();
      expect(await row.getByRole('button', { name: /Retry/ }).count()).toBe(0);
    }
    await page.getByRole('row').filter({ hasText: 'learner-delivered' }).getByText('Delivered', { exact: true }).waitFor();
    expect(await page.getByRole('button', { name: /Retry all failed|Retrying/ }).count()).toBe(0);
    expect(await page.getByText(/grade deliver(y|ies) failed\./).count()).toBe(0);
    // The button went: focus is on the first of the grades it queued (Pending now), not the page.
    expect(await focused(page)).toMatchObject({ text: 'Pending' });

    for (const grade of failed) {
      expect(await fx.db.prisma.grade.findUniqueOrThrow({ where: { id: grade.id } })).toMatchObject({ state: 'PENDING', attempts: 0 });
    }
    expect(await fx.db.prisma.grade.findUniqueOrThrow({ where: { id: delivered.id } })).toMatchObject({ state: 'DELIVERED' });
    expect(await fx.db.prisma.grade.findUniqueOrThrow({ where: { id: otherFailed.id } })).toMatchObject({ state: 'FAILED' });
    expectNoConsoleErrors(fx.consoleErrors);
  });

  it("lists the app's latest refused launches, newest first, with code, sentence and registration", async () => {
    const { token, ownerId } = await fx.owner();
    const app = await seedApp(ownerId, { name: 'Refused' });
    const registration = await fx.seedRegistration(app.id, 'Physics 101');
    await seedRefusal(app.id, null, 'ERR_LTI_STATE_COOKIE_MISSING', 5);
    await seedRefusal(app.id, registration.id, 'ERR_LTI_UNKNOWN_KID', 1);
    // Another app's refusal stays on that app.
    const other = await seedApp(ownerId, { name: 'Other' });
    await seedRefusal(other.id, null, 'ERR_LTI_BAD_SIGNATURE');
    const page = await fx.page();
    await fx.signIn(page, token);
    await openApp(page, app.id, 'activity', 'Refused');

    const list = page.getByRole('list', { name: 'Refused launches' });
    await list.waitFor();
    const items = list.getByRole('listitem');
    expect(await items.count()).toBe(2);
    expect(await items.nth(0).textContent()).toContain('ERR_LTI_UNKNOWN_KID');
    await items.nth(0).getByText(LTI_ERRORS.ERR_LTI_UNKNOWN_KID[1]).waitFor();
    await items.nth(0).getByText(/Physics 101/).waitFor();
    expect(await items.nth(1).textContent()).toContain('ERR_LTI_STATE_COOKIE_MISSING');
    expect(await list.textContent()).not.toContain('ERR_LTI_BAD_SIGNATURE');
    expectNoConsoleErrors(fx.consoleErrors);
  });
});

describe('narrow screens', () => {
  it('fits a 375 px wide screen without horizontal scrolling', async () => {
    const { token, ownerId } = await fx.owner('Someone with a fairly long display name');
    const app = await seedApp(ownerId, { name: 'An exercise with a long name about fractions and decimals' });
    const registration = await fx.seedRegistration(app.id, 'Course with a long label, spring term 2026');
    await fx.seedLaunch(app.id, registration.id, 'a-very-long-learner-identifier-0123456789abcdef0123456789abcdef', {
      state: 'FAILED',
      lastError: 'HTTP 500: {"error":"internal","detail":"a long answer from the platform without any spaces_in_it_at_all"}',
    });
    await seedRefusal(app.id, registration.id, 'ERR_LTI_UNKNOWN_REGISTRATION');
    const page = await fx.page({ width: 375, height: 740 });
    const noHorizontalScroll = async (where: string) => {
      const { scrollWidth, innerWidth } = await page.evaluate(() => ({
        scrollWidth: document.documentElement.scrollWidth,
        innerWidth: window.innerWidth,
      }));
      expect(scrollWidth, where).toBeLessThanOrEqual(innerWidth);
    };

    await page.goto(`${fx.tool.baseUrl}/`);
    await page.getByLabel('API token').waitFor();
    await noHorizontalScroll('sign-in');
    await fx.signIn(page, token);
    await noHorizontalScroll('apps');
    await page.getByRole('button', { name: /^Actions for/ }).click();
    await page.getByRole('menu').waitFor();
    await noHorizontalScroll('menu');
    await page.getByRole('menuitem', { name: 'Edit' }).click();
    await page.getByRole('dialog', { name: 'Edit app' }).waitFor();
    await noHorizontalScroll('edit dialog');
    await page.keyboard.press('Escape');

    await openApp(page, app.id, 'lti', 'An exercise with a long name about fractions and decimals');
    await page.getByLabel('Tool Launch URL', { exact: true }).waitFor();
    await noHorizontalScroll('LTI tab');
    await page.getByRole('button', { name: 'Add another registration' }).click();
    await noHorizontalScroll('registration form');
    await page.getByRole('tab', { name: 'Widget' }).click();
    await page.getByLabel('Widget embed snippet').waitFor();
    await noHorizontalScroll('widget tab');
    await page.getByRole('tab', { name: 'Launches and grades' }).click();
    await page.getByText('Failed', { exact: true }).waitFor();
    await page.getByText('ERR_LTI_UNKNOWN_REGISTRATION').waitFor();
    await noHorizontalScroll('launches and grades');
    expectNoConsoleErrors(fx.consoleErrors);
  });
});
