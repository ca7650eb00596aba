/**
 * Where the suite's logs go: debug-level JSON lines in the run's log directory (made by
 * test/log-scan/global-setup.ts), which the run scans for secrets when it ends. The secrets
 * the helpers hand out are registered here too, so the scan knows what to look for beyond
 * the token formats it recognises by itself (API tokens, JWTs, private JWK members).
 *
 * Writes are synchronous appends: a worker that exits right after a test loses no line.
 */
import { appendFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { destination as pinoDestination } from 'pino';
import { inject } from 'vitest';
import type { LogLevel } from '../../server/config.ts';
import { createLogger, createSilentLogger, type Logger } from '../../server/logger.ts';
import { LOG_FILE_SUFFIX, SECRETS_FILE_SUFFIX } from './log-scan.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The run's log directory (made by test/log-scan/global-setup.ts). */
    testLogDir: string;
  }
}

/** One name per test file's module graph: a file's lines stay together. */
const fileStem = `${process.pid}-${randomBytes(4).toString('hex')}`;
let destination: ReturnType<typeof pinoDestination> | undefined;

function logDir(): string {
  // Outside a Vitest worker (a bench or a script importing the helpers) there is no run to log into.
  if (!process.env.VITEST_WORKER_ID) return '';
  // Inside one, the global setup always provides the directory: without it every test logger
  // would be silent and the end-of-run secret scan would pass on nothing, so that is an error.
  const dir = inject('testLogDir');
  if (!dir) throw new Error('testLogDir was not provided: is test/log-scan/global-setup.ts in the Vitest config?');
  return dir;
}

/** A logger writing into the run's log directory (silent when there is none). */
export function createTestLogger(level: LogLevel = 'debug'): Logger {
  const dir = logDir();
  if (!dir) return createSilentLogger();
  destination ??= pinoDestination({ dest: join(dir, `${fileStem}${LOG_FILE_SUFFIX}`), sync: true });
  return createLogger(level, destination as unknown as NodeJS.WritableStream);
}

/** Appends the JSON log lines of a spawned server (its stdout) to the run's log directory. */
export function recordChildLogs(name: string, output: string): void {
  const dir = logDir();
  if (!dir) return;
  // Only the JSON lines: banners on stdout (e.g. the first owner's token, shown once on purpose) are not logs.
  const lines = output.split('\n').filter((line) => line.startsWith('{'));
  if (lines.length) appendFileSync(join(dir, `${fileStem}-${name}${LOG_FILE_SUFFIX}`), `${lines.join('\n')}\n`);
}

/** Declares a secret the suite handed out: the end-of-run scan fails if any log line contains it. Returns it. */
export function registerTestSecret<T extends string | undefined>(secret: T, kind: string): T {
  const dir = logDir();
  if (dir && secret) appendFileSync(join(dir, `${fileStem}${SECRETS_FILE_SUFFIX}`), `${JSON.stringify({ kind, secret })}\n`);
  return secret;
}
