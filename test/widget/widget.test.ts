/**
 * The completion widget in real Chromium: the built bundle (widget/dist, made by
 * ./global-setup.ts) on a test page served from one port, and a fake completion endpoint on
 * another, so every request is cross-origin with a CORS preflight, as in production.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium } from '../helpers/browser.ts';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import type { LtiCompletionErrorDetail, LtiCompletionRecordedDetail } from '../../widget/src/events.ts';
import type { LtiCompletionState } from '../../widget/src/lti-completion.ts';

const projectFile = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));
const WIDGET_JS = readFileSync(projectFile('widget/dist/lti-completion.js'));
const DEMO_HTML = readFileSync(projectFile('widget/demo/index.html'));
const ARTIFACTS = projectFile('test-artifacts');

const CREDENTIAL = randomBytes(32).toString('base64url'); // 43 characters, like the server's
/** Another exercise's launch in the same tab. */
const OTHER_CREDENTIAL = randomBytes(32).toString('base64url');
const RECORDED = {
  status: 'recorded',
  launchId: 'TGF1bmNoOjE=',
  completedAt: '2026-11-27T10:00:00.000Z',
  grade: { state: 'pending' },
};
const RECORDED_DETAIL: LtiCompletionRecordedDetail = {
  launchId: RECORDED.launchId,
  completedAt: RECORDED.completedAt,
  gradeState: 'pending',
};

type CapturedEvent =
  | { type: 'lti-completion-recorded'; detail: LtiCompletionRecordedDetail }
  | { type: 'lti-completion-error'; detail: LtiCompletionErrorDetail };

interface Hit {
  at: number;
  authorization: string | undefined;
  contentType: string | undefined;
  origin: string | undefined;
  body: string;
}

/** `POST /api/completions` as the contract describes it, answering from a queue of replies. */
class FakeCompletionServer {
  hits: Hit[] = [];
  preflights = 0;
  /** Replies for the next POSTs, in order; then 200 recorded. `gate`: answer once it settles. */
  replies: Array<{ status: number; body?: unknown; delayMs?: number; gate?: Promise<unknown> }> = [];
  /** Until then (Date.now() ms), POSTs are refused as the server's rate limiter does: 429 with Retry-After. */
  limitedUntil = 0;
  /** How long the CORS preflight takes to answer. */
  preflightDelayMs = 0;
  #server: Server | undefined;
  #port = 0;

  get origin(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  /** Listens on a free port the first time, then on the same one again (after stop()). */
  async start(): Promise<void> {
    const server = createServer((req, res) => void this.#handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, '127.0.0.1', resolve);
    });
    this.#server = server;
    this.#port = (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  reset(): void {
    this.hits = [];
    this.preflights = 0;
    this.replies = [];
    this.limitedUntil = 0;
    this.preflightDelayMs = 0;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const cors = {
      'access-control-allow-origin': '*',
      'access-control-allow-methods': 'POST, OPTIONS',
      'access-control-allow-headers': 'authorization, content-type',
    };
    if (req.url !== '/api/completions') {
      res.writeHead(404, cors).end();
      return;
    }
    if (req.method === 'OPTIONS') {
      this.preflights++;
      if (this.preflightDelayMs) await new Promise((resolve) => setTimeout(resolve, this.preflightDelayMs));
      res.writeHead(204, cors).end();
      return;
    }
    let body = '';
    for await (const chunk of req) body += String(chunk);
    this.hits.push({
      at: Date.now(),
      authorization: req.headers.authorization,
      contentType: req.headers['content-type'],
      origin: req.headers.origin,
      body,
    });
    const wait = this.limitedUntil - Date.now();
    if (wait > 0) {
      res.writeHead(429, {
        ...cors,
        'access-control-expose-headers': 'retry-after',
        'retry-after': String(Math.ceil(wait / 1000)),
        'content-type': 'application/json',
      });
      res.end(JSON.stringify({ error: 'rate_limited', message: 'Too many requests.' }));
      return;
    }
    const reply = this.replies.shift() ?? { status: 200, body: RECORDED };
    if (reply.delayMs) await new Promise((resolve) => setTimeout(resolve, reply.delayMs));
    await reply.gate;
    res.writeHead(reply.status, { ...cors, 'content-type': 'application/json' });
    res.end(JSON.stringify(reply.body ?? { error: 'unavailable', message: `HTTP ${reply.status}` }));
  }
}

