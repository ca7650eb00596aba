/**
 * Launch and grade benchmark. Starts our server as a child process (so its CPU time can
 * be read from /proc apart from the driver's) on PGlite, and on PostgreSQL when
 * TEST_DATABASE_URL / BENCH_DATABASE_URL is set (`npm run bench` starts a throwaway
 * cluster for that), plus an in-process Open edX-like platform that mints RS256 id_tokens.
 * It drives complete launches — login → auth → id_token POST → redirect — at several
 * concurrencies for fixed durations, then completions until the platform has the scores.
 *
 *   npm run bench -- [--duration 8] [--warmup 10] [--runs 3] [--concurrency 1,8,32] [--db pglite,postgres]
 */
import { appendFileSync, readFileSync, existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { startTestPlatform, type TestPlatform } from '../test/helpers/platform.ts';
import { complete, cpuMs, cpuSpent, databaseEnv, postgresCpuReader, fmt, launchesBySecond, metricValues, oneLaunch, percentile, root, routeQuantileMs, scrape, setUp, startServer, type Server, type Setup } from './driver.ts';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '10' },
    runs: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '1,8,32' },
    db: { type: 'string', default: 'pglite,postgres' },
    completions: { type: 'string', default: '300' },
  },
});
const DURATION_MS = Number(args.duration) * 1000;
const WARMUP_MS = Number(args.warmup) * 1000;
const RUNS = Number(args.runs);
const CONCURRENCY = args.concurrency!.split(',').map(Number);
const COMPLETIONS = Number(args.completions);

interface RunResult {
  launches: number;
  perSecond: number;
  p50: number;
  p95: number;
  p99: number;
  /** The login and launch round trips only: what the browser waits on our server for. */
  toolP50: number;
  toolP99: number;
  cpuMsPerLaunch: number;
  /** Of which on the main thread (the event loop); the rest is libuv's pool (WebCrypto) and V8's helpers (GC). */
  mainThreadCpuMsPerLaunch: number;
  /** Launches finished in each whole second of the run: the slowest and the fastest second. */
  perSecondMin: number;
  perSecondMax: number;
  /** Inside the server (its lti_http_request_duration_seconds): handler called → answer written. */
  serverLogin: { p50: number; p99: number };
  serverLaunch: { p50: number; p99: number };
  /** Share of the run's wall time the server's event loop was busy. */
  serverLoopBusy: number;
  /** PostgreSQL's processes (undefined on PGlite, whose CPU is the server's). */
  postgresCpuMsPerLaunch: number | undefined;
  /** This process: the HTTP client and the in-process platform (which signs each id_token). */
  driverCpuMsPerLaunch: number;
  statementsPerLaunch: number;
  keysetFetchesPerLaunch: number;
}

