/**
 * Builds the owner dashboard: `dashboard/dist/index.html` and hashed files under
 * `dashboard/dist/assets/` (`npm run build:dashboard`, also run by `postinstall`). The server
 * serves them at `/` and `/assets/…` (server/http/dashboard.ts).
 */
import { fileURLToPath } from 'node:url';
import { defaultClientConditions, defineConfig } from 'vite';
import { minifyCssTemplates } from '../scripts/minify-css-templates.ts';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  // Relative asset URLs: the page works under PUBLIC_URL's path prefix too (`/tool/assets/…`).
  base: './',
  publicDir: false,
  plugins: [minifyCssTemplates('lti-dashboard', `${root}src/`)],
  logLevel: 'warn',
  resolve: {
    // Always Lit's production build, whatever NODE_ENV is (see widget/vite.config.ts).
    conditions: [...defaultClientConditions.filter((c) => c !== 'development|production'), 'production'],
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    copyPublicDir: false,
    reportCompressedSize: true,
    target: 'es2022',
    // Nothing inlined as data: URLs: the page's Content-Security-Policy allows 'self' only.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    minify: true,
    rolldownOptions: {
      output: {
        comments: false,
        postBanner: (chunk) =>
          chunk.isEntry ? '/*! lti-microapps dashboard. Bundles Lit (BSD-3-Clause) and graphql-js (MIT). */' : '',
      },
    },
  },
  // `npx vite dashboard` during development, with `npm start` running on port 3000.
  server: { proxy: { '/graphql': 'http://localhost:3000' } },
});
