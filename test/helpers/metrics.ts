/**
 * A strict-enough reader of the Prometheus text exposition format for tests: every sample
 * must belong to a family declared by `# TYPE`, and values are looked up by exact labels.
 */
export interface Exposition {
  types: Map<string, string>;
  /** The sample's value, or undefined when there is no sample with exactly these labels. */
  value(name: string, labels?: Record<string, string>): number | undefined;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

function key(name: string, labels: Record<string, string>): string {
  const text = Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  return `${name}{${text}}`;
}

export function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = line.match(/^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/);
    if (type) {
      if (types.has(type[1]!)) throw new Error(`TYPE declared twice: ${type[1]}`);
      types.set(type[1]!, type[2]!);
      continue;
    }
    if (line.startsWith('# HELP ')) continue;
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`not a sample line: ${JSON.stringify(line)}`);
    const [, name, labelText = '', raw] = m;
    const family = types.has(name!) ? name! : name!.replace(/_(bucket|sum|count)$/, '');
    if (!types.has(family)) throw new Error(`sample without TYPE: ${name}`);
    const value = raw === '+Inf' ? Infinity : Number(raw);
    if (Number.isNaN(value)) throw new Error(`bad value in ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of labelText.matchAll(LABEL)) labels[k!] = v!;
    samples.set(key(name!, labels), value);
  }
  return { types, value: (name, labels = {}) => samples.get(key(name, labels)) };
}
