/**
 * Prometheus metrics in the text exposition format (0.0.4) at `/metrics` (enabled by
 * METRICS_TOKEN). Dependency-free on purpose: counters, histograms, and values read at
 * scrape time. Process-local by nature: scrape every process.
 */
import { performance } from 'node:perf_hooks';

type Labels = Record<string, string>;

function labelText(labels: Labels): string {
  return Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, '_')}"`)
    .join(',');
}

const braces = (text: string) => (text ? `{${text}}` : '');

class Counter {
  readonly #values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels: Labels = {}, by = 1): void {
    const key = labelText(labels);
    this.#values.set(key, (this.#values.get(key) ?? 0) + by);
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    if (this.#values.size === 0) lines.push(`${this.name} 0`);
    for (const [key, value] of this.#values) lines.push(`${this.name}${braces(key)} ${value}`);
    return lines.join('\n');
  }
}

/** Cumulative buckets (upper bounds in seconds), a sum and a count per label set. */
class Histogram {
  readonly #series = new Map<string, { buckets: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly bounds: readonly number[],
  ) {}
  observe(value: number, labels: Labels = {}): void {
    this.labeled(labels)(value);
  }
  /**
   * An observer for one label set, its series made now: for per-request paths, which would
   * otherwise format and look up the labels on every observation.
   */
  labeled(labels: Labels): (value: number) => void {
    const key = labelText(labels);
    let series = this.#series.get(key);
    if (!series) this.#series.set(key, (series = { buckets: this.bounds.map(() => 0), sum: 0, count: 0 }));
    const { bounds } = this;
    const s = series;
    return (value) => {
      for (let i = 0; i < bounds.length; i++) if (value <= bounds[i]!) s.buckets[i]!++;
      s.sum += value;
      s.count++;
    };
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    const all = this.#series.size > 0 ? this.#series : new Map([['', { buckets: this.bounds.map(() => 0), sum: 0, count: 0 }]]);
    for (const [key, s] of all) {
      const withLe = (le: string) => braces([key, `le="${le}"`].filter(Boolean).join(','));
      this.bounds.forEach((bound, i) => lines.push(`${this.name}_bucket${withLe(String(bound))} ${s.buckets[i]}`));
      lines.push(`${this.name}_bucket${withLe('+Inf')} ${s.count}`);
      lines.push(`${this.name}_sum${braces(key)} ${s.sum}`);
      lines.push(`${this.name}_count${braces(key)} ${s.count}`);
    }
    return lines.join('\n');
  }
}

/** A value read when scraped (from a component that counts it, the process, or the database). */
export interface Collected {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  read: () => number | Promise<number>;
}

const PROCESS_START_SECONDS = Math.floor(Date.now() / 1000 - process.uptime());

/**
 * One process.memoryUsage() per scrape (it walks the V8 heap spaces): render() calls every
 * read() in one synchronous pass, so a snapshot kept until the next microtask serves them all.
 */
let memorySnapshot: NodeJS.MemoryUsage | undefined;
function memoryUsage(): NodeJS.MemoryUsage {
  if (!memorySnapshot) {
    memorySnapshot = process.memoryUsage();
    queueMicrotask(() => {
      memorySnapshot = undefined;
    });
  }
  return memorySnapshot;
}

/** The usual process_* and nodejs_* names (as prom-client's), so stock dashboards work. */
const PROCESS: Collected[] = [
  { name: 'process_cpu_user_seconds_total', help: 'User CPU time spent.', type: 'counter', read: () => process.cpuUsage().user / 1e6 },
  { name: 'process_cpu_system_seconds_total', help: 'System CPU time spent.', type: 'counter', read: () => process.cpuUsage().system / 1e6 },
  {
    name: 'process_cpu_seconds_total',
    help: 'User and system CPU time spent.',
    type: 'counter',
    read: () => {
      const { user, system } = process.cpuUsage();
      return (user + system) / 1e6;
    },
  },
  {
    name: 'nodejs_eventloop_active_seconds_total',
    help: 'Time the event loop spent running JavaScript and callbacks rather than waiting for I/O; its rate is the loop utilization (1 = saturated).',
    type: 'counter',
    read: () => performance.eventLoopUtilization().active / 1000,
  },
  { name: 'process_resident_memory_bytes', help: 'Resident memory size.', type: 'gauge', read: () => process.memoryUsage.rss() },
  { name: 'process_start_time_seconds', help: 'Start time of the process since the Unix epoch.', type: 'gauge', read: () => PROCESS_START_SECONDS },
  { name: 'nodejs_heap_size_used_bytes', help: 'V8 heap in use.', type: 'gauge', read: () => memoryUsage().heapUsed },
  { name: 'nodejs_heap_size_total_bytes', help: 'V8 heap allocated.', type: 'gauge', read: () => memoryUsage().heapTotal },
  {
    name: 'nodejs_external_memory_bytes',
    help: 'Memory of C++ objects bound to JavaScript objects, outside the V8 heap (Buffers, ArrayBuffers, WebAssembly memory).',
    type: 'gauge',
    read: () => memoryUsage().external,
  },
  {
    name: 'nodejs_array_buffers_bytes',
    help: 'Memory of ArrayBuffers and SharedArrayBuffers, Buffers included (part of external; WebAssembly memory is not).',
    type: 'gauge',
    read: () => memoryUsage().arrayBuffers,
  },
];

