/**
 * The owner dashboard when things go wrong, in Chromium: a malformed link, an answer that comes
 * back after the owner moved on (a dialog closed and opened again, a list loaded twice), a page
 * that could not be loaded, focus when Show more brings the last page, a grade whose state
 * changed meanwhile (with more than one page of launches shown), a refused clipboard, a copy
 * made twice, a revoked token announced at the field that takes focus, more registrations than
 * one page of the API, input typed in the registration form and not saved yet, and an app
 * deleted elsewhere; and Retry all failed when a reload was under way, the server could not be
 * reached, or the app was deleted meanwhile.
 */
import { randomUUID } from 'node:crypto';
import { encodeGlobalID } from '@pothos/plugin-relay';
import type { APIResponse, Page, Route } from 'playwright-core';
import { describe, expect, it, vi } from 'vitest';
import { expectNoConsoleErrors, focused, useDashboardFixture } from './fixture.ts';

const fx = useDashboardFixture();

const REVOKED = 'Your API token is no longer valid (it may have been revoked). Sign in again with a valid token.';

let seq = 0;
async function seedApp(ownerId: string, name: string, isPublic = true) {
  seq += 1;
  return fx.db.prisma.app.create({
    data: { ownerId, name, exerciseUrl: `https://exercises.example.org/${seq}/`, isPublic },
  });
}

async function openApp(page: Page, appId: string, tab: 'lti' | 'widget' | 'activity', name: string): Promise<void> {
  await page.goto(`${fx.tool.baseUrl}/#/apps/${encodeURIComponent(encodeGlobalID('App', appId))}/${tab}`);
  await page.getByRole('heading', { name, level: 1 }).waitFor();
}

/** The operation name of a GraphQL request the page sent. */
const operationOf = (route: Route): string => /\b(?:query|mutation) (\w+)/.exec(route.request().postDataJSON().query)?.[1] ?? '';

/**
 * Holds the page's next request for `operation` (the others go through): resolves with it and
 * its answer, fetched at once from the server (so it says what was true then), not yet given
 * to the page.
 */
async function holdNext(page: Page, operation: string): Promise<{ route: Route; response: APIResponse }> {
  return new Promise((resolve) => {
    let held = false;
    void page.route('**/graphql', async (route) => {
      if (held || operationOf(route) !== operation) return route.fallback();
      held = true;
      resolve({ route, response: await route.fetch() });
    });
  });
}

/**
 * Resolves once the page has read its next GraphQL answer and run every microtask after it
 * (its handling and Lit's render): call before fulfilling a held request, await after.
 */
async function afterNextAnswer(page: Page): Promise<() => Promise<void>> {
  await page.evaluate(() => {
    const json = Response.prototype.json;
    (window as unknown as { handled: Promise<void> }).handled = new Promise((done) => {
      Response.prototype.json = function (this: Response) {
        const body = json.call(this);
        Response.prototype.json = json;
        void body.finally(() => setTimeout(done, 0));
        return body;
      };
    });
  });
  return () => page.evaluate(() => (window as unknown as { handled: Promise<void> }).handled);
}

