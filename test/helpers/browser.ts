import { mkdirSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Debian's Chromium, headless, with nothing reaching for the network. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Keeps a screenshot of a page for a failed test (CI artifacts; test-artifacts/ is not committed). */
export async function screenshotOnFailure(page: Page | undefined, name: string): Promise<void> {
  if (!page || page.isClosed()) return;
  mkdirSync('test-artifacts', { recursive: true });
  await page.screenshot({ path: `test-artifacts/${name.replace(/[^a-z0-9-]+/gi, '_')}.png`, fullPage: true }).catch(() => {});
}
