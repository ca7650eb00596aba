import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // graphql 16 has no exports map: without this, Vite loads index.mjs while yoga and
    // Pothos load index.js, and the schema comes from "another module".
    alias: { graphql: require.resolve('graphql/index.js') },
  },
  test: {
    // `*.pg.test.ts` need a real PostgreSQL: they run in the PostgreSQL pass only
    // (`npm run test:pg`, and CI), instead of showing up as skipped.
    include: ['test/**/*.test.ts'],
    exclude: process.env.TEST_DATABASE_URL ? ['**/node_modules/**'] : ['**/node_modules/**', 'test/**/*.pg.test.ts'],
    // log-scan: the run's log directory, scanned for leaked secrets when the run ends (its teardown).
    // The others build the completion widget and the owner dashboard for the browser tests
    // when widget/dist or dashboard/dist is stale.
    globalSetup: ['test/log-scan/global-setup.ts', 'test/global-setup.ts', 'test/widget/global-setup.ts', 'test/dashboard/global-setup.ts'],
    // One process per file keeps PGlite instances apart and memory bounded on 2 cores.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