describe('links', () => {
  it('answers a malformed app link with "App not found", not a blank page', async () => {
    const { token } = await fx.owner();
    const page = await fx.page();
    // A truncated %-escape, e.g. a link cut short when pasted.
    await page.goto(`${fx.tool.baseUrl}/#/apps/QXBwOj%E0%A4%A/lti`);
    await page.getByLabel('API token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'App not found', level: 1 }).waitFor();
    await page.getByRole('link', { name: '← All apps' }).click();
    await page.getByRole('heading', { name: 'Apps', level: 1, exact: true }).waitFor();
    // And arriving on one while signed in.
    await page.evaluate(() => (location.hash = '#/apps/%/widget'));
    await page.getByRole('heading', { name: 'App not found', level: 1 }).waitFor();
    expectNoConsoleErrors(fx.consoleErrors);
  });
});

describe('answers that come back late', () => {
  it('a create that answers after the dialog was closed and opened again leaves the new dialog alone', async () => {
    const { token, ownerId } = await fx.owner();
    const page = await fx.page();
    await fx.signIn(page, token);

    const held = holdNext(page, 'CreateApp');
    await page.getByRole('button', { name: 'New app' }).click();
    const dialog = page.getByRole('dialog', { name: 'New app' });
    await dialog.getByLabel('Name').fill('First');
    await dialog.getByLabel('Exercise URL').fill('https://exercises.example.org/first');
    await dialog.getByRole('button', { name: 'Create app' }).click();
    const { route, response } = await held;
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });

    await page.getByRole('button', { name: 'New app' }).click();
    await dialog.getByLabel('Name').fill('Second');
    await route.fulfill({ response });
    // The first app was created: the list shows it...
    await page.getByRole('link', { name: 'First' }).waitFor();
    // ...and the dialog being filled in is still open, as it was, and can be submitted.
    expect(await dialog.isVisible()).toBe(true);
    expect(await dialog.getByLabel('Name').inputValue()).toBe('Second');
    expect(await dialog.getByRole('button', { name: 'Create app' }).isEnabled()).toBe(true);
    await dialog.getByLabel('Exercise URL').fill('https://exercises.example.org/second');
    await dialog.getByRole('button', { name: 'Create app' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await page.getByRole('link', { name: 'Second' }).waitFor();
    expect((await fx.db.prisma.app.findMany({ where: { ownerId }, orderBy: { id: 'asc' } })).map((a) => a.name)).toEqual(['First', 'Second']);
    expectNoConsoleErrors(fx.consoleErrors);
  });

  it('a list load that answers after a later one (and a delete) does not bring the deleted app back', async () => {
    const { token, ownerId } = await fx.owner();
    await seedApp(ownerId, 'Algebra');
    const doomed = await seedApp(ownerId, 'Geometry');
    const page = await fx.page();
    await fx.signIn(page, token);

    // Saving Algebra reloads the list; that answer (both apps) is held until Geometry is deleted.
    const held = holdNext(page, 'Apps');
    await page.getByRole('button', { name: 'Actions for Algebra' }).click();
    await page.getByRole('menuitem', { name: 'Edit' }).click();
    const edit = page.getByRole('dialog', { name: 'Edit app' });
    await edit.getByLabel('Name').fill('Algebra 2');
    await edit.getByRole('button', { name: 'Save' }).click();
    const { route, response } = await held;
    await edit.waitFor({ state: 'hidden' });

    await page.getByRole('button', { name: 'Actions for Geometry' }).click();
    await page.getByRole('menuitem', { name: 'Delete' }).click();
    await page.getByRole('dialog', { name: 'Delete Geometry?' }).getByRole('button', { name: 'Delete app' }).click();
    await page.getByRole('link', { name: 'Geometry' }).waitFor({ state: 'detached' });
    expect(await fx.db.prisma.app.count({ where: { id: doomed.id } })).toBe(0);

    const handled = await afterNextAnswer(page);
    await route.fulfill({ response });
    await handled();
    expect(await page.getByRole('list', { name: 'Apps', exact: true }).getByRole('link').allTextContents()).toEqual(['Algebra 2']);
    expectNoConsoleErrors(fx.consoleErrors);
  });
});

describe('network failures', () => {
  it("offers to try an app's page again when it could not be loaded", async () => {
    const { token, ownerId } = await fx.owner();
    const app = await seedApp(ownerId, 'Offline');
    const page = await fx.page();
    await fx.signIn(page, token);
    await page.route('**/graphql', (route) => (operationOf(route) === 'AppSetup' ? route.abort('internetdisconnected') : route.fallback()), { times: 1 });
    await page.goto(`${fx.tool.baseUrl}/#/apps/${encodeURIComponent(encodeGlobalID('App', app.id))}/lti`);
    await page.getByRole('alert').filter({ hasText: 'Could not reach the server. Check your connection and try again.' }).waitFor();
    await page.getByRole('button', { name: 'Try again' }).click();
    await page.getByRole('heading', { name: 'Offline', level: 1 }).waitFor();
    await page.getByRole('tab', { name: 'LTI', selected: true }).waitFor();
    // The browser logs the aborted request; nothing else.
    expectNoConsoleErrors(fx.consoleErrors.splice(0).filter((e) => !e.includes('ERR_INTERNET_DISCONNECTED')));
  });
});

describe('launches and grades', () => {
  it('Show more keeps keyboard focus in the list when the last page comes', async () => {
    const { token, ownerId } = await fx.owner();
    const app = await seedApp(ownerId, 'Popular');
    const registration = await fx.seedRegistration(app.id);
    // 51 launches: a page of 50 (newest first), then one more, learner-00.
    await fx.db.prisma.launch.createMany({
      data: Array.from({ length: 51 }, (_, i) => ({
        id: `0190a000-0000-7000-8000-${String(i).padStart(12, '0')}`,
        appId: app.id,
        registrationId: registration.id,
        deploymentId: '1',
        subject: `learner-${String(i).padStart(2, '0')}`,
        roles: [],
        resourceLinkId: 'block-1',
        agsScopes: [],
        credentialHash: randomUUID(),
        credentialExpiresAt: new Date(Date.now() + 3_600_000),
      })),
    });
    const page = await fx.page();
    await fx.signIn(page, token);
    await openApp(page, app.id, 'activity', 'Popular');
    await page.getByRole('row').filter({ hasText: 'learner-50' }).waitFor();
    const more = page.getByRole('button', { name: 'Show more' });
    await more.focus();
    await page.keyboard.press('Enter');
    await page.getByRole('row').filter({ hasText: 'learner-00' }).waitFor();
    await more.waitFor({ state: 'detached' });
    // Focus is on the first launch just shown, not lost to the page.
    const where = await focused(page);
    expect(where.tag).toBe('tr');
    expect(where.text).toContain('learner-00');
    expectNoConsoleErrors(fx.consoleErrors);
  });


  it('a Retry refused because the delivery is no longer failed shows why, and the grade as it is now', async () => {
    const { token, ownerId } = await fx.owner();
    const app = await seedApp(ownerId, 'Quiz');
    const registration = await fx.seedRegistration(app.id);
    const grade = await fx.seedLaunch(app.id, registration.id, 'learner-7', { state: 'FAILED', lastError: 'HTTP 400' });
    const page = await fx.page();
    await fx.signIn(page, token);
    await openApp(page, app.id, 'activity', 'Quiz');
    const row = page.getByRole('row').filter({ hasText: 'learner-7' });
    await row.getByText('Failed', { exact: true }).waitFor();

    // Meanwhile (another tab, another owner's script) the delivery was queued again.
    await fx.db.prisma.grade.update({ where: { id: grade.id }, data: { state: 'PENDING', nextAttemptAt: new Date(Date.now() + 60_000) } });
    await row.getByRole('button', { name: 'Retry the grade delivery for learner-7' }).click();
    await page.getByRole('alert').filter({ hasText: 'Only failed deliveries can be retried; this one is PENDING.' }).waitFor();
    await row.getByText('Pending', { exact: true }).waitFor();
    expect(await row.getByRole('button', { name: /Retry/ }).count()).toBe(0);
    expectNoConsoleErrors(fx.consoleErrors);
  });
});

describe('retrying all failed deliveries', () => {
  /** An app "Quiz" with a FAILED grade for each learner, open on its activity tab. */
  async function quizWithFailedGrades(learners: string[]) {
    const { token, ownerId } = await fx.owner();
    const app = await seedApp(ownerId, 'Quiz');
    const registration = await fx.seedRegistration(app.id);
    const gradeIds: string[] = [];
    for (const subject of learners) gradeIds.push((await fx.seedLaunch(app.id, registration.id, subject, { state: 'FAILED', lastError: 'HTTP 400' })).id);
    const page = await fx.page();
    await fx.signIn(page, token);
    await openApp(page, app.id, 'activity', 'Quiz');
    await page.getByText(learners.length === 1 ? '1 grade delivery failed.' : `${learners.length} grade deliveries failed.`).waitFor();
    return { page, gradeIds, appId: app.id };
  }

  it('a list reload that read the grades before they were queued is followed by another', async () => {
    const { page, gradeIds } = await quizWithFailedGrades(['learner-r1', 'learner-r2']);
    // Refresh, and hold its answer (read now, while the grades are FAILED).
    const reload = holdNext(page, 'AppActivity');
    await page.getByRole('button', { name: 'Refresh' }).click();
    const { route, response } = await reload;
    await page.getByRole('button', { name: 'Retry all failed' }).click();
    await vi.waitFor(async () => {
      for (const id of gradeIds) expect(await fx.db.prisma.grade.findUniqueOrThrow({ where: { id } })).toMatchObject({ state: 'PENDING' });
    });
    // The stale answer lands after the mutation's: the panel loads again instead of showing it as current.
    await route.fulfill({ response });
    await page.getByRole('status').filter({ hasText: 'Queued 2 grades for delivery again.' }).waitFor();
    for (const learner of ['learner-r1', 'learner-r2']) {
      await page.getByRole('row').filter({ hasText: learner }).getByText('Pending', { exact: true }).waitFor();
    }
    expect(await page.getByRole('button', { name: 'Retry all failed' }).count()).toBe(0);
    expect(await focused(page)).toMatchObject({ text: 'Pending' });
    expectNoConsoleErrors(fx.consoleErrors);
  });

  it('one that could not reach the server says so, and keeps the button, with focus on it', async () => {
    const { page, gradeIds } = await quizWithFailedGrades(['learner-n1', 'learner-n2']);
    await page.route('**/graphql', (route) => (operationOf(route) === 'RetryFailedGradeDeliveries' ? route.abort('internetdisconnected') : route.fallback()), { times: 1 });
    await page.getByRole('button', { name: 'Retry all failed' }).click();
    await page.getByRole('alert').filter({ hasText: 'Could not reach the server. Check your connection and try again.' }).waitFor();
    const retryAll = page.getByRole('button', { name: 'Retry all failed' });
    expect(await retryAll.isEnabled()).toBe(true);
    expect(await focused(page)).toMatchObject({ id: 'retry-all' });
    await page.getByText('2 grade deliveries failed.').waitFor();
    for (const id of gradeIds) expect(await fx.db.prisma.grade.findUniqueOrThrow({ where: { id } })).toMatchObject({ state: 'FAILED' });
    expectNoConsoleErrors(fx.consoleErrors.splice(0).filter((e) => !e.includes('ERR_INTERNET_DISCONNECTED')));
  });

  it('one refused because the app was deleted meanwhile says so', async () => {
    const { page, appId } = await quizWithFailedGrades(['learner-g1']);
    await fx.db.prisma.app.delete({ where: { id: appId } });
    await page.getByRole('button', { name: 'Retry all failed' }).click();
    await page.getByRole('alert').filter({ hasText: 'This app no longer exists.' }).waitFor();
    // No count or button is left beside that: there is nothing to retry.
    expect(await page.getByText(/grade deliver(y|ies) failed\./).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Retry all failed' }).count()).toBe(0);
    expect(await focused(page)).toMatchObject({ text: 'Failed' });
    expectNoConsoleErrors(fx.consoleErrors);
  });
});

describe('copy buttons', () => {
  it('says visibly what to do when the browser refuses to copy', async () => {
    const { token, ownerId } = await fx.owner();
    const app = await seedApp(ownerId, 'Shared');
    const page = await fx.page();
    // As in a browser where the clipboard permission is denied and execCommand is refused too.
    await page.addInitScript(() => {
      Object.defineProperty(navigator, 'clipboard', {
        value: { writeText: () => Promise.reject(new DOMException('Write permission denied.', 'NotAllowedError')) },
      });
      document.execCommand = () => false;
    });
    await fx.signIn(page, token);
    await openApp(page, app.id, 'lti', 'Shared');
    await page.getByRole('button', { name: 'Copy Tool Launch URL' }).click();
    const advice = page.getByText('Could not copy: Tool Launch URL is selected, press Control+C (or Command+C) to copy it.');
    await advice.waitFor();
    // Seen, not only heard: not the 1-pixel box of a screen-reader-only text.
    expect((await advice.boundingBox())!.width).toBeGreaterThan(100);
    expect(await focused(page)).toMatchObject({ id: 'value' });
    const selected = await page.evaluate(() => {
      let el = document.activeElement;
      while (el?.shadowRoot?.activeElement) el = el.shadowRoot.activeElement;
      const input = el as HTMLInputElement;
      return input.value.slice(input.selectionStart ?? 0, input.selectionEnd ?? 0);
    });
    expect(selected).toMatch(/\/lti\/apps\/.+\/launch$/);
    expectNoConsoleErrors(fx.consoleErrors);
  });
});

describe('signing in again', () => {
  it('the token field that takes focus after a revocation is described by the reason', async () => {
    const { token, tokenId } = await fx.owner();
    const page = await fx.page();
    await fx.signIn(page, token);
    await fx.db.prisma.apiToken.update({ where: { id: tokenId }, data: { revokedAt: new Date() } });
    await page.getByRole('button', { name: 'New app' }).click();
    const dialog = page.getByRole('dialog', { name: 'New app' });
    await dialog.getByLabel('Name').fill('Too late');
    await dialog.getByLabel('Exercise URL').fill('https://exercises.example.org/late');
    await dialog.getByRole('button', { name: 'Create app' }).click();
    await page.getByText(REVOKED).waitFor();
    expect(await focused(page)).toMatchObject({ id: 'token' });
    // What a screen reader says on arriving at the field: its label, then its description.
    const description = await page.evaluate(() => {
      let el = document.activeElement;
      while (el?.shadowRoot?.activeElement) el = el.shadowRoot.activeElement;
      const root = el!.getRootNode() as ShadowRoot;
      return (el!.getAttribute('aria-describedby') ?? '')
        .split(/\s+/)
        .map((id) => root.getElementById(id)?.textContent?.replace(/\s+/g, ' ').trim())
        .join(' ');
    });
    expect(description).toContain(REVOKED);
    expectNoConsoleErrors(fx.consoleErrors.splice(0).filter((e) => !e.includes('status of 401')));
  });
});

describe('registrations', () => {
  it('lists every registration of an app, beyond one page of the API (100)', async () => {
    const { token, ownerId } = await fx.owner();
    const app = await seedApp(ownerId, 'Big course');
    await fx.db.prisma.ltiRegistration.createMany({
      data: Array.from({ length: 101 }, (_, i) => {
        const clientId = randomUUID();
        return {
          id: `0190a000-0000-7000-8000-${String(i + 1).padStart(12, '0')}`,
          appId: app.id,
          label: `Unit ${String(i + 1).padStart(3, '0')}`,
          issuer: 'https://lms.example.org',
          clientId,
          authLoginUrl: 'https://lms.example.org/api/lti_consumer/v1/launch/',
          authTokenUrl: `https://lms.example.org/api/lti_consumer/v1/token/${clientId}`,
          keysetUrl: `https://lms.example.org/api/lti_consumer/v1/public_keysets/${clientId}`,
          deploymentIds: ['1'],
        };
      }),
    });
    const page = await fx.page();
    await fx.signIn(page, token);
    await openApp(page, app.id, 'lti', 'Big course');
    const list = page.getByRole('list', { name: 'LTI registrations' });
    await list.getByRole('heading', { name: 'Unit 001' }).waitFor();
    await list.getByRole('heading', { name: 'Unit 101' }).waitFor();
    expect(await list.getByRole('heading').count()).toBe(101);
    expectNoConsoleErrors(fx.consoleErrors);
  });
});

describe('unsaved input in the registration form', () => {
  it('asks before "Add another registration" or another Edit replaces a form with typed input', async () => {
    const { token, ownerId } = await fx.owner();
    const app = await seedApp(ownerId, 'Two courses');
    const autumn = await fx.seedRegistration(app.id, 'Autumn course');
    await fx.seedRegistration(app.id, 'Spring course');
    const page = await fx.page();
    await fx.signIn(page, token);
    await openApp(page, app.id, 'lti', 'Two courses');
    await page.getByRole('list', { name: 'LTI registrations' }).getByRole('heading', { name: 'Spring course' }).waitFor();
    const issuer = page.getByLabel('Issuer', { exact: true });
    const clientId = page.getByLabel('Client ID', { exact: true });

    // A form with nothing typed in it is replaced without a question.
    await page.getByRole('button', { name: 'Add another registration' }).click();
    await page.getByRole('button', { name: 'Edit Autumn course' }).click();
    await page.getByRole('heading', { name: 'Edit LTI settings' }).waitFor();
    expect(await clientId.inputValue()).toBe(autumn.clientId);
    await page.getByRole('button', { name: 'Cancel' }).click();

    // Typed, not saved: Edit asks first, and Keep editing goes back to the form as it was.
    await page.getByRole('button', { name: 'Add another registration' }).click();
    await issuer.fill('https://studio.example.org');
    await clientId.fill('typed-client-id');
    await page.getByRole('button', { name: 'Edit Spring course' }).click();
    const ask = page.getByRole('dialog', { name: 'Discard the LTI settings you entered?' });
    await ask.waitFor();
    expect(await focused(page)).toMatchObject({ text: 'Keep editing' }); // the safe choice first
    await ask.getByRole('button', { name: 'Keep editing' }).click();
    await ask.waitFor({ state: 'hidden' });
    await page.getByRole('heading', { name: 'Add LTI settings from Studio' }).waitFor();
    expect(await issuer.inputValue()).toBe('https://studio.example.org');
    expect(await clientId.inputValue()).toBe('typed-client-id');
    // The dialog's close event comes a task after it hides: wait for focus to settle.
    await expect.poll(() => focused(page)).toMatchObject({ id: 'issuer' });

    // Discard, on purpose: the other registration's form opens.
    await page.getByRole('button', { name: 'Edit Autumn course' }).click();
    await ask.getByRole('button', { name: 'Discard' }).click();
    await page.getByRole('heading', { name: 'Edit LTI settings' }).waitFor();
    expect(await clientId.inputValue()).toBe(autumn.clientId);
    await expect.poll(() => focused(page)).toMatchObject({ id: 'issuer' });

    // A change to a saved registration is kept from "Add another registration" the same way.
    await page.getByLabel('Label (optional)').fill('Autumn 2026');
    await page.getByRole('button', { name: 'Add another registration' }).click();
    const askEdit = page.getByRole('dialog', { name: 'Discard your changes to Autumn course?' });
    await askEdit.getByRole('button', { name: 'Keep editing' }).click();
    await askEdit.waitFor({ state: 'hidden' });
    expect(await page.getByLabel('Label (optional)').inputValue()).toBe('Autumn 2026');
    await page.getByRole('button', { name: 'Save LTI settings' }).click();
    await page.getByRole('list', { name: 'LTI registrations' }).getByRole('heading', { name: 'Autumn 2026' }).waitFor();
    expect(await fx.db.prisma.ltiRegistration.findUniqueOrThrow({ where: { id: autumn.id } })).toMatchObject({ label: 'Autumn 2026' });
    expectNoConsoleErrors(fx.consoleErrors);
  });

  it('keeps the form being edited when a registration above it is removed', async () => {
    const { token, ownerId } = await fx.owner();
    const app = await seedApp(ownerId, 'Two courses');
    await fx.seedRegistration(app.id, 'Autumn course');
    const spring = await fx.seedRegistration(app.id, 'Spring course');
    const page = await fx.page();
    await fx.signIn(page, token);
    await openApp(page, app.id, 'lti', 'Two courses');
    const list = page.getByRole('list', { name: 'LTI registrations' });
    await list.getByRole('heading', { name: 'Spring course' }).waitFor();

    await page.getByRole('button', { name: 'Edit Spring course' }).click();
    await page.getByLabel('Label (optional)').fill('Spring 2027');
    await page.getByRole('button', { name: 'Remove Autumn course' }).click();
    await page.getByRole('dialog', { name: 'Remove the LTI settings for Autumn course?' }).getByRole('button', { name: 'Remove' }).click();
    await list.getByRole('heading', { name: 'Autumn course' }).waitFor({ state: 'detached' });
    expect(await page.getByLabel('Label (optional)').inputValue()).toBe('Spring 2027');
    expect(await page.getByLabel('Client ID', { exact: true }).inputValue()).toBe(spring.clientId);
    expectNoConsoleErrors(fx.consoleErrors);
  });
});

describe('an app deleted elsewhere', () => {
  it('deleting an app that is already gone removes its row and says so, with no error', async () => {
    const { token, ownerId } = await fx.owner();
    await seedApp(ownerId, 'Keeper');
    const gone = await seedApp(ownerId, 'Old quiz');
    const page = await fx.page();
    await fx.signIn(page, token);
    await page.getByRole('link', { name: 'Old quiz' }).waitFor();
    // Meanwhile, in another tab: deleted.
    await fx.db.prisma.app.delete({ where: { id: gone.id } });

    await page.getByRole('button', { name: 'Actions for Old quiz' }).click();
    await page.getByRole('menuitem', { name: 'Delete' }).click();
    await page.getByRole('dialog', { name: 'Delete Old quiz?' }).getByRole('button', { name: 'Delete app' }).click();
    await page.getByRole('link', { name: 'Old quiz' }).waitFor({ state: 'detached' });
    await page.getByRole('status').filter({ hasText: 'Old quiz had already been deleted (elsewhere).' }).waitFor({ state: 'attached' });
    expect(await page.getByRole('alert').count()).toBe(0);
    expect(await page.getByRole('list', { name: 'Apps', exact: true }).getByRole('link').allTextContents()).toEqual(['Keeper']);
    expect(await focused(page)).toMatchObject({ id: 'title' }); // the menu that opened the dialog is gone
    expectNoConsoleErrors(fx.consoleErrors);
  });

  it('a delete that could not reach the server says so without offering to reload the list instead', async () => {
    const { token, ownerId } = await fx.owner();
    const app = await seedApp(ownerId, 'Old quiz');
    const page = await fx.page();
    await fx.signIn(page, token);
    await page.route('**/graphql', (route) => (operationOf(route) === 'DeleteApp' ? route.abort('internetdisconnected') : route.fallback()), { times: 1 });
    await page.getByRole('button', { name: 'Actions for Old quiz' }).click();
    await page.getByRole('menuitem', { name: 'Delete' }).click();
    await page.getByRole('dialog', { name: 'Delete Old quiz?' }).getByRole('button', { name: 'Delete app' }).click();
    await page.getByRole('alert').filter({ hasText: 'Could not reach the server. Check your connection and try again.' }).waitFor();
    // Its Try again would reload the list, not delete: the app's menu is where to try again.
    expect(await page.getByRole('button', { name: 'Try again' }).count()).toBe(0);
    await page.getByRole('link', { name: 'Old quiz' }).waitFor();
    expect(await fx.db.prisma.app.count({ where: { id: app.id } })).toBe(1);
    expectNoConsoleErrors(fx.consoleErrors.splice(0).filter((e) => !e.includes('ERR_INTERNET_DISCONNECTED')));
  });
});

describe('a refused Retry with more than one page of launches shown', () => {
  it('keeps the launches Show more brought, and shows the grade as it is now', async () => {
    const { token, ownerId } = await fx.owner();
    const app = await seedApp(ownerId, 'Popular');
    const registration = await fx.seedRegistration(app.id);
    // 51 launches: a page of 50 (newest first, learner-50 with a failed grade), then learner-00.
    // (Not the ids of the Show more test above: the tests of this file share a database.)
    const ids = Array.from({ length: 51 }, (_, i) => `0190a000-0000-7000-8001-${String(i).padStart(12, '0')}`);
    await fx.db.prisma.launch.createMany({
      data: ids.map((id, i) => ({
        id,
        appId: app.id,
        registrationId: registration.id,
        deploymentId: '1',
        subject: `learner-${String(i).padStart(2, '0')}`,
        roles: [],
        resourceLinkId: 'block-1',
        agsScopes: [],
        credentialHash: randomUUID(),
        credentialExpiresAt: new Date(Date.now() + 3_600_000),
      })),
    });
    const grade = await fx.db.prisma.grade.create({
      data: { id: randomUUID(), launchId: ids[50]!, appId: app.id, registrationId: registration.id, scoreGiven: 1, scoreMaximum: 1, state: 'FAILED', attempts: 8, lastError: 'HTTP 400' },
    });
    const page = await fx.page();
    await fx.signIn(page, token);
    await openApp(page, app.id, 'activity', 'Popular');
    const row = page.getByRole('row').filter({ hasText: 'learner-50' });
    await row.getByText('Failed', { exact: true }).waitFor();
    await page.getByRole('button', { name: 'Show more' }).click();
    await page.getByRole('row').filter({ hasText: 'learner-00' }).waitFor();

    await fx.db.prisma.grade.update({ where: { id: grade.id }, data: { state: 'DELIVERED', deliveredAt: new Date() } });
    await row.getByRole('button', { name: 'Retry the grade delivery for learner-50' }).click();
    await page.getByRole('alert').filter({ hasText: 'Only failed deliveries can be retried; this one is DELIVERED.' }).waitFor();
    await row.getByText('Delivered', { exact: true }).waitFor();
    // The rows Show more brought are still there.
    expect(await page.getByRole('row').filter({ hasText: 'learner-00' }).count()).toBe(1);
    expect(await page.locator('tbody tr').count()).toBe(51);
    expect(await page.getByRole('button', { name: 'Show more' }).count()).toBe(0);
    expect(await focused(page)).toMatchObject({ text: 'Delivered' });
    expectNoConsoleErrors(fx.consoleErrors);
  });
});

describe('copying twice', () => {
  it('announces each copy, also the same field copied again while "Copied" still shows', async () => {
    const { token, ownerId } = await fx.owner();
    const app = await seedApp(ownerId, 'Shared');
    const page = await fx.page({ clipboard: true });
    // The page's timers stand still: "Copied" (3 s) is still shown at the second copy, however slow the machine.
    await page.clock.install();
    await fx.signIn(page, token);
    await openApp(page, app.id, 'lti', 'Shared');
    await page.clock.pauseAt(Date.now() + 60_000);
    // "Copy Tool Launch URL", "Copied Tool Launch URL" once copied.
    const copy = page.getByRole('button', { name: /^Cop(y|ied) Tool Launch URL$/ });
    // What the copy field's live region says, each time its content changes.
    await copy.evaluate((button) => {
      const region = (button.getRootNode() as ShadowRoot).querySelector('[role="status"]')!;
      const said: string[] = [];
      (window as unknown as { said: string[] }).said = said;
      new MutationObserver(() => {
        const text = region.textContent?.trim();
        if (text) said.push(text);
      }).observe(region, { childList: true, subtree: true, characterData: true });
    });
    const said = () => page.evaluate(() => (window as unknown as { said: string[] }).said);

    await copy.click();
    await page.waitForFunction(() => (window as unknown as { said: string[] }).said.length === 1);
    await page.getByRole('button', { name: 'Copied Tool Launch URL' }).waitFor();
    await copy.click();
    await page.waitForFunction(() => (window as unknown as { said: string[] }).said.length === 2);
    expect(await said()).toEqual(['Tool Launch URL copied to the clipboard.', 'Tool Launch URL copied to the clipboard.']);
    expectNoConsoleErrors(fx.consoleErrors);
  });
});
