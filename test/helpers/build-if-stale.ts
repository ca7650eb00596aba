/**
 * Builds a front-end bundle for the browser tests when its output is missing or older than
 * its sources. In a child process with NODE_ENV=production: Vite's build() inside Vitest
 * would bundle Lit's development build and could race test files over the output folder.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

export function buildIfStale(npmScript: string, output: string, sources: string[]): void {
  const built = mtime(join(root, output));
  const newest = Math.max(...[...sources, 'package-lock.json'].map((p) => newestMtime(join(root, p))));
  if (built !== undefined && built >= newest) return;
  const result = spawnSync('npm', ['run', '--silent', npmScript], {
    cwd: root,
    env: { ...process.env, NODE_ENV: 'production' },
    stdio: ['ignore', 'inherit', 'inherit'],
    timeout: 120_000,
  });
  if (result.status !== 0) {
    throw new Error(`npm run ${npmScript} failed (${result.error?.message ?? `exit ${result.status}`})`);
  }
}

function mtime(path: string): number | undefined {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

function newestMtime(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...readdirSync(path).map((name) => newestMtime(join(path, name))));
}