/** Delivery latency spans retries with backoff: seconds to hours. */
const DELIVERY_LATENCY_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21_600, 86_400];
/**
 * One request to our server, from our handler's call (headers parsed) to the answer's last
 * byte handed to the socket: fine steps where logins and launches live (a few ms), coarse
 * up to a slow GraphQL query.
 */
const REQUEST_DURATION_BUCKETS = [0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** One score POST: bounded by the delivery timeout (10 s by default). */
const HTTP_DURATION_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class Metrics {
  readonly logins = new Counter('lti_logins_total', 'OIDC login initiations by outcome and error code.');
  readonly launches = new Counter('lti_launches_total', 'Launches by outcome and error code.');
  readonly refusalsDropped = new Counter(
    'lti_launch_refusals_dropped_total',
    'Refused logins/launches not stored in the audit trail, by reason (throttled, error).',
  );
  readonly completions = new Counter('lti_completions_total', 'Completion reports by outcome.');
  readonly deliveries = new Counter('lti_grade_deliveries_total', 'Grade delivery attempts by resulting state (delivered, retry, failed).');
  readonly deliveryLatency = new Histogram(
    'lti_grade_delivery_latency_seconds',
    'From completion recorded to score accepted by the platform, retries included.',
    DELIVERY_LATENCY_BUCKETS,
  );
  readonly deliveryAttemptDuration = new Histogram(
    'lti_grade_delivery_attempt_duration_seconds',
    'HTTP duration of one score POST to the platform, whatever its answer.',
    HTTP_DURATION_BUCKETS,
  );
  readonly requestDuration = new Histogram(
    'lti_http_request_duration_seconds',
    'Time from a request reaching our handler (headers parsed) to the last byte of its answer handed to the socket, by route.',
    REQUEST_DURATION_BUCKETS,
  );
  readonly dbStatements = new Counter('lti_db_statements_total', 'SQL statements sent to the database.');
  readonly rateLimited = new Counter('lti_rate_limited_total', 'Requests refused with 429 by route and by what was limited (address, credential, token).');
  /** Read at scrape time; components add theirs (createApp). */
  readonly collected: Collected[] = [...PROCESS];

  async render(): Promise<string> {
    const own = [
      this.logins,
      this.launches,
      this.refusalsDropped,
      this.completions,
      this.deliveries,
      this.deliveryLatency,
      this.deliveryAttemptDuration,
      this.requestDuration,
      this.dbStatements,
      this.rateLimited,
    ].map((m) => m.render());
    const read = await Promise.all(
      this.collected.map(async (c) => {
        const head = `# HELP ${c.name} ${c.help}\n# TYPE ${c.name} ${c.type}`;
        try {
          return `${head}\n${c.name} ${await c.read()}`;
        } catch {
          // E.g. the database is down: the sample is missing (Prometheus shows a gap), the rest is served.
          return head;
        }
      }),
    );
    return `${[...own, ...read].join('\n')}\n`;
  }
}

/** Wraps an async reader so that scrapes within `ttlMs` share one read (e.g. one SQL count). */
export function cachedFor(ttlMs: number, nowMs: () => number, read: () => Promise<number>): () => Promise<number> {
  let last: { at: number; value: Promise<number> } | undefined;
  return () => {
    const t = nowMs();
    if (!last || t - last.at >= ttlMs) {
      const value = read();
      last = { at: t, value };
      // A failed read is not cached.
      value.catch(() => {
        if (last?.value === value) last = undefined;
      });
    }
    return last.value;
  };
}
