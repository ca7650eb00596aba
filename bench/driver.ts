/**
 * What the launch benchmark and the soak share: our server as a child process (so its CPU
 * time and memory can be read apart from the driver's), its /metrics, and whole launches
 * driven as a browser does them against the in-process Open edX-like platform.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { TestPlatform } from '../test/helpers/platform.ts';

export const METRICS_TOKEN = randomBytes(24).toString('base64url');
const CLK_TCK = 100; // Linux USER_HZ
export const root = new URL('..', import.meta.url).pathname;

export interface Server {
  child: ChildProcess;
  pid: number;
  /** The public URL (PUBLIC_URL): what the LMS is given, and the base of every tool URL. */
  baseUrl: string;
  /** Where this process listens: differs from `baseUrl` for a second process behind one PUBLIC_URL. */
  listenUrl: string;
  /** The first owner's API token: printed only by the first start on a fresh database ('' otherwise). */
  token: string;
  stop(): Promise<void>;
}

/**
 * Starts `server/main.ts` on port 0 (NODE_ENV=production, LOG_LEVEL=error unless `env` says
 * otherwise). `onLine` sees every stdout line after start-up (the JSON log lines).
 * `firstStart: false` starts another process on a database a first one already set up (it
 * prints no owner token): for several processes behind one PUBLIC_URL.
 */
