import { readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';

export interface DashboardOptions {
  /** The Vite build: `index.html` and `assets/` (dashboard/dist). */
  distDir: string;
  /** PUBLIC_URL, told to the page (the widget snippet starts with it). */
  publicUrl: string;
  /** The widget's versioned path, e.g. `/widget/0.1.0/lti-completion.js`. */
  widgetPath: string;
}

/**
 * The page may run only our own files: no inline script or style element, nothing from other
 * origins, no framing. (Lit's styles are constructed stylesheets, which CSP does not block.)
 */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const ASSET = /^\/assets\/([A-Za-z0-9][A-Za-z0-9._-]*)$/;
const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
};
const NOT_BUILT = 'Dashboard not built: run `npm run build:dashboard`.\n';

const escapeAttribute = (value: string): string =>
  value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * Serves the owner dashboard: `GET /` is its page (no-cache, strict CSP, with PUBLIC_URL and the
 * widget path filled into its `<meta>` tags) and `/assets/<file>` its content-hashed files
 * (cached for a year). Other paths are not its business (undefined). Files are read once and kept.
 *
 * @example
 * const dashboard = createDashboard({ distDir: projectFile('dashboard/dist'), publicUrl, widgetPath: WIDGET_PATH });
 * const response = await dashboard(pathname, request.method); // undefined: not a dashboard path
 */
export function createDashboard(options: DashboardOptions) {
  const files = new Map<string, Promise<Buffer | undefined>>();
  const read = (file: string): Promise<Buffer | undefined> => {
    let body = files.get(file);
    if (!body) {
      body = readFile(join(options.distDir, file)).catch(() => undefined);
      files.set(file, body);
      // Not cached when missing: a build may be on its way.
      void body.then((b) => b === undefined && files.delete(file));
    }
    return body;
  };
  let page: Promise<string | undefined> | undefined;
  const indexHtml = (): Promise<string | undefined> => {
    page ??= read('index.html').then((bytes) => {
      if (!bytes) {
        page = undefined;
        return undefined;
      }
      // Replacer functions, not strings: `$&` or `$'` in a URL path must not act as patterns.
      return bytes
        .toString('utf8')
        .replace(/(<meta name="public-url" content=")[^"]*"/, (_, head: string) => `${head}${escapeAttribute(options.publicUrl)}"`)
        .replace(/(<meta name="widget-path" content=")[^"]*"/, (_, head: string) => `${head}${escapeAttribute(options.widgetPath)}"`);
    });
    return page;
  };

  return async function serve(pathname: string, method: string): Promise<Response | undefined> {
    const asset = pathname === '/' ? undefined : ASSET.exec(pathname);
    if (pathname !== '/' && !asset) return undefined;
    if (method !== 'GET' && method !== 'HEAD') return new Response(null, { status: 405, headers: { allow: 'GET, HEAD' } });
    const common = { 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' };
    if (!asset) {
      const html = await indexHtml();
      if (html === undefined) return new Response(NOT_BUILT, { status: 404, headers: { 'content-type': 'text/plain' } });
      return new Response(method === 'HEAD' ? null : html, {
        headers: {
          ...common,
          'content-type': 'text/html; charset=utf-8',
          'cache-control': 'no-cache',
          'content-security-policy': DASHBOARD_CSP,
          'x-frame-options': 'DENY',
        },
      });
    }
    const name = asset[1]!;
    const bytes = await read(`assets/${name}`);
    if (!bytes) {
      return new Response('Not found.\n', { status: 404, headers: { 'content-type': 'text/plain', 'cache-control': 'no-store' } });
    }
    return new Response(method === 'HEAD' ? null : new Uint8Array(bytes), {
      headers: {
        ...common,
        'content-type': TYPES[extname(name)] ?? 'application/octet-stream',
        'cache-control': 'public, max-age=31536000, immutable',
      },
    });
  };
}