/**
 * The exercise pages. `/exercise.html?label=Done&auto` puts each query parameter on the element
 * as an attribute. Every page records the widget's events (heard on `document`: they bubble
 * and are composed) in `window.widgetEvents`.
 */
function servePages(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://pages.test');
  const page = (body: string, scripts = '<script type="module" src="/lti-completion.js"></script>') =>
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Exercise</title>
    <script>
      window.widgetEvents = [];
      for (const type of ['lti-completion-recorded', 'lti-completion-error']) {
        document.addEventListener(type, (e) => widgetEvents.push({ type, detail: e.detail }));
      }
    </script>${scripts}</head><body><h1>Exercise</h1>${body}</body></html>`;
  const send = (type: string, body: string | Buffer) => res.writeHead(200, { 'content-type': type }).end(body);
  const html = (body: string) => send('text/html; charset=utf-8', body);
  switch (url.pathname) {
    case '/lti-completion.js':
    case '/demo/lti-completion.js':
      return void send('text/javascript', WIDGET_JS);
    case '/favicon.ico':
      return void res.writeHead(204).end();
    case '/demo/':
      return void send('text/html; charset=utf-8', DEMO_HTML);
    case '/exercise.html': {
      const attrs = [...url.searchParams].map(([k, v]) => (v ? ` ${k}="${v.replace(/"/g, '&quot;')}"` : ` ${k}`));
      return void html(page(`<lti-completion${attrs.join('')}></lti-completion>`));
    }
    case '/slotted.html':
      return void html(
        page(`<lti-completion>
          <p>Finished? <span id="other">(not a finish control)</span>
          <button id="mine" data-complete><span>I'm done</span></button></p>
        </lti-completion>`),
      );
    case '/no-element.html':
      return void html(page('<p>The widget is added by script.</p>'));
    case '/router.html':
      // A single-page app: its router, running after the widget's script, rewrites the address
      // (a new path, no fragment) and only then renders the view that has the element.
      return void html(
        page(
          '<main></main>',
          `<script type="module" src="/lti-completion.js"></script>
          <script type="module">
            ${
              url.searchParams.has('other')
                ? // Meanwhile another exercise of the same origin in this tab took its own launch.
                  `sessionStorage.setItem('lti-completion:launch', JSON.stringify({ credential: ${JSON.stringify(OTHER_CREDENTIAL)}, server: ${JSON.stringify(url.searchParams.get('other'))} }));`
                : ''
            }
            history.replaceState(null, '', '/app/exercise');
            setTimeout(() => { document.querySelector('main').innerHTML = '<lti-completion></lti-completion>'; }, 50);
          </script>`,
        ),
      );
    case '/cdn-base.html':
      // Assets on a CDN: relative URLs (and history URLs) resolve against another origin.
      return void html(
        page(
          '<lti-completion></lti-completion>',
          `<base href="https://cdn.example.com/assets/"><script type="module" src="${pagesOrigin}/lti-completion.js"></script>`,
        ),
      );
    case '/twice.html':
      return void html(
        page(
          '<lti-completion></lti-completion>',
          // Two URLs, so the module really runs twice (one URL would be evaluated once).
          '<script type="module" src="/lti-completion.js"></script><script type="module" src="/lti-completion.js?again"></script>',
        ),
      );
    default:
      res.writeHead(404).end();
  }
}

const STATUS = 'lti-completion [part~="status"]';
const FINISH = 'lti-completion button[part="button"]';
const RETRY = 'lti-completion [part~="retry"]';

let browser: Browser;
let pages: Server;
let pagesOrigin: string;
const api = new FakeCompletionServer();
let context: BrowserContext | undefined;

beforeAll(async () => {
  pages = createServer(servePages);
  await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve));
  pagesOrigin = `http://127.0.0.1:${(pages.address() as AddressInfo).port}`;
  await api.start();
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await api.stop();
  pages?.closeAllConnections();
  await new Promise((resolve) => pages?.close(resolve));
});

beforeEach(() => api.reset());

afterEach(async ({ task }) => {
  // Vitest has marked a failed test by now (onTestFailed would run after the context is closed).
  if (task.result?.state === 'fail' && context) {
    mkdirSync(ARTIFACTS, { recursive: true });
    const name = task.name.replace(/[^\w-]+/g, '-').slice(0, 100);
    for (const [i, page] of context.pages().entries()) {
      await page.screenshot({ path: `${ARTIFACTS}/widget-${name}${i ? `-${i}` : ''}.png`, fullPage: true }).catch(() => {});
    }
  }
  await context?.close();
  context = undefined;
});

