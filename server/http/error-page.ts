import type { LtiError } from '../lti/errors.ts';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

export const HTML_SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors *",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
} as const;

/**
 * The page a learner sees when a launch is refused: what happened in plain words and a
 * code to quote to support. No stack traces, no token contents.
 */
export function ltiErrorResponse(err: LtiError, extraHeaders: Record<string, string> = {}): Response {
  const html = `<!doctype html>
<html lang="en">
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Cannot open the exercise</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#1b1b1f}code{background:#eee;padding:.1em .3em;border-radius:4px}</style>
<main>
<h1>Cannot open the exercise</h1>
<p>${escapeHtml(err.title)}</p>
<p>If this keeps happening, tell your course staff the code <code>${escapeHtml(err.code)}</code>.</p>
</main>
</html>
`;
  return new Response(html, {
    status: err.status,
    headers: { 'content-type': 'text/html; charset=utf-8', ...HTML_SECURITY_HEADERS, ...extraHeaders },
  });
}
