/**
 * Builds the completion widget: `widget/dist/lti-completion.js`, one minified ES module with Lit
 * bundled (`npm run build:widget`, also run by `postinstall`). The server serves that file.
 */
import { fileURLToPath } from 'node:url';
import { defaultClientConditions, defineConfig } from 'vite';
import { minifyCssTemplates } from '../scripts/minify-css-templates.ts';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  publicDir: false,
  plugins: [minifyCssTemplates('lti-completion', `${root}src/`)],
  logLevel: 'warn',
  resolve: {
    // Always Lit's production build, whatever NODE_ENV is: `development|production` would pick
    // the larger development build (with dev-mode console warnings) when NODE_ENV is not
    // "production", e.g. under Vitest.
    conditions: [...defaultClientConditions.filter((c) => c !== 'development|production'), 'production'],
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    copyPublicDir: false,
    reportCompressedSize: true,
    lib: {
      entry: 'src/lti-completion.ts',
      formats: ['es'],
      fileName: () => 'lti-completion.js',
    },
    minify: true,
    // Library ES builds keep whitespace unless the output itself is asked to minify.
    rolldownOptions: {
      output: {
        minify: true,
        // Lit's per-file @license comments are dropped by the minifier: keep one notice instead.
        comments: false,
        postBanner: '/*! <lti-completion> (lti-microapps). Bundles Lit, Copyright 2017 Google LLC, BSD-3-Clause. */',
      },
    },
  },
});
