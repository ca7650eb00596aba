/**
 * One server process against several on one PostgreSQL, on this machine: does adding a
 * process buy launches, and what does a load balancer without stickiness cost?
 *
 *   npm run bench:processes -- [--processes 2] [--concurrency 8] [--duration 8] [--warmup 10] [--rounds 3]
 *
 * Starts N processes behind one PUBLIC_URL (the first one's), as a load balancer would have
 * them, and drives whole launches (as `npm run bench` does) in three ways, interleaved round
 * by round so that the machine's drift falls on all of them alike:
 * - `1 process`: every request to the first process (the others run, idle, and their CPU counts);
 * - `N, sticky`: each simulated browser keeps to one process (a balancer with affinity);
 * - `N, alternating`: a launch's login goes to one process and its id_token POST to the next
 *   (no affinity), so the launch is served by a process that did not see the login.
 */
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { startTestPlatform } from '../test/helpers/platform.ts';
import { cpuMs, cpuSpent, fmt, launchesBySecond, metricValues, oneLaunch, percentile, postgresCpuReader, scrape, setUp, startServer, type Route, type Server } from './driver.ts';

const { values: args } = parseArgs({
  options: {
    processes: { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '8' },
    duration: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
  },
});
const PROCESSES = Number(args.processes);
const CONCURRENCY = Number(args.concurrency);
const DURATION_MS = Number(args.duration) * 1000;
const WARMUP_MS = Number(args.warmup) * 1000;
const ROUNDS = Number(args.rounds);
const url = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
if (!url) throw new Error('needs PostgreSQL: run it as `npm run bench:processes` (or set BENCH_DATABASE_URL)');
if (!(PROCESSES >= 2)) throw new Error('--processes must be 2 or more');

type Mode = '1 process' | 'sticky' | 'alternating';

/** The processes each of a launch's two requests goes to, for user `user`'s `n`-th launch. */
function routeFor(mode: Mode, servers: Server[], user: number, n: number): Route {
  const at = (i: number) => servers[i % servers.length]!.listenUrl;
  if (mode === '1 process') return { login: at(0), launch: at(0) };
  if (mode === 'sticky') return { login: at(user), launch: at(user) };
  return { login: at(user + n), launch: at(user + n + 1) };
}

async function drive(servers: Server[], mode: Mode, durationMs: number, report: () => Promise<Map<number, number>>) {
  const latencies: number[] = [];
  const finishedAt: number[] = [];
  const counters = ['lti_db_statements_total', 'nodejs_eventloop_active_seconds_total'];
  const scrapes0 = await Promise.all(servers.map((s) => scrape(s).then((t) => metricValues(t, counters))));
  const cpu0 = servers.map((s) => cpuMs(s.pid));
  const pg0 = await report();
  const driver0 = process.cpuUsage();
  const start = performance.now();
  const deadline = start + durationMs;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, user) => {
      for (let n = 0; performance.now() < deadline; n++) {
        const t = performance.now();
        await oneLaunch(platform, setup, `learner-${randomBytes(8).toString('hex')}`, undefined, routeFor(mode, servers, user, n));
        const done = performance.now();
        latencies.push(done - t);
        finishedAt.push(done);
      }
    }),
  );
  const elapsed = performance.now() - start;
  const driver = process.cpuUsage(driver0);
  const pg1 = await report();
  const cpu = servers.reduce((sum, s, i) => sum + cpuMs(s.pid) - cpu0[i]!, 0);
  const scrapes1 = await Promise.all(servers.map((s) => scrape(s).then((t) => metricValues(t, counters))));
  const delta = (name: string, i: number) => scrapes1[i]![name]! - scrapes0[i]![name]!;
  const bySecond = launchesBySecond(finishedAt, start, elapsed);
  latencies.sort((a, b) => a - b);
  const n = latencies.length;
  return {
    n,
    perSecond: (n * 1000) / elapsed,
    perSecondRange: `${bySecond.min}–${bySecond.max}`,
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    p99: percentile(latencies, 99),
    serverCpu: cpu / n,
    loopBusy: servers.map((_, i) => delta('nodejs_eventloop_active_seconds_total', i) / (elapsed / 1000)),
    postgresCpu: cpuSpent(pg0, pg1) / n,
    driverCpu: (driver.user + driver.system) / 1000 / n,
    statements: servers.reduce((sum, _, i) => sum + delta('lti_db_statements_total', i), 0) / n,
  };
}

const first = await startServer({ DATABASE_URL: url });
const servers = [first];
for (let i = 1; i < PROCESSES; i++) {
  servers.push(await startServer({ DATABASE_URL: url, PUBLIC_URL: first.baseUrl }, undefined, { firstStart: false }));
}
const platform = await startTestPlatform();
const setup = await setUp(first, platform);
const postgres = await postgresCpuReader(url);
const label = (mode: Mode) => (mode === '1 process' ? mode : `${PROCESSES}, ${mode}`);
try {
  console.log(`# Processes benchmark — ${new Date().toISOString()} — ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}`);
  console.log(`${PROCESSES} server processes on one PostgreSQL, concurrency ${CONCURRENCY}; ${DURATION_MS / 1000} s per run, ${ROUNDS} rounds; warm-up ${WARMUP_MS / 1000} s per mode\n`);
  console.log('| processes | round | launches | launches/s | by second, min–max | p50 ms | p95 ms | p99 ms | server CPU ms/launch (all processes) | loop busy, per process | PostgreSQL CPU ms/launch | driver CPU ms/launch | DB statements/launch |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  const modes: Mode[] = ['1 process', 'sticky', 'alternating'];
  for (const mode of ['sticky', 'alternating'] as const) await drive(servers, mode, WARMUP_MS, () => postgres.read());
  for (let round = 1; round <= ROUNDS; round++) {
    for (const mode of modes) {
      const x = await drive(servers, mode, DURATION_MS, () => postgres.read());
      console.log(
        [
          label(mode),
          round,
          x.n,
          fmt(x.perSecond, 1),
          x.perSecondRange,
          fmt(x.p50, 1),
          fmt(x.p95, 1),
          fmt(x.p99, 1),
          fmt(x.serverCpu),
          x.loopBusy.map((b) => `${fmt(100 * b, 0)} %`).join(', '),
          fmt(x.postgresCpu),
          fmt(x.driverCpu),
          fmt(x.statements, 1),
        ].reduce<string>((line, cell) => `${line} ${cell} |`, '|'),
      );
    }
  }
} finally {
  await postgres.close();
  await platform.close();
  for (const s of servers.reverse()) await s.stop();
}
process.exit(0);
