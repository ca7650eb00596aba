/**
 * The setup flow of the README, as an owner and a learner meet it, in Chromium: sign in with an
 * API token → create an app (the demo exercise) → make it public → Share → read the three URLs
 * for Studio → enter the six values the (test) Open edX platform shows → a learner launches it
 * from the course and finishes → the dashboard shows the grade delivered.
 */
import { describe, expect, it } from 'vitest';
import { ltiToolUrls } from '../../server/lti/tool-urls.ts';
import { DEFAULT_CONTEXT_ID, startTestPlatform } from '../helpers/platform.ts';
import { expectNoConsoleErrors, useDashboardFixture } from './fixture.ts';

const fx = useDashboardFixture({ backgroundJobs: true, deliveryPolicy: { pollIntervalMs: 100 } });

describe('owner dashboard: connect an app to Open edX', () => {
  it('walks from sign-in to a delivered grade', async () => {
    // Same site as the tool (both "localhost"): on plain http the state cookie is SameSite=Lax.
    const platform = await startTestPlatform({ host: 'localhost' });
    try {
      const { token, ownerId } = await fx.owner('Ada');
      const page = await fx.page({ clipboard: true });

      // Sign in.
      await fx.signIn(page, token);
      await page.getByText('Signed in as Ada').waitFor();

      // Create the app (private by default).
      await page.getByRole('button', { name: 'New app' }).click();
      const create = page.getByRole('dialog', { name: 'New app' });
      await create.getByLabel('Name').fill('Web basics');
      await create.getByLabel('Exercise URL').fill(`${fx.tool.baseUrl}/demo/`);
      await create.getByRole('button', { name: 'Create app' }).click();
      await create.waitFor({ state: 'hidden' });
      const row = page.getByRole('listitem').filter({ hasText: 'Web basics' });
      await row.getByText('Private', { exact: true }).waitFor();
      const app = await fx.db.prisma.app.findFirstOrThrow({ where: { ownerId } });
      expect(app).toMatchObject({ name: 'Web basics', exerciseUrl: `${fx.tool.baseUrl}/demo/`, isPublic: false });

      // Make it public (Edit).
      await row.getByRole('button', { name: 'Actions for Web basics' }).click();
      await page.getByRole('menuitem', { name: 'Edit' }).click();
      const edit = page.getByRole('dialog', { name: 'Edit app' });
      await edit.getByRole('switch', { name: 'Public' }).check();
      await edit.getByRole('button', { name: 'Save' }).click();
      await edit.waitFor({ state: 'hidden' });
      await row.getByText('Public', { exact: true }).waitFor();

      // Share → LTI tab: the three URLs for Studio, and the settings beside them.
      await row.getByRole('button', { name: 'Actions for Web basics' }).click();
      await page.getByRole('menuitem', { name: 'Share' }).click();
      await page.getByRole('tab', { name: 'LTI', selected: true }).waitFor();
      const shown = {
        launchUrl: await page.getByLabel('Tool Launch URL', { exact: true }).inputValue(),
        loginUrl: await page.getByLabel('Tool Initiate Login URL', { exact: true }).inputValue(),
        keysetUrl: await page.getByLabel('Tool Keyset URL', { exact: true }).inputValue(),
      };
      expect(shown).toEqual(ltiToolUrls(fx.tool.baseUrl, app.id));
      const settings = page.getByRole('list').filter({ hasText: 'LTI Launch Target' });
      for (const text of ['LTI 1.3', 'Keyset URL', 'New Window', 'Deep linking', 'Off', 'Scored']) {
        await settings.getByText(text, { exact: true }).first().waitFor();
      }
      await page.getByRole('button', { name: 'Copy Tool Launch URL' }).click();
      await page.getByRole('button', { name: 'Copied Tool Launch URL' }).waitFor();
      expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(shown.launchUrl);

      // What the course team pastes into Studio, and what Studio shows back.
      platform.setToolKeysetUrl(shown.keysetUrl);
      platform.setToolLaunchUrl(shown.launchUrl);
      const studio = platform.registration();
      await page.getByLabel('Issuer', { exact: true }).fill(studio.issuer);
      await page.getByLabel('Client ID', { exact: true }).fill(studio.clientId);
      await page.getByLabel('Login URL', { exact: true }).fill(studio.authLoginUrl);
      await page.getByLabel('Access Token URL', { exact: true }).fill(studio.authTokenUrl);
      await page.getByLabel('Keyset URL', { exact: true }).fill(studio.keysetUrl);
      await page.getByLabel('Deployment ID', { exact: true }).fill(studio.deploymentIds.join(', '));
      await page.getByLabel('Label (optional)').fill('Intro course');
      await page.getByRole('button', { name: 'Save LTI settings' }).click();
      await page.getByRole('heading', { name: 'Intro course' }).waitFor();
      const registrations = await fx.db.prisma.ltiRegistration.findMany({ where: { appId: app.id } });
      expect(registrations).toEqual([expect.objectContaining({ ...studio, label: 'Intro course' })]);

      // The widget snippet for the exercise page.
      await page.getByRole('tab', { name: 'Widget' }).click();
      const snippet = await page.getByLabel('Widget embed snippet').inputValue();
      expect(snippet).toBe(
        `<script type="module" src="${fx.tool.baseUrl}/widget/0.1.0/lti-completion.js"></script>\n<lti-completion></lti-completion>`,
      );

      // A learner opens the unit (Open edX: a new window on the login URL) and finishes the exercise.
      const sub = 'edx-learner-42';
      // (The demo page is not the dashboard: its missing favicon is not our console error.)
      const learner = await fx.page({ watchConsole: false });
      await learner.goto(platform.loginInitiation(shown.loginUrl, { targetLinkUri: shown.launchUrl, sub }).url);
      await learner.waitForURL(/\/demo\//, { timeout: 15_000 });
      for (const [step, answer] of [
        [1, 'button'],
        [2, 'not-found'],
        [3, 'color'],
      ] as const) {
        const form = learner.locator(`form[data-step="${step}"]`);
        await form.locator(`input[value="${answer}"]`).check();
        await form.getByRole('button', { name: 'Check' }).click();
      }
      await learner.locator('lti-completion').getByRole('button', { name: 'Finish' }).click();
      await learner.locator('lti-completion [part="status"]').filter({ hasText: 'Recorded' }).waitFor();

      // The owner sees the launch and, after a refresh or two, the grade delivered.
      await page.getByRole('tab', { name: 'Launches and grades' }).click();
      const launchRow = page.getByRole('row').filter({ hasText: sub });
      await launchRow.waitFor();
      const delivered = launchRow.locator('[data-grade-state="DELIVERED"]');
      const deadline = Date.now() + 15_000;
      while (!(await delivered.isVisible()) && Date.now() < deadline) {
        await page.waitForTimeout(200);
        await page.getByRole('button', { name: 'Refresh' }).click();
        await page.getByRole('button', { name: 'Refresh' }).and(page.locator(':enabled')).waitFor();
      }
      expect(await delivered.textContent()).toBe('Delivered');
      const cells = await launchRow.getByRole('cell').allTextContents();
      expect(cells[0]).toContain(sub);
      expect(cells[1]).toContain('Test Course');
      expect(cells[1]).toContain(DEFAULT_CONTEXT_ID);
      expect(cells[3]).not.toContain('Not yet');
      expect(cells[4]).toContain('100/100');
      expect(platform.scores.filter((s) => s.body.userId === sub)).toHaveLength(1);
      expectNoConsoleErrors(fx.consoleErrors);
    } finally {
      await platform.close();
    }
  }, 60_000);
});