/** The launch fragment the server's redirect appends, plus any other fragment content. */
function launchFragment({ server = api.origin, before = '' }: { server?: string | null; before?: string } = {}): string {
  const params = [before, `lti_launch=${CREDENTIAL}`, server === null ? '' : `lti_server=${encodeURIComponent(server)}`];
  return `#${params.filter(Boolean).join('&')}`;
}

interface OpenedPage {
  page: Page;
  pageErrors: string[];
}

/** A fresh tab (own sessionStorage) on `path`. A failing test leaves a screenshot in test-artifacts/. */
async function open(path: string): Promise<OpenedPage> {
  context = await browser.newContext();
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error') pageErrors.push(`console: ${msg.text()}`);
  });
  await page.goto(pagesOrigin + path);
  await page.waitForFunction(() => customElements.get('lti-completion') !== undefined);
  return { page, pageErrors };
}

const statusText = (page: Page) => page.locator(STATUS).textContent();
const state = (page: Page) =>
  page.evaluate<LtiCompletionState | undefined>(() => document.querySelector('lti-completion')?.state);
const events = (page: Page) =>
  page.evaluate(() => (window as unknown as { widgetEvents: CapturedEvent[] }).widgetEvents);
const waitForStatus = (page: Page, text: string, timeout = 5_000) =>
  expect.poll(() => statusText(page), { timeout }).toBe(text);

