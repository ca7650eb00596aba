/**
 * The end-of-run secret scan (test/log-scan/global-setup.ts): every log line the suite wrote
 * is searched for the secrets the helpers registered and for anything that looks like a
 * credential by its format. A finding fails the run.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const LOG_FILE_SUFFIX = '.log.ndjson';
export const SECRETS_FILE_SUFFIX = '.secrets.ndjson';

/** Secrets recognisable by their format alone. */
export const SECRET_PATTERNS: ReadonlyArray<{ kind: string; pattern: RegExp }> = [
  { kind: 'API token', pattern: /lmt_[A-Za-z0-9_-]{43}/ },
  // Signed JWTs (id_tokens, client assertions): header and payload are base64url JSON objects.
  { kind: 'JWT', pattern: /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}/ },
  // A private JWK member, in plain or in escaped (nested) JSON.
  { kind: 'private JWK member', pattern: /\\*"(?:d|p|q|dp|dq|qi|k)\\*"\s*:\s*\\*"[A-Za-z0-9_-]{20,}/ },
  { kind: 'PEM private key', pattern: /-----BEGIN [A-Z ]*PRIVATE KEY-----/ },
];

export interface RegisteredSecret {
  kind: string;
  secret: string;
}

export interface Finding {
  file: string;
  line: number;
  kind: string;
  /** The secret's first characters only: the report must not leak it again. */
  preview: string;
}

const BASE64URL_RUN = /[A-Za-z0-9_-]+/g;
/** Registered secrets shorter than this are not scanned for (they would match by chance). */
const MIN_SECRET_LENGTH = 12;

/** Finds every secret in the given lines. Linear in the log size: base64url-style secrets are looked up by window. */
export function scanLines(file: string, lines: readonly string[], secrets: readonly RegisteredSecret[]): Finding[] {
  const byValue = new Map<string, string>();
  const others: RegisteredSecret[] = [];
  for (const s of secrets) {
    if (s.secret.length < MIN_SECRET_LENGTH) continue;
    if (/^[A-Za-z0-9_-]+$/.test(s.secret)) byValue.set(s.secret, s.kind);
    else others.push(s);
  }
  const lengths = [...new Set([...byValue.keys()].map((s) => s.length))];
  const findings: Finding[] = [];
  lines.forEach((text, index) => {
    const add = (kind: string, secret: string) =>
      findings.push({ file, line: index + 1, kind, preview: `${secret.slice(0, 6)}…` });
    for (const { kind, pattern } of SECRET_PATTERNS) {
      const match = pattern.exec(text);
      if (match) add(kind, match[0]);
    }
    for (const s of others) if (text.includes(s.secret)) add(s.kind, s.secret);
    if (byValue.size === 0) return;
    for (const [run] of text.matchAll(BASE64URL_RUN)) {
      for (const length of lengths) {
        for (let i = 0; i + length <= run.length; i++) {
          const kind = byValue.get(run.slice(i, i + length));
          if (kind) add(kind, run.slice(i, i + length));
        }
      }
    }
  });
  return findings;
}

export function readRegisteredSecrets(dir: string): RegisteredSecret[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith(SECRETS_FILE_SUFFIX))
    .flatMap((name) => readLines(join(dir, name)).map((line) => JSON.parse(line) as RegisteredSecret));
}

/** Scans every log file of a run's log directory. */
export function scanLogDirectory(dir: string): { files: number; lines: number; secrets: number; findings: Finding[] } {
  const secrets = readRegisteredSecrets(dir);
  const findings: Finding[] = [];
  let files = 0;
  let lines = 0;
  for (const name of readdirSync(dir).filter((n) => n.endsWith(LOG_FILE_SUFFIX)).sort()) {
    const fileLines = readLines(join(dir, name));
    files++;
    lines += fileLines.length;
    findings.push(...scanLines(name, fileLines, secrets));
  }
  return { files, lines, secrets: secrets.length, findings };
}

export function formatFindings(findings: readonly Finding[], dir: string): string {
  const shown = findings.slice(0, 50).map((f) => `  ${f.file}:${f.line}  ${f.kind} (${f.preview})`);
  const more = findings.length > shown.length ? [`  … and ${findings.length - shown.length} more`] : [];
  return [`Secret scan: ${findings.length} secret(s) found in the test logs (kept in ${dir}):`, ...shown, ...more].join('\n');
}

function readLines(path: string): string[] {
  return readFileSync(path, 'utf8').split('\n').filter((line) => line !== '');
}