export async function startServer(
  env: Record<string, string>,
  onLine?: (line: string) => void,
  { firstStart = true }: { firstStart?: boolean } = {},
): Promise<Server> {
  // BENCH_CPU_PROF=dir writes a V8 CPU profile of the server (open it in Chrome DevTools).
  const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  // BENCH_SERVER_NODE_FLAGS='--trace-gc …' passes V8/Node flags to the server alone (not the driver).
  const flags = process.env.BENCH_SERVER_NODE_FLAGS?.split(/\s+/).filter(Boolean) ?? [];
  // BENCH_SERVER_STDOUT=file keeps the server's stdout after start-up (its log, --trace-gc's lines).
  const keep = process.env.BENCH_SERVER_STDOUT;
  if (keep) {
    const show = onLine;
    onLine = (line) => {
      appendFileSync(keep, line + '\n');
      show?.(line);
    };
  }
  const child = spawn(process.execPath, [...prof, ...flags, '--import', 'tsx', 'server/main.ts'], {
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
  let started = false;
  let partial = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 60_000);
    child.stdout!.on('data', (d: Buffer) => {
      if (started) {
        const lines = (partial + d.toString()).split('\n');
        partial = lines.pop()!;
        for (const line of lines) onLine?.(line);
        return;
      }
      out += d;
      // The start-up banner is one write; it ends with the owner token's lines on a first start.
      if (firstStart ? /Make more with/.test(out) : /Database:[^\n]*\n/.test(out)) {
        started = true;
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => reject(new Error(`server exited ${code}:\n${out}`)));
  });
  const baseUrl = out.match(/GraphQL API:\s+(\S+)\/graphql/)![1]!;
  const listenUrl = out.match(/listening on (http:\/\/\S+)/)![1]!;
  const token = firstStart ? out.match(/lmt_[A-Za-z0-9_-]{43}/)![0] : '';
  return {
    child,
    pid: child.pid!,
    baseUrl,
    listenUrl,
    token,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** The database environment for a kind: a fresh PGlite directory, or the test PostgreSQL. */
export function databaseEnv(kind: 'pglite' | 'postgres'): { env: Record<string, string>; cleanup: () => void } | undefined {
  if (kind === 'postgres') {
    const url = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
    return url ? { env: { DATABASE_URL: url }, cleanup: () => {} } : undefined;
  }
  const dir = mkdtempSync(join(tmpdir(), 'lti-bench-'));
  return { env: { PGLITE_DIR: dir, DATABASE_URL: '' }, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** User+system CPU of a process (all its threads), or of one thread with `thread`. */
export function cpuMs(pid: number, thread?: number): number {
  const stat = readFileSync(thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
}

/**
 * CPU time of a PostgreSQL cluster's processes (backends and background workers, as
 * pg_stat_activity lists them), per pid from /proc: the database's share of a launch when it
 * runs on the same machine. Reading another user's /proc times needs root or that user.
 */
export async function postgresCpuReader(url: string): Promise<{ read(): Promise<Map<number, number>>; close(): Promise<void> }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return {
    async read() {
      const { rows } = await client.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()');
      const cpu = new Map<number, number>();
      for (const { pid } of rows) {
        try {
          cpu.set(pid, cpuMs(pid));
        } catch {
          // Exited since the query: nothing to read.
        }
      }
      return cpu;
    },
    close: () => client.end(),
  };
}

/** CPU spent between two reads: processes present at the end, less what they had at the start. */
export function cpuSpent(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, ms] of after) total += ms - (before.get(pid) ?? 0);
  return total;
}

/** This process's /metrics text (at its own address: behind one PUBLIC_URL, each process counts its own). */
export async function scrape(server: Server): Promise<string> {
  return (await fetch(`${server.listenUrl}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
}

/** Sum of every sample of `name` (all label sets) in the server's /metrics. */
export async function metric(server: Server, name: string): Promise<number> {
  return (await metrics(server, [name]))[name]!;
}

/** Several metrics from one scrape. */
export async function metrics(server: Server, names: string[]): Promise<Record<string, number>> {
  return metricValues(await scrape(server), names);
}

/** Sum of every sample of each of `names` (all label sets) in a scrape's text. */
export function metricValues(text: string, names: string[]): Record<string, number> {
  const lines = text.split('\n');
  return Object.fromEntries(
    names.map((name) => [
      name,
      lines
        .filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
        .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0),
    ]),
  );
}

/**
 * The `q` quantile (0–1), in ms, of the requests one route's histogram
 * (`lti_http_request_duration_seconds`) observed between two scrapes: interpolated within
 * the bucket it falls in, as Prometheus's histogram_quantile() does.
 */
export function routeQuantileMs(before: string, after: string, route: string, q: number): number {
  const buckets = (text: string) => {
    const out = new Map<number, number>();
    const pattern = new RegExp(`^lti_http_request_duration_seconds_bucket\\{route="${route}",le="([^"]+)"\\} (\\S+)$`, 'gm');
    for (const m of text.matchAll(pattern)) out.set(m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2]));
    return out;
  };
  const b0 = buckets(before);
  const rows = [...buckets(after)].map(([le, n]) => [le, n - (b0.get(le) ?? 0)] as const).sort((a, b) => a[0] - b[0]);
  const total = rows.at(-1)?.[1] ?? 0;
  if (total === 0) return Number.NaN;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const [le, cumulative] of rows) {
    if (cumulative >= rank) {
      if (le === Infinity) return lower * 1000; // past the last bound: its value is unknown
      return (lower + ((le - lower) * (rank - below)) / Math.max(1, cumulative - below)) * 1000;
    }
    lower = le;
    below = cumulative;
  }
  return Number.NaN;
}

