/**
 * Soak: sustained launches and completions against the real server (child process) for a
 * long time, sampling memory and the tables that must stay bounded. Each of `--concurrency`
 * learners-in-a-loop does a whole launch (a new learner each time) and then the completion,
 * so grades flow to the in-process Open edX-like platform all along.
 *
 *   npm run soak -- [--duration 600] [--sample 30] [--concurrency 8] [--db pglite|pg]
 *   npm run soak:pg -- …   (a throwaway PostgreSQL cluster, like `npm run bench`)
 *                   [--login-ttl 60] [--cleanup-interval 10]
 *
 * Reads every second, one row per --sample s: server RSS (/proc/<pid>/status, mean), V8
 * heap and external memory (/metrics, the period's minimum; external is what lives outside the
 * V8 heap — Buffers, ArrayBuffers, PGlite's wasm memory — where a leak would otherwise only show
 * as RSS; array buffers, the part of it that excludes wasm memory, are read too and summed up in
 * the verdict), the pending outbox (a /metrics gauge; its maximum),
 * launches/s and p95 in the period, errors (driver-side failures + server log lines at level
 * error). The verdict at the end: the heap's and external memory's slopes and RSS's peaks (second
 * half against first), the largest outbox
 * and whether it drains, and the error count. Exit code 1 when a check fails.
 *
 * Logins store nothing in the database (they live in the browser's state cookie), so there is
 * no login table to watch; `--login-ttl` and `--cleanup-interval` still set
 * LOGIN_STATE_TTL_SECONDS and LOGIN_CLEANUP_INTERVAL_SECONDS (the refusal cleanup's timer).
 */
import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { startTestPlatform } from '../test/helpers/platform.ts';
import { complete, databaseEnv, fmt, metrics, oneLaunch, percentile, setUp, startServer } from './driver.ts';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '600' },
    sample: { type: 'string', default: '30' },
    concurrency: { type: 'string', default: '8' },
    db: { type: 'string', default: 'pglite' },
    'login-ttl': { type: 'string', default: '60' },
    'cleanup-interval': { type: 'string', default: '10' },
  },
});
const DURATION_MS = Number(args.duration) * 1000;
const SAMPLE_MS = Math.min(Number(args.sample) * 1000, Math.max(1000, DURATION_MS / 5));
const CONCURRENCY = Number(args.concurrency);
const LOGIN_TTL_S = Number(args['login-ttl']);
const CLEANUP_S = Number(args['cleanup-interval']);
const KIND = args.db === 'pg' ? 'postgres' : (args.db as 'pglite' | 'postgres');

const MiB = 2 ** 20;
const rssBytes = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;

interface Sample {
  t: number;
  rss: number;
  heap: number;
  external: number;
  arrayBuffers: number;
  outbox: number;
  launches: number;
  perSecond: number;
  p95: number;
  errors: number;
}

/** Least-squares slope of y over x. */
function slope(points: Array<[number, number]>): number {
  const n = points.length;
  if (n < 2) return Number.NaN;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const num = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const den = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return num / den;
}

const db = databaseEnv(KIND);
if (!db) {
  console.error('PostgreSQL needs TEST_DATABASE_URL or BENCH_DATABASE_URL (`npm run soak:pg` starts a throwaway cluster).');
  process.exit(2);
}
const errorLines: string[] = [];
const server = await startServer(
  { ...db.env, LOG_LEVEL: 'error', LOGIN_STATE_TTL_SECONDS: String(LOGIN_TTL_S), LOGIN_CLEANUP_INTERVAL_SECONDS: String(CLEANUP_S) },
  (line) => {
    if (line.trim()) errorLines.push(line);
  },
);
const platform = await startTestPlatform();
const setup = await setUp(server, platform);