describe('<lti-completion> in Chromium', () => {
  test('takes the launch from the fragment, removes it from the address bar and keeps it in sessionStorage', async () => {
    const { page, pageErrors } = await open(`/exercise.html?x=1${launchFragment({ before: 'step=2' })}`);

    expect(await page.evaluate(() => location.hash)).toBe('#step=2');
    expect(await page.evaluate(() => location.href)).toBe(`${pagesOrigin}/exercise.html?x=1#step=2`);
    const stored = await page.evaluate(() => sessionStorage.getItem('lti-completion:launch'));
    expect(JSON.parse(stored ?? 'null')).toEqual({ credential: CREDENTIAL, server: api.origin });
    expect(await state(page)).toBe('idle');
    expect(await statusText(page)).toBe('');
    expect(await page.locator(FINISH).textContent()).toBe('Finish');
    expect(pageErrors).toEqual([]);
    expect(api.hits).toEqual([]); // nothing is sent before the learner finishes
  });

  test('a malformed credential is removed from the address bar and not used', async () => {
    const { page } = await open(`/exercise.html#lti_launch=short&lti_server=${encodeURIComponent(api.origin)}`);

    expect(await page.evaluate(() => location.hash)).toBe('');
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    expect(await state(page)).toBe('no_launch');
  });

  test('the status region is a polite live region, and label renames the button', async () => {
    const { page } = await open(`/exercise.html?label=${encodeURIComponent('I have finished')}${launchFragment()}`);

    const status = page.locator(STATUS);
    expect(await status.getAttribute('aria-live')).toBe('polite');
    expect(await status.getAttribute('role')).toBe('status');
    expect(await page.getByRole('button', { name: 'I have finished' }).count()).toBe(1);
  });

  test('a reload in the same tab still reports, with the credential from sessionStorage', async () => {
    const { page } = await open(`/exercise.html${launchFragment()}`);
    await page.reload();
    await page.waitForFunction(() => customElements.get('lti-completion') !== undefined);
    expect(await page.evaluate(() => location.hash)).toBe('');

    await page.locator(FINISH).click();

    await waitForStatus(page, 'Recorded. You can close this page.');
    expect(api.hits.map((h) => h.authorization)).toEqual([`Bearer ${CREDENTIAL}`]);
  });

  test('without a launch: asks the learner to open the exercise from the course; Finish fires no_launch', async () => {
    const { page } = await open('/exercise.html');

    expect(await state(page)).toBe('no_launch');
    expect(await statusText(page)).toBe('Open this exercise from your course to record your completion.');

    await page.locator(FINISH).click();
    await expect.poll(() => events(page)).toHaveLength(1);
    expect(await events(page)).toEqual([
      { type: 'lti-completion-error', detail: { code: 'no_launch', message: 'No launch credential.', retryable: false } },
    ]);
    expect(await page.locator(RETRY).count()).toBe(0);
    expect(api.hits).toEqual([]);
  });

  test('Finish POSTs once (however often it is clicked), shows Recorded and fires lti-completion-recorded', async () => {
    const { page } = await open(`/exercise.html${launchFragment()}`);
    api.replies = [{ status: 200, body: RECORDED, delayMs: 300 }];

    await page.locator(FINISH).dblclick();
    // `force`: a real click even though the button is now aria-disabled (Playwright would wait).
    await page.locator(FINISH).click({ force: true });
    await page.evaluate(() => document.querySelector('lti-completion')?.complete());

    await waitForStatus(page, 'Recorded. You can close this page.');
    expect(await events(page)).toEqual([{ type: 'lti-completion-recorded', detail: RECORDED_DETAIL }]);
    expect(api.hits).toEqual([
      {
        at: expect.any(Number),
        authorization: `Bearer ${CREDENTIAL}`,
        contentType: 'application/json',
        origin: pagesOrigin,
        body: '{}',
      },
    ]);
    expect(api.preflights).toBeGreaterThanOrEqual(1); // cross-origin with a custom header

    // Once recorded, finishing again sends nothing.
    await page.locator(FINISH).click({ force: true });
    await page.evaluate(() => document.querySelector('lti-completion')?.complete());
    expect(api.hits).toHaveLength(1);
    expect(await state(page)).toBe('recorded');
  });

  test('leaving the page right after Finish does not cancel the completion (sent with keepalive)', async () => {
    const { page } = await open(`/exercise.html${launchFragment()}`);
    // The preflight is still under way when the page goes: a plain fetch would be cancelled
    // with the page, before its POST is ever sent.
    api.preflightDelayMs = 300;
    await page.evaluate(() => {
      document.querySelector('lti-completion')!.complete();
      location.href = 'about:blank';
    });
    await page.waitForURL('about:blank');
    await expect.poll(() => api.hits.length, { timeout: 5_000 }).toBe(1);
    expect(api.hits[0]).toMatchObject({ authorization: `Bearer ${CREDENTIAL}`, body: '{}' });
  });

  test('a browser that refuses keepalive with a preflight: the retry, sent without it, records the completion', async () => {
    const { page } = await open(`/exercise.html${launchFragment()}`);
    await page.evaluate(() => {
      const fetch = window.fetch;
      window.fetch = (input, init) => (init?.keepalive ? Promise.reject(new TypeError('Failed to fetch')) : fetch(input, init));
    });
    await page.locator(FINISH).click();
    await waitForStatus(page, 'Recorded. You can close this page.');
    expect(api.hits).toHaveLength(1);
    expect(await events(page)).toEqual([{ type: 'lti-completion-recorded', detail: RECORDED_DETAIL }]);
  });

  test('401: lti-completion-error invalid_credential, not retried, no Retry button', async () => {
    const message = 'This launch is unknown or has expired. Open the exercise from your course again.';
    const { page } = await open(`/exercise.html${launchFragment()}`);
    api.replies = [{ status: 401, body: { error: 'invalid_credential', message } }];

    await page.locator(FINISH).click();

    await expect.poll(() => events(page)).toHaveLength(1);
    expect(await events(page)).toEqual([
      { type: 'lti-completion-error', detail: { code: 'invalid_credential', message, retryable: false } },
    ]);
    expect(await statusText(page)).toBe(
      'Could not record your completion. This launch has expired or is not valid: open the exercise again from your course.',
    );
    expect(await page.locator(RETRY).count()).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 800)); // longer than the first retry delay
    expect(api.hits).toHaveLength(1);
  });

  test('503 twice, then 200: retried with backoff, recorded, and no error event', async () => {
    const { page } = await open(`/exercise.html${launchFragment()}`);
    api.replies = [{ status: 503 }, { status: 503 }];

    await page.locator(FINISH).click();
    await expect.poll(() => statusText(page)).toBe('Sending…');

    await waitForStatus(page, 'Recorded. You can close this page.');
    expect(api.hits).toHaveLength(3);
    const [first, second, third] = api.hits.map((h) => h.at) as [number, number, number];
    expect(second - first).toBeGreaterThanOrEqual(450);
    expect(third - second).toBeGreaterThanOrEqual(950);
    expect(await events(page)).toEqual([{ type: 'lti-completion-recorded', detail: RECORDED_DETAIL }]);
  });

  test('server unreachable: retries, then the failed state with a Retry button that works once it is back', async () => {
    const { page } = await open(`/exercise.html${launchFragment()}`);
    await api.stop();
    try {
      await page.locator(FINISH).click();
      await waitForStatus(page, 'Could not record your completion.', 10_000); // after 0.5 + 1 + 2 s of backoff
      expect(await events(page)).toEqual([
        { type: 'lti-completion-error', detail: { code: 'network', message: expect.any(String), retryable: true } },
      ]);
      expect(await state(page)).toBe('failed');
    } finally {
      await api.start();
    }

    await page.getByRole('button', { name: 'Retry' }).click();

    await waitForStatus(page, 'Recorded. You can close this page.');
    expect(await page.locator(RETRY).count()).toBe(0);
    expect(api.hits).toHaveLength(1);
    expect((await events(page)).at(-1)).toEqual({ type: 'lti-completion-recorded', detail: RECORDED_DETAIL });
  });

  test("an author's slotted button with data-complete replaces Finish and reports", async () => {
    const { page } = await open(`/slotted.html${launchFragment()}`);
    expect(await page.locator(FINISH).isVisible()).toBe(false); // the default is only fallback content

    await page.locator('#other').click();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(api.hits).toHaveLength(0);

    await page.getByRole('button', { name: "I'm done" }).click(); // lands on the <span> inside
    await waitForStatus(page, 'Recorded. You can close this page.');
    expect(api.hits).toHaveLength(1);
  });

  test('the server attribute overrides the server in the fragment', async () => {
    const nowhere = 'http://127.0.0.1:9'; // discard port: nothing listens
    const { page } = await open(`/exercise.html?server=${encodeURIComponent(api.origin)}${launchFragment({ server: nowhere })}`);

    await page.locator(FINISH).click();

    await waitForStatus(page, 'Recorded. You can close this page.');
    expect(api.hits).toHaveLength(1);
  });

  test('auto reports as soon as the page opens', async () => {
    const { page } = await open(`/exercise.html?auto${launchFragment()}`);

    await waitForStatus(page, 'Recorded. You can close this page.');
    expect(api.hits).toHaveLength(1);
  });

  test('loading the script twice does not throw, and the element still works', async () => {
    const { page, pageErrors } = await open(`/twice.html${launchFragment()}`);
    await page.waitForLoadState('load'); // both module scripts have run

    expect(
      await page.evaluate(() => performance.getEntriesByType('resource').map((e) => new URL(e.name).search)),
    ).toEqual(expect.arrayContaining(['', '?again']));
    await page.locator(FINISH).click();
    await waitForStatus(page, 'Recorded. You can close this page.');
    expect(pageErrors).toEqual([]);
  });

  test('a <base> on another origin (assets on a CDN): the launch still leaves the address bar, and reports', async () => {
    const { page, pageErrors } = await open(`/cdn-base.html${launchFragment({ before: 'step=2' })}`);

    expect(await page.evaluate(() => location.href)).toBe(`${pagesOrigin}/cdn-base.html#step=2`);
    expect(pageErrors).toEqual([]);
    expect(await state(page)).toBe('idle');

    await page.locator(FINISH).click();
    await waitForStatus(page, 'Recorded. You can close this page.');
    expect(api.hits.map((h) => h.authorization)).toEqual([`Bearer ${CREDENTIAL}`]);
  });

  test('complete() on an element that is not (yet) in the page reports with the launch', async () => {
    const { page } = await open(`/no-element.html${launchFragment()}`);

    const outcome = await page.evaluate(async () => {
      const widget = document.createElement('lti-completion');
      const heard: unknown[] = [];
      for (const type of ['lti-completion-recorded', 'lti-completion-error'] as const) {
        widget.addEventListener(type, (e) => heard.push({ type, detail: e.detail }));
      }
      await widget.complete();
      return { heard, state: widget.state, hash: location.hash };
    });

    expect(outcome).toEqual({ heard: [{ type: 'lti-completion-recorded', detail: RECORDED_DETAIL }], state: 'recorded', hash: '' });
    expect(api.hits.map((h) => h.authorization)).toEqual([`Bearer ${CREDENTIAL}`]);
  });

  test('an app router that rewrites the address before rendering the element: the launch was taken when the script loaded', async () => {
    const { page, pageErrors } = await open(`/router.html${launchFragment()}`);
    await page.locator(FINISH).waitFor();
    expect(await page.evaluate(() => location.href)).toBe(`${pagesOrigin}/app/exercise`);
    expect(await state(page)).toBe('idle');

    await page.locator(FINISH).click();

    await waitForStatus(page, 'Recorded. You can close this page.');
    expect(api.hits.map((h) => h.authorization)).toEqual([`Bearer ${CREDENTIAL}`]);
    expect(pageErrors).toEqual([]);
  });

  test("after the router's rewrite, this page's launch wins over another exercise's taken later in the same tab", async () => {
    const { page } = await open(`/router.html?other=${encodeURIComponent(api.origin)}${launchFragment()}`);
    await page.locator(FINISH).waitFor();
    expect(JSON.parse((await page.evaluate(() => sessionStorage.getItem('lti-completion:launch'))) ?? 'null')).toMatchObject({ credential: OTHER_CREDENTIAL });

    await page.locator(FINISH).click();

    await waitForStatus(page, 'Recorded. You can close this page.');
    expect(api.hits.map((h) => h.authorization)).toEqual([`Bearer ${CREDENTIAL}`]);
  });

  test('a relative server attribute is resolved against the page, and overrides the fragment', async () => {
    const nowhere = 'http://127.0.0.1:9'; // discard port: nothing listens
    const schemeRelative = api.origin.replace(/^http:/, ''); // "//127.0.0.1:<port>"
    const { page } = await open(`/exercise.html?server=${encodeURIComponent(schemeRelative)}${launchFragment({ server: nowhere })}`);

    expect(await state(page)).toBe('idle');
    await page.locator(FINISH).click();

    await waitForStatus(page, 'Recorded. You can close this page.');
    expect(api.hits).toHaveLength(1);
  });

  test('Retry keeps the keyboard focus while it retries', async () => {
    const { page } = await open(`/exercise.html${launchFragment()}`);
    api.replies = [{ status: 503 }, { status: 503 }, { status: 503 }, { status: 503 }];
    await page.locator(FINISH).press('Enter');
    await waitForStatus(page, 'Could not record your completion.', 10_000);
    let release = () => {};
    api.replies = [{ status: 200, body: RECORDED, gate: new Promise<void>((resolve) => (release = resolve)) }];

    await page.locator(RETRY).press('Enter');
    await expect.poll(() => api.hits.length).toBe(5); // the retry is at the server, its answer held
    await waitForStatus(page, 'Sending…');

    const focused = await page.evaluate(() => {
      const inside = document.querySelector('lti-completion')?.shadowRoot?.activeElement;
      return inside ? `${inside.getAttribute('part')} aria-disabled=${inside.getAttribute('aria-disabled')}` : document.activeElement?.tagName;
    });
    expect(focused).toBe('button retry aria-disabled=true');
    await page.keyboard.press('Enter'); // pressing it again while sending sends nothing
    release();
    await waitForStatus(page, 'Recorded. You can close this page.');
    expect(api.hits).toHaveLength(5);
  });

  test('429: waits as long as Retry-After says before trying again', async () => {
    const { page } = await open(`/exercise.html${launchFragment()}`);
    api.limitedUntil = Date.now() + 4_000; // longer than the three backoff delays together (3.5 s)

    await page.locator(FINISH).click();

    await waitForStatus(page, 'Recorded. You can close this page.', 15_000);
    expect(api.hits).toHaveLength(2); // one refused, one after Retry-After, none in between
    expect(await events(page)).toEqual([{ type: 'lti-completion-recorded', detail: RECORDED_DETAIL }]);
  });

  test('the demo exercise reveals the widget after three right answers, and reports', async () => {
    const { page, pageErrors } = await open(`/demo/${launchFragment()}`);
    expect(await page.evaluate(() => location.hash)).toBe(''); // taken at once, while still hidden
    expect(await page.locator('lti-completion').isVisible()).toBe(false);

    for (const answer of ['<button>', 'Not Found', 'color']) {
      await page.getByLabel(answer, { exact: true }).check();
      await page.locator('form.step:not([hidden]) button:not([disabled])').click();
    }

    await page.locator(FINISH).click();
    await waitForStatus(page, 'Recorded. You can close this page.');
    expect(api.hits).toHaveLength(1);
    expect(pageErrors).toEqual([]);
  });
});