export async function gql<T>(server: Server, query: string, variables: object): Promise<T> {
  const res = await fetch(`${server.baseUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${server.token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data: T; errors?: unknown };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

export interface Setup {
  launchUrl: string;
  loginUrl: string;
}

/** One public app registered with `platform`. */
export async function setUp(server: Server, platform: TestPlatform): Promise<Setup> {
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

/**
 * The driver's own HTTP client for the hot loop: node:http over kept-alive connections, as a
 * browser keeps them. The driver shares the machine's two cores with the server, and fetch
 * (undici, web streams, an AbortSignal per request) cost the driver about a third of its CPU
 * per launch — time the server then waits for, which showed up in its latency figures.
 */
const keepAlive = new Agent({ keepAlive: true, maxSockets: 256 });

interface DriverResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

function send(url: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<DriverResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers, agent: keepAlive }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/**
 * What Chromium sends on a top-level navigation from the LMS's page, so the server parses as
 * many header bytes as it will in production (fetch's few defaults would flatter it).
 */
const NAVIGATION_HEADERS = {
  'upgrade-insecure-requests': '1',
  'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7',
  'sec-fetch-site': 'cross-site',
  'sec-fetch-mode': 'navigate',
  'sec-fetch-user': '?1',
  'sec-fetch-dest': 'document',
  referer: 'https://lms.example.org/',
  'accept-encoding': 'gzip, deflate, br, zstd',
  'accept-language': 'en-US,en;q=0.9',
};

/**
 * Where the load balancer sends each of a launch's two requests: the origins of the server
 * processes (`Server.listenUrl`) that get the login and the launch POST. Unset: the public URL.
 */
export interface Route {
  login: string;
  launch: string;
}

/** `url` with its origin replaced by `origin` (the process a load balancer picked). */
function via(url: string, origin: string | undefined): string {
  if (!origin) return url;
  const u = new URL(url);
  return origin + u.pathname + u.search;
}

/**
 * One whole launch as a browser does it. Returns the credential from the fragment. `timing`,
 * when given, receives the time spent waiting on our server (the login and launch round trips),
 * apart from the platform's share (minting and signing the id_token). `route` sends the two
 * requests to given processes, as a load balancer in front of several would.
 */
export async function oneLaunch(platform: TestPlatform, setup: Setup, sub: string, timing?: { toolMs: number }, route?: Route): Promise<string> {
  const init = platform.loginInitiation(setup.loginUrl, { targetLinkUri: setup.launchUrl, sub });
  const t0 = performance.now();
  const login = await send(via(init.url, route?.login), { headers: NAVIGATION_HEADERS });
  const loginMs = performance.now() - t0;
  const location = login.headers.location;
  const cookie = login.headers['set-cookie']?.[0]?.split(';')[0];
  if (login.status !== 302 || !location || !cookie) throw new Error(`login ${login.status}`);
  const form = await platform.authorize(location);
  const body = new URLSearchParams({ id_token: form.idToken, state: form.state }).toString();
  const t1 = performance.now();
  const res = await send(via(form.redirectUri, route?.launch), {
    method: 'POST',
    headers: {
      ...NAVIGATION_HEADERS,
      'cache-control': 'max-age=0',
      origin: 'https://lms.example.org',
      'content-type': 'application/x-www-form-urlencoded',
      'content-length': String(Buffer.byteLength(body)),
      cookie,
    },
    body,
  });
  if (timing) timing.toolMs = loginMs + (performance.now() - t1);
  if (res.status !== 303 || !res.headers.location) throw new Error(`launch ${res.status}: ${res.body}`);
  return new URLSearchParams(new URL(res.headers.location).hash.slice(1)).get('lti_launch')!;
}

/** POST /api/completions as the widget does; throws unless 200. */
export async function complete(server: Server, credential: string): Promise<void> {
  const res = await send(`${server.baseUrl}/api/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json', 'content-length': '2' },
    body: '{}',
  });
  if (res.status !== 200) throw new Error(`completion ${res.status}`);
}

/**
 * The slowest and the fastest whole second of a run: launches finished in each, from their
 * finishing times (performance.now()); the partial last second is left out.
 */
export function launchesBySecond(finishedAt: readonly number[], start: number, elapsedMs: number): { min: number; max: number } {
  const perSecond = new Array<number>(Math.floor(elapsedMs / 1000)).fill(0);
  for (const at of finishedAt) {
    const second = Math.floor((at - start) / 1000);
    if (second < perSecond.length) perSecond[second]!++;
  }
  return { min: Math.min(...perSecond), max: Math.max(...perSecond) };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export const fmt = (n: number, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');