console.log(`# Soak — ${new Date().toISOString()} — ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`);
console.log(
  `${KIND}, ${DURATION_MS / 1000} s at concurrency ${CONCURRENCY} (launch + completion per learner), sample every ${SAMPLE_MS / 1000} s; ` +
    `LOGIN_STATE_TTL_SECONDS=${LOGIN_TTL_S}, LOGIN_CLEANUP_INTERVAL_SECONDS=${CLEANUP_S}; load average at start ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`,
);
console.log('| t s | RSS MiB (mean) | heap MiB (min) | external MiB (min) | outbox pending (max) | launches | launches/s | p95 ms | errors |');
console.log('|---|---|---|---|---|---|---|---|---|---|');

let launches = 0;
let completions = 0;
let driverErrors = 0;
const firstErrors: string[] = [];
let latencies: number[] = [];
const start = performance.now();
const deadline = start + DURATION_MS;
const loadAverages: number[] = [];

const workers = Promise.all(
  Array.from({ length: CONCURRENCY }, async () => {
    while (performance.now() < deadline) {
      try {
        const t = performance.now();
        const credential = await oneLaunch(platform, setup, `soak-${randomBytes(8).toString('hex')}`);
        latencies.push(performance.now() - t);
        launches += 1;
        await complete(server, credential);
        completions += 1;
      } catch (err) {
        driverErrors += 1;
        if (firstErrors.length < 5) firstErrors.push((err as Error).message);
      }
    }
  }),
);

const samples: Sample[] = [];
let lastLaunches = 0;
let lastAt = start;
/** Readings every second within the current sample period. */
let readings: Array<{ rss: number; heap: number; external: number; arrayBuffers: number; outbox: number }> = [];
async function read(): Promise<void> {
  const m = await metrics(server, [
    'nodejs_heap_size_used_bytes',
    'nodejs_external_memory_bytes',
    'nodejs_array_buffers_bytes',
    'lti_grade_outbox_pending',
  ]);
  readings.push({
    rss: rssBytes(server.pid),
    heap: m.nodejs_heap_size_used_bytes!,
    external: m.nodejs_external_memory_bytes!,
    arrayBuffers: m.nodejs_array_buffers_bytes!,
    outbox: m.lti_grade_outbox_pending!,
  });
}
/**
 * One row per period: RSS mean, heap and external minimum (the garbage collector's troughs:
 * what is really retained, not the sawtooth — Buffers are freed when their wrappers are
 * collected), the largest outbox.
 */
function sample(): Sample {
  const now = performance.now();
  const sorted = latencies.sort((a, b) => a - b);
  const s: Sample = {
    t: (now - start) / 1000,
    rss: readings.reduce((a, r) => a + r.rss, 0) / readings.length,
    heap: Math.min(...readings.map((r) => r.heap)),
    external: Math.min(...readings.map((r) => r.external)),
    arrayBuffers: Math.min(...readings.map((r) => r.arrayBuffers)),
    outbox: Math.max(...readings.map((r) => r.outbox)),
    launches: launches - lastLaunches,
    perSecond: ((launches - lastLaunches) * 1000) / (now - lastAt),
    p95: percentile(sorted, 95),
    errors: driverErrors + errorLines.length,
  };
  latencies = [];
  readings = [];
  lastLaunches = launches;
  lastAt = now;
  loadAverages.push(loadavg()[0]!);
  console.log(
    `| ${fmt(s.t, 0)} | ${fmt(s.rss / MiB, 1)} | ${fmt(s.heap / MiB, 1)} | ${fmt(s.external / MiB, 1)} | ${s.outbox} | ${s.launches} | ${fmt(s.perSecond, 1)} | ${fmt(s.p95, 1)} | ${s.errors} |`,
  );
  return s;
}

let nextSample = start + SAMPLE_MS;
while (nextSample <= deadline + 50) {
  await read();
  if (performance.now() >= nextSample) {
    samples.push(sample());
    nextSample += SAMPLE_MS;
  }
  await new Promise((r) => setTimeout(r, Math.max(0, Math.min(1000, nextSample - performance.now()))));
}
await workers;

