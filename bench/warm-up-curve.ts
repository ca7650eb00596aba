/**
 * How long the launch benchmark must warm up: from a cold start, whole launches at one
 * concurrency for a fixed time, printing each second's launches and the server's and
 * driver's CPU per launch. The JIT compiles the hot paths during the first seconds; the
 * warm-up must last until these figures stop falling.
 *
 *   npx tsx bench/warm-up-curve.ts [--db pglite|postgres] [--seconds 30] [--concurrency 8]
 *
 * PostgreSQL needs TEST_DATABASE_URL / BENCH_DATABASE_URL on a database no server has used
 * yet (as `node scripts/with-postgres.mjs npx tsx bench/warm-up-curve.ts --db postgres` gives).
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { startTestPlatform } from '../test/helpers/platform.ts';
import { cpuMs, databaseEnv, fmt, oneLaunch, setUp, startServer } from './driver.ts';

const { values: args } = parseArgs({
  options: {
    db: { type: 'string', default: 'pglite' },
    seconds: { type: 'string', default: '30' },
    concurrency: { type: 'string', default: '8' },
  },
});
const kind = args.db === 'postgres' ? 'postgres' : 'pglite';
const db = databaseEnv(kind);
if (!db) throw new Error('PostgreSQL: set TEST_DATABASE_URL or BENCH_DATABASE_URL (scripts/with-postgres.mjs does)');
const server = await startServer(db.env);
const platform = await startTestPlatform();
try {
  const setup = await setUp(server, platform);
  console.log(`# Warm-up curve — ${new Date().toISOString()} — ${kind}, concurrency ${args.concurrency}, from a cold start\n`);
  console.log('| second | launches | server CPU ms/launch | driver CPU ms/launch |');
  console.log('|---|---|---|---|');
  let launches = 0;
  let last = { launches: 0, server: cpuMs(server.pid), driver: process.cpuUsage() };
  let second = 0;
  const timer = setInterval(() => {
    second++;
    const n = launches - last.launches;
    const server1 = cpuMs(server.pid);
    const driver = process.cpuUsage(last.driver);
    console.log(`| ${second} | ${n} | ${fmt((server1 - last.server) / n)} | ${fmt((driver.user + driver.system) / 1000 / n)} |`);
    last = { launches, server: server1, driver: process.cpuUsage() };
  }, 1000);
  const deadline = performance.now() + Number(args.seconds) * 1000;
  await Promise.all(
    Array.from({ length: Number(args.concurrency) }, async () => {
      while (performance.now() < deadline) {
        await oneLaunch(platform, setup, `learner-${randomBytes(8).toString('hex')}`);
        launches++;
      }
    }),
  );
  clearInterval(timer);
} finally {
  await platform.close();
  await server.stop();
  db.cleanup();
}
process.exit(0);
