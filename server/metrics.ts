/**
 * A few Prometheus counters, rendered in the text exposition format at `/metrics`
 * (enabled by METRICS_TOKEN). Process-local by nature: scrape every process.
 */
type Labels = Record<string, string>;

class Counter {
  readonly #values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels: Labels = {}, by = 1): void {
    const key = Object.entries(labels)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, '_')}"`)
      .join(',');
    this.#values.set(key, (this.#values.get(key) ?? 0) + by);
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    if (this.#values.size === 0) lines.push(`${this.name} 0`);
    for (const [key, value] of this.#values) lines.push(`${this.name}${key ? `{${key}}` : ''} ${value}`);
    return lines.join('\n');
  }
}

export class Metrics {
  readonly logins = new Counter('lti_logins_total', 'OIDC login initiations by outcome and error code.');
  readonly launches = new Counter('lti_launches_total', 'Launches by outcome and error code.');
  readonly completions = new Counter('lti_completions_total', 'Completion reports by outcome.');
  readonly deliveries = new Counter('lti_grade_deliveries_total', 'Grade delivery attempts by outcome.');
  readonly dbStatements = new Counter('lti_db_statements_total', 'SQL statements sent to the database.');
  /**
   * Read at scrape time from the components that count them (`counter`), or current levels
   * (`gauge`: memory, table sizes; those may query the database).
   */
  gauges: Array<{ name: string; help: string; type?: 'counter' | 'gauge'; read: () => number | Promise<number> }> = [
    { name: 'process_resident_memory_bytes', help: 'Resident set size of this process.', type: 'gauge', read: () => process.memoryUsage.rss() },
    { name: 'nodejs_heap_used_bytes', help: 'V8 heap in use.', type: 'gauge', read: () => process.memoryUsage().heapUsed },
  ];

  async render(): Promise<string> {
    const counters = [this.logins, this.launches, this.completions, this.deliveries, this.dbStatements].map((c) => c.render());
    const gauges = await Promise.all(
      this.gauges.map(async (g) => `# HELP ${g.name} ${g.help}\n# TYPE ${g.name} ${g.type ?? 'counter'}\n${g.name} ${await g.read()}`),
    );
    return `${[...counters, ...gauges].join('\n')}\n`;
  }
}