// The outbox must drain once the load stops.
const drainStart = performance.now();
let outboxAfter = Number.NaN;
while (performance.now() - drainStart < 60_000) {
  outboxAfter = (await metrics(server, ['lti_grade_outbox_pending'])).lti_grade_outbox_pending!;
  if (outboxAfter === 0) break;
  await new Promise((r) => setTimeout(r, 250));
}
const drainMs = performance.now() - drainStart;

// Verdict, over the second half (after warm-up: JIT, caches).
const second = samples.filter((s) => s.t >= DURATION_MS / 2000);
const minutes = (s: Sample) => s.t / 60;
const rssSlope = slope(second.map((s) => [minutes(s), s.rss / MiB]));
// RSS follows the allocator (freed memory goes back to the system lazily and in bursts), so
// its slope over a few noisy samples flags noise as often as growth; a leak shows as peaks
// that keep rising. Compared: the highest RSS of the second half with that of the first
// (its first sample left out: start-up).
const first = samples.filter((s) => s.t < DURATION_MS / 2000).slice(1);
const rssPeakRatio = Math.max(...second.map((s) => s.rss)) / Math.max(...first.map((s) => s.rss));
const heapSlope = slope(second.map((s) => [minutes(s), s.heap / MiB]));
// Outside the V8 heap (Buffers, ArrayBuffers, PGlite's wasm memory): judged like the heap.
const externalSlope = slope(second.map((s) => [minutes(s), s.external / MiB]));
const arrayBuffersSlope = slope(second.map((s) => [minutes(s), s.arrayBuffers / MiB]));
const arrayBuffersRange = `${fmt(samples[0]!.arrayBuffers / MiB, 1)} → ${fmt(samples.at(-1)!.arrayBuffers / MiB, 1)} MiB`;
const meanRate = samples.reduce((a, s) => a + s.perSecond, 0) / Math.max(1, samples.length);
const peakRate = Math.max(...samples.map((s) => s.perSecond));
const maxOutbox = Math.max(...samples.map((s) => s.outbox));
const errors = driverErrors + errorLines.length;
const meanLoad = loadAverages.reduce((a, b) => a + b, 0) / Math.max(1, loadAverages.length);

const checks: Array<[string, boolean, string]> = [
  ['errors', errors === 0, `${errors} (driver ${driverErrors}, server error log lines ${errorLines.length})`],
  // Only growth counts against it; NaN (too few samples) fails.
  [
    'RSS peaks',
    rssPeakRatio <= 1.2,
    `second half's peak ${fmt(rssPeakRatio)} × the first half's (flat: ≤ 1.2); slope over the second half ${fmt(rssSlope)} MiB/min, for the record`,
  ],
  ['heap slope (second half)', heapSlope <= 1, `${fmt(heapSlope)} MiB/min (flat: ≤ 1; per-period minimum heap)`],
  [
    'external memory slope (second half)',
    externalSlope <= 1,
    `${fmt(externalSlope)} MiB/min (flat: ≤ 1; per-period minimum of external memory); array buffers (part of it) ${arrayBuffersRange} over the run, slope ${fmt(arrayBuffersSlope)} MiB/min, for the record`,
  ],
  ['outbox drains', outboxAfter === 0, `max ${maxOutbox} pending during the run; ${outboxAfter} left ${fmt(drainMs / 1000, 1)} s after the load stopped`],
];
console.log(`\n${launches} launches, ${completions} completions (mean ${fmt(meanRate, 1)} launches/s); mean load average ${fmt(meanLoad)}.`);
console.log(`Scores received by the platform: ${platform.scores.length}.`);
for (const [name, ok, detail] of checks) console.log(`- ${ok ? 'ok  ' : 'FAIL'} ${name}: ${detail}`);
if (firstErrors.length) console.log(`First driver errors: ${firstErrors.join(' | ')}`);
if (errorLines.length) console.log(`First server errors:\n${errorLines.slice(0, 5).join('\n')}`);
const pass = checks.every(([, ok]) => ok) && platform.scores.length === completions;
console.log(`\nVerdict: ${pass ? 'PASS' : 'FAIL'}`);

await platform.close();
await server.stop();
db.cleanup();
process.exit(pass ? 0 : 1);