async function drive(
  server: Server,
  platform: TestPlatform,
  setup: Setup,
  concurrency: number,
  durationMs: number,
  sameLearner: boolean,
  credentials?: string[],
  postgresCpu?: () => Promise<Map<number, number>>,
): Promise<RunResult> {
  const latencies: number[] = [];
  const toolLatencies: number[] = [];
  const pgCpu0 = await postgresCpu?.();
  const cpu0 = cpuMs(server.pid);
  const main0 = cpuMs(server.pid, server.pid);
  const finishedAt: number[] = [];
  const driverCpu0 = process.cpuUsage();
  const scrape0 = await scrape(server);
  const counters = ['lti_db_statements_total', 'nodejs_eventloop_active_seconds_total'];
  const m0 = metricValues(scrape0, counters);
  const ks0 = platform.keysetFetches;
  const start = performance.now();
  const deadline = start + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const t = performance.now();
        const timing = { toolMs: 0 };
        const credential = await oneLaunch(platform, setup, sameLearner ? 'same-learner' : `learner-${randomBytes(8).toString('hex')}`, timing);
        const done = performance.now();
        latencies.push(done - t);
        finishedAt.push(done);
        toolLatencies.push(timing.toolMs);
        credentials?.push(credential);
      }
    }),
  );
  const elapsed = performance.now() - start;
  // BENCH_LAUNCH_LOG=file appends each launch's end (ms into the run) and latency: when slow launches happen.
  if (process.env.BENCH_LAUNCH_LOG) {
    appendFileSync(process.env.BENCH_LAUNCH_LOG, finishedAt.map((t, i) => `${concurrency} ${(t - start).toFixed(2)} ${latencies[i]!.toFixed(2)}\n`).join(''));
  }
  const cpu = cpuMs(server.pid) - cpu0;
  const pgCpu1 = await postgresCpu?.();
  const mainCpu = cpuMs(server.pid, server.pid) - main0;
  const bySecond = launchesBySecond(finishedAt, start, elapsed);
  const driverCpu = process.cpuUsage(driverCpu0);
  // May include the two table-gauge queries of one scrape (cached for 5 s): at most 2/n per launch.
  const scrape1 = await scrape(server);
  const m1 = metricValues(scrape1, counters);
  const statements = m1.lti_db_statements_total! - m0.lti_db_statements_total!;
  const serverQuantiles = (route: string) => ({ p50: routeQuantileMs(scrape0, scrape1, route, 0.5), p99: routeQuantileMs(scrape0, scrape1, route, 0.99) });
  latencies.sort((a, b) => a - b);
  toolLatencies.sort((a, b) => a - b);
  const n = latencies.length;
  return {
    launches: n,
    perSecond: (n * 1000) / elapsed,
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    p99: percentile(latencies, 99),
    toolP50: percentile(toolLatencies, 50),
    toolP99: percentile(toolLatencies, 99),
    cpuMsPerLaunch: cpu / n,
    mainThreadCpuMsPerLaunch: mainCpu / n,
    postgresCpuMsPerLaunch: pgCpu0 && pgCpu1 ? cpuSpent(pgCpu0, pgCpu1) / n : undefined,
    perSecondMin: bySecond.min,
    perSecondMax: bySecond.max,
    serverLogin: serverQuantiles('lti_login'),
    serverLaunch: serverQuantiles('lti_launch'),
    serverLoopBusy: (m1.nodejs_eventloop_active_seconds_total! - m0.nodejs_eventloop_active_seconds_total!) / (elapsed / 1000),
    driverCpuMsPerLaunch: (driverCpu.user + driverCpu.system) / 1000 / n,
    statementsPerLaunch: statements / n,
    keysetFetchesPerLaunch: (platform.keysetFetches - ks0) / n,
  };
}

/** One completion at a time, each timed until its score reaches the platform (no backlog). */
async function pacedCompletions(server: Server, platform: TestPlatform, credentials: string[]) {
  const latencies: number[] = [];
  for (const credential of credentials) {
    const before = platform.scores.length;
    const t = performance.now();
    await complete(server, credential);
    const deadline = t + 10_000;
    while (platform.scores.length === before && performance.now() < deadline) await new Promise((r) => setImmediate(r));
    latencies.push(performance.now() - t);
  }
  latencies.sort((a, b) => a - b);
  return { n: latencies.length, p50: percentile(latencies, 50), p95: percentile(latencies, 95) };
}

async function completionRun(server: Server, platform: TestPlatform, credentials: string[]) {
  const sample = credentials.slice(0, COMPLETIONS);
  const before = platform.scores.length;
  const tokens0 = platform.tokenRequests.length;
  const latencies: number[] = [];
  const start = performance.now();
  let next = 0;
  const expected = new Map<number, number>(); // index in platform.scores is unknown: poll count
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < sample.length) {
        const i = next++;
        const t = performance.now();
        await complete(server, sample[i]!);
        expected.set(i, t);
      }
    }),
  );
  // Completion → score-received latency: poll the platform's received scores.
  const received: number[] = [];
  let seen = before;
  const deadline = performance.now() + 60_000;
  while (platform.scores.length < before + sample.length && performance.now() < deadline) {
    if (platform.scores.length > seen) {
      for (let k = seen; k < platform.scores.length; k++) received.push(performance.now());
      seen = platform.scores.length;
    }
    await new Promise((r) => setImmediate(r));
  }
  for (let k = seen; k < platform.scores.length; k++) received.push(performance.now());
  const elapsed = performance.now() - start;
  // Pair the k-th received score with the k-th sent completion (deliveries run in order of due time).
  const sent = [...expected.values()].sort((a, b) => a - b);
  const lat = received.map((r, k) => r - sent[k]!).sort((a, b) => a - b);
  return {
    completions: sample.length,
    received: platform.scores.length - before,
    p50: percentile(lat, 50),
    p95: percentile(lat, 95),
    scoresPerSecond: ((platform.scores.length - before) * 1000) / elapsed,
    tokenRequests: platform.tokenRequests.length - tokens0,
  };
}


