/** The dashboard's page and assets, served from a throwaway build directory. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/config.ts';
import { createDashboard } from '../../server/http/dashboard.ts';

let distDir: string;
const INDEX = `<!doctype html>
<html><head>
<meta name="public-url" content="">
<meta name="widget-path" content="">
<script type="module" src="/assets/index-abc.js"></script>
</head><body><owner-dashboard></owner-dashboard></body></html>
`;

beforeAll(() => {
  distDir = mkdtempSync(join(tmpdir(), 'lti-dashboard-'));
  mkdirSync(join(distDir, 'assets'));
  writeFileSync(join(distDir, 'index.html'), INDEX);
  writeFileSync(join(distDir, 'assets', 'index-abc.js'), 'export {};\n');
});
afterAll(() => rmSync(distDir, { recursive: true, force: true }));

const meta = (html: string, name: string) => new RegExp(`<meta name="${name}" content="([^"]*)">`).exec(html)?.[1];

describe('the dashboard page', () => {
  it('fills PUBLIC_URL into its meta tag literally, even when the URL holds `$` (no replacement patterns)', async () => {
    // `$'` and `$&` survive PUBLIC_URL's normalisation; as a String.replace pattern they would
    // paste other parts of the page into the attribute.
    const publicUrl = loadConfig({ PUBLIC_URL: "https://tool.example.org/a$'b$&c$1/" }).publicUrl;
    expect(publicUrl).toBe("https://tool.example.org/a$'b$&c$1");
    const serve = createDashboard({ distDir, publicUrl, widgetPath: '/widget/0.1.0/lti-completion.js' });
    const response = await serve('/', 'GET');
    expect(response?.status).toBe(200);
    const html = await response!.text();
    const attribute = "https://tool.example.org/a$'b$&amp;c$1"; // `&` escaped for the attribute
    expect(meta(html, 'public-url')).toBe(attribute);
    expect(meta(html, 'widget-path')).toBe('/widget/0.1.0/lti-completion.js');
    // Nothing else on the page moved.
    expect(html.replace(`content="${attribute}"`, 'content=""').replace('content="/widget/0.1.0/lti-completion.js"', 'content=""')).toBe(INDEX);
  });

  it('escapes PUBLIC_URL for the attribute', async () => {
    const serve = createDashboard({ distDir, publicUrl: 'https://tool.example.org/a"b<c>&d', widgetPath: '/w.js' });
    const html = await (await serve('/', 'GET'))!.text();
    expect(meta(html, 'public-url')).toBe('https://tool.example.org/a&quot;b&lt;c&gt;&amp;d');
  });
});

describe('dashboard assets', () => {
  const serve = () => createDashboard({ distDir, publicUrl: 'https://tool.example.org', widgetPath: '/w.js' });

  it('serves a built file with its type, cached for a year; HEAD without a body', async () => {
    const get = await serve()('/assets/index-abc.js', 'GET');
    expect(get?.status).toBe(200);
    expect(get?.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(get?.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(get?.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await get!.text()).toBe('export {};\n');
    const head = await serve()('/assets/index-abc.js', 'HEAD');
    expect(head?.status).toBe(200);
    expect(head?.body).toBeNull();
  });

  it.each(['/assets/../index.html', '/assets/..%2Findex.html', '/assets/%2e%2e/index.html', '/assets/.hidden', '/assets/a/b.js', '/assets/'])(
    '%s is not a dashboard path',
    async (path) => {
      expect(await serve()(path, 'GET')).toBeUndefined();
    },
  );

  it('a missing file is a 404 that is not cached; other methods get 405', async () => {
    const missing = await serve()('/assets/nope-123.js', 'GET');
    expect(missing?.status).toBe(404);
    expect(missing?.headers.get('cache-control')).toBe('no-store');
    const post = await serve()('/assets/index-abc.js', 'POST');
    expect(post?.status).toBe(405);
    expect(post?.headers.get('allow')).toBe('GET, HEAD');
  });
});
