/**
 * Builds the owner dashboard for the browser tests when dashboard/dist is missing or older than
 * its sources. In a child process with NODE_ENV=production, as for the widget
 * (test/widget/global-setup.ts): Vite's build() inside Vitest would bundle Lit's development build.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const PAGE = join(root, 'dashboard/dist/index.html');
const SOURCES = ['dashboard/src', 'dashboard/index.html', 'dashboard/vite.config.ts', 'package-lock.json'].map((p) => join(root, p));

export default function setup(): void {
  const built = mtime(PAGE);
  if (built !== undefined && built >= Math.max(...SOURCES.map(newestMtime))) return;
  const result = spawnSync('npm', ['run', '--silent', 'build:dashboard'], {
    cwd: root,
    env: { ...process.env, NODE_ENV: 'production' },
    stdio: ['ignore', 'inherit', 'inherit'],
    timeout: 120_000,
  });
  if (result.status !== 0) {
    throw new Error(`npm run build:dashboard failed (${result.error?.message ?? `exit ${result.status}`})`);
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