async function benchDatabase(kind: 'pglite' | 'postgres'): Promise<void> {
  const db = databaseEnv(kind);
  if (!db) {
    console.log('\n## PostgreSQL: skipped (no TEST_DATABASE_URL / BENCH_DATABASE_URL; `npm run bench` starts one)');
    return;
  }
  const { env, cleanup } = db;
  const server = await startServer(env);
  const platform = await startTestPlatform();
  const postgres = env.DATABASE_URL ? await postgresCpuReader(env.DATABASE_URL) : undefined;
  const postgresCpu = postgres && (() => postgres.read());
  try {
    const setup = await setUp(server, platform);
    console.log(`\n## ${kind === 'pglite' ? 'PGlite (embedded)' : 'PostgreSQL'}\n`);
    console.log('| concurrency | run | launches | launches/s | by second, min–max | p50 ms | p95 ms | p99 ms | tool p50 ms | tool p99 ms | in server: login p50/p99 ms | in server: launch p50/p99 ms | server loop busy | server CPU ms/launch (main thread) | PostgreSQL CPU ms/launch | driver CPU ms/launch | DB statements/launch | keyset fetches/launch |');
    console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
    const credentials: string[] = [];
    for (const c of CONCURRENCY) {
      await drive(server, platform, setup, c, WARMUP_MS, false);
      for (let r = 1; r <= RUNS; r++) {
        console.log(row(String(c), r, await drive(server, platform, setup, c, DURATION_MS, false, c === 8 ? credentials : undefined, postgresCpu)));
      }
    }
    console.log(row('8 (same learner)', 1, await drive(server, platform, setup, 8, DURATION_MS, true, undefined, postgresCpu)));
    if (credentials.length < COMPLETIONS + 100) for (let i = credentials.length; i < COMPLETIONS + 100; i++) credentials.push(await oneLaunch(platform, setup, `c-${i}`));
    const paced = await pacedCompletions(server, platform, credentials.splice(0, 100));
    console.log(`\nCompletions one at a time: ${paced.n}; completion → score received p50 ${fmt(paced.p50, 1)} ms, p95 ${fmt(paced.p95, 1)} ms.`);
    const comp = await completionRun(server, platform, credentials);
    console.log(`Completions in a burst (8 concurrent senders): ${comp.completions} sent, ${comp.received} scores received; completion → score p50 ${fmt(comp.p50, 1)} ms, p95 ${fmt(comp.p95, 1)} ms (queueing included); ${fmt(comp.scoresPerSecond, 1)} scores/s; ${comp.tokenRequests} access-token request(s).`);
  } finally {
    await postgres?.close();
    await platform.close();
    await server.stop();
    cleanup();
  }
}

const inServer = (q: { p50: number; p99: number }) => `${fmt(q.p50, 1)} / ${fmt(q.p99, 1)}`;

function row(concurrency: string, run: number, x: RunResult): string {
  return [
    concurrency,
    run,
    x.launches,
    fmt(x.perSecond, 1),
    `${x.perSecondMin}–${x.perSecondMax}`,
    fmt(x.p50, 1),
    fmt(x.p95, 1),
    fmt(x.p99, 1),
    fmt(x.toolP50, 1),
    fmt(x.toolP99, 1),
    inServer(x.serverLogin),
    inServer(x.serverLaunch),
    `${fmt(100 * x.serverLoopBusy, 0)} %`,
    `${fmt(x.cpuMsPerLaunch)} (${fmt(x.mainThreadCpuMsPerLaunch)})`,
    x.postgresCpuMsPerLaunch === undefined ? '–' : fmt(x.postgresCpuMsPerLaunch),
    fmt(x.driverCpuMsPerLaunch),
    fmt(x.statementsPerLaunch, 1),
    fmt(x.keysetFetchesPerLaunch, 4),
  ].reduce<string>((line, cell) => `${line} ${cell} |`, '|');
}

function widgetSize(): void {
  const file = join(root, 'widget/dist/lti-completion.js');
  if (!existsSync(file)) {
    console.log('\nWidget: not built (npm run build:widget)');
    return;
  }
  const raw = readFileSync(file);
  console.log(`\nWidget: ${raw.length} bytes raw, ${gzipSync(raw, { level: 9 }).length} bytes gzip (target ≤ 8192).`);
}

console.log(`# Launch benchmark — ${new Date().toISOString()} — ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}`);
console.log(`duration ${DURATION_MS / 1000} s × ${RUNS} runs per concurrency, warm-up ${WARMUP_MS / 1000} s; a new learner per launch unless noted`);
for (const kind of args.db!.split(',')) await benchDatabase(kind as 'pglite' | 'postgres');
widgetSize();
process.exit(0);
