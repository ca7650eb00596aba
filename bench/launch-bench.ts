/**
 * Launch and grade benchmark. Starts our server as a child process (so its CPU time can
 * be read from /proc apart from the driver's) on PGlite, and on PostgreSQL when
 * TEST_DATABASE_URL / BENCH_DATABASE_URL is set (`npm run bench` starts a throwaway
 * cluster for that), plus an in-process Open edX-like platform that mints RS256 id_tokens.
 * It drives complete launches — login → auth → id_token POST → redirect — at several
 * concurrencies for fixed durations, then completions until the platform has the scores.
 *
 *   npm run bench -- [--duration 8] [--warmup 2] [--runs 3] [--concurrency 1,8,32] [--db pglite,postgres]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { startTestPlatform, type TestPlatform } from '../test/helpers/platform.ts';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '2' },
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
const METRICS_TOKEN = randomBytes(24).toString('base64url');
const CLK_TCK = 100; // Linux USER_HZ
const root = new URL('..', import.meta.url).pathname;

interface Server {
  child: ChildProcess;
  pid: number;
  baseUrl: string;
  token: string;
  stop(): Promise<void>;
}

async function startServer(env: Record<string, string>): Promise<Server> {
  // BENCH_CPU_PROF=dir writes a V8 CPU profile of the server (open it in Chrome DevTools).
  const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  const child = spawn(process.execPath, [...prof, '--import', 'tsx', 'server/main.ts'], {
    cwd: root,
    env: {
      ...process.env,
      PORT: '0',
      LOG_LEVEL: 'error',
      METRICS_TOKEN,
      NODE_ENV: 'production',
      // Thousands of launches and completions from one address (127.0.0.1): this measures the
      // server's throughput, not its rate limits, so they are off (0) for the benchmark server.
      RATE_LIMIT_LOGIN_PER_MINUTE: '0',
      RATE_LIMIT_LAUNCH_PER_MINUTE: '0',
      RATE_LIMIT_COMPLETION_PER_MINUTE: '0',
      RATE_LIMIT_COMPLETION_PER_CREDENTIAL_PER_MINUTE: '0',
      RATE_LIMIT_GRAPHQL_PER_MINUTE: '0',
      RATE_LIMIT_GRAPHQL_PER_TOKEN_PER_MINUTE: '0',
      // The benchmark's platform listens on loopback, which production refuses by default.
      OUTBOUND_ALLOWED_NETWORKS: '127.0.0.0/8,::1/128',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 60_000);
    child.stdout!.on('data', (d) => {
      out += d;
      if (/Make more with/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => reject(new Error(`server exited ${code}:\n${out}`)));
  });
  const baseUrl = out.match(/GraphQL API:\s+(\S+)\/graphql/)![1]!;
  const token = out.match(/lmt_[A-Za-z0-9_-]{43}/)![0];
  return {
    child,
    pid: child.pid!,
    baseUrl,
    token,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
}

async function metric(server: Server, name: string): Promise<number> {
  const text = await (await fetch(`${server.baseUrl}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(name))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

async function gql<T>(server: Server, query: string, variables: object): Promise<T> {
  const res = await fetch(`${server.baseUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${server.token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data: T; errors?: unknown };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

interface Setup {
  launchUrl: string;
  loginUrl: string;
}

async function setUp(server: Server, platform: TestPlatform): Promise<Setup> {
  const { createApp } = await gql<{ createApp: { app: { id: string; ltiTool: { launchUrl: string; loginUrl: string } } } }>(
    server,
    `mutation($input: CreateAppInput!) { createApp(input: $input) { ... on AppPayload { app { id ltiTool { launchUrl loginUrl } } } } }`,
    { input: { name: 'Bench', exerciseUrl: `${server.baseUrl}/demo/`, isPublic: true } },
  );
  const reg = platform.registration();
  await gql(
    server,
    `mutation($input: AddLtiRegistrationInput!) { addLtiRegistration(input: $input) { __typename } }`,
    { input: { appId: createApp.app.id, ...reg } },
  );
  platform.setToolLaunchUrl(createApp.app.ltiTool.launchUrl);
  platform.setToolKeysetUrl(`${server.baseUrl}/lti/jwks`);
  return createApp.app.ltiTool;
}

/** One whole launch as a browser does it. Returns the credential from the fragment. */
async function oneLaunch(platform: TestPlatform, setup: Setup, sub: string): Promise<string> {
  const init = platform.loginInitiation(setup.loginUrl, { targetLinkUri: setup.launchUrl, sub });
  const login = await fetch(init.url, { redirect: 'manual' });
  const location = login.headers.get('location');
  const cookie = login.headers.getSetCookie()[0]!.split(';')[0]!;
  if (login.status !== 302 || !location) throw new Error(`login ${login.status}`);
  const form = await platform.authorize(location);
  const res = await fetch(form.redirectUri, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
    body: new URLSearchParams({ id_token: form.idToken, state: form.state }),
  });
  if (res.status !== 303) throw new Error(`launch ${res.status}: ${await res.text()}`);
  return new URLSearchParams(new URL(res.headers.get('location')!).hash.slice(1)).get('lti_launch')!;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface RunResult {
  launches: number;
  perSecond: number;
  p50: number;
  p95: number;
  p99: number;
  cpuMsPerLaunch: number;
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
): Promise<RunResult> {
  const latencies: number[] = [];
  const cpu0 = cpuMs(server.pid);
  const st0 = await metric(server, 'lti_db_statements_total');
  const ks0 = platform.keysetFetches;
  const start = performance.now();
  const deadline = start + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const t = performance.now();
        const credential = await oneLaunch(platform, setup, sameLearner ? 'same-learner' : `learner-${randomBytes(8).toString('hex')}`);
        latencies.push(performance.now() - t);
        credentials?.push(credential);
      }
    }),
  );
  const elapsed = performance.now() - start;
  const cpu = cpuMs(server.pid) - cpu0;
  // The /metrics read itself is one statement-free request: nothing to subtract.
  const statements = (await metric(server, 'lti_db_statements_total')) - st0;
  latencies.sort((a, b) => a - b);
  const n = latencies.length;
  return {
    launches: n,
    perSecond: (n * 1000) / elapsed,
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    p99: percentile(latencies, 99),
    cpuMsPerLaunch: cpu / n,
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
    const res = await fetch(`${server.baseUrl}/api/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' },
      body: '{}',
    });
    if (res.status !== 200) throw new Error(`completion ${res.status}`);
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
        const res = await fetch(`${server.baseUrl}/api/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${sample[i]}`, 'content-type': 'application/json' },
          body: '{}',
        });
        if (res.status !== 200) throw new Error(`completion ${res.status}`);
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

const fmt = (n: number, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');

async function benchDatabase(kind: 'pglite' | 'postgres'): Promise<void> {
  let env: Record<string, string>;
  let cleanup = () => {};
  if (kind === 'postgres') {
    const url = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
    if (!url) {
      console.log('\n## PostgreSQL: skipped (no TEST_DATABASE_URL / BENCH_DATABASE_URL; `npm run bench` starts one)');
      return;
    }
    env = { DATABASE_URL: url };
  } else {
    const dir = mkdtempSync(join(tmpdir(), 'lti-bench-'));
    env = { PGLITE_DIR: dir, DATABASE_URL: '' };
    cleanup = () => rmSync(dir, { recursive: true, force: true });
  }
  const server = await startServer(env);
  const platform = await startTestPlatform();
  try {
    const setup = await setUp(server, platform);
    console.log(`\n## ${kind === 'pglite' ? 'PGlite (embedded)' : 'PostgreSQL'}\n`);
    console.log('| concurrency | run | launches | launches/s | p50 ms | p95 ms | p99 ms | server CPU ms/launch | DB statements/launch | keyset fetches/launch |');
    console.log('|---|---|---|---|---|---|---|---|---|---|');
    const credentials: string[] = [];
    for (const c of CONCURRENCY) {
      await drive(server, platform, setup, c, WARMUP_MS, false);
      for (let r = 1; r <= RUNS; r++) {
        const x = await drive(server, platform, setup, c, DURATION_MS, false, c === 8 ? credentials : undefined);
        console.log(`| ${c} | ${r} | ${x.launches} | ${fmt(x.perSecond, 1)} | ${fmt(x.p50, 1)} | ${fmt(x.p95, 1)} | ${fmt(x.p99, 1)} | ${fmt(x.cpuMsPerLaunch)} | ${fmt(x.statementsPerLaunch, 1)} | ${fmt(x.keysetFetchesPerLaunch, 4)} |`);
      }
    }
    const same = await drive(server, platform, setup, 8, DURATION_MS, true);
    console.log(`| 8 (same learner) | 1 | ${same.launches} | ${fmt(same.perSecond, 1)} | ${fmt(same.p50, 1)} | ${fmt(same.p95, 1)} | ${fmt(same.p99, 1)} | ${fmt(same.cpuMsPerLaunch)} | ${fmt(same.statementsPerLaunch, 1)} | ${fmt(same.keysetFetchesPerLaunch, 4)} |`);
    if (credentials.length < COMPLETIONS + 100) for (let i = credentials.length; i < COMPLETIONS + 100; i++) credentials.push(await oneLaunch(platform, setup, `c-${i}`));
    const paced = await pacedCompletions(server, platform, credentials.splice(0, 100));
    console.log(`\nCompletions one at a time: ${paced.n}; completion → score received p50 ${fmt(paced.p50, 1)} ms, p95 ${fmt(paced.p95, 1)} ms.`);
    const comp = await completionRun(server, platform, credentials);
    console.log(`Completions in a burst (8 concurrent senders): ${comp.completions} sent, ${comp.received} scores received; completion → score p50 ${fmt(comp.p50, 1)} ms, p95 ${fmt(comp.p95, 1)} ms (queueing included); ${fmt(comp.scoresPerSecond, 1)} scores/s; ${comp.tokenRequests} access-token request(s).`);
  } finally {
    await platform.close();
    await server.stop();
    cleanup();
  }
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
