import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * PGlite is PostgreSQL inside this process, and it takes no lock on its data directory: a CLI
 * (`npm run token`, `keys`, `db:migrate:*`) opened beside a running server would report success
 * and lose its writes, and can leave the directory unreadable. So whoever opens a directory
 * holds this file in it, as PostgreSQL holds `postmaster.pid`: created exclusively, holding
 * the owner's pid.
 */
export const PGLITE_LOCK_FILE = 'lti-microapps.pid';

export class PgliteDirInUseError extends Error {
  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(
      `The embedded database in ${dir} is in use by process ${pid} (a running server?). ` +
        `Stop it first, or use the GraphQL API. If no such process is running, delete ${join(dir, PGLITE_LOCK_FILE)}.`,
    );
    this.name = 'PgliteDirInUseError';
  }
}

/** The lock files this process holds (opening one directory twice in a process is refused too). */
const held = new Set<string>();

export interface LockOptions {
  pid?: number;
  /** Whether a process with this pid is running (injected for tests). */
  isRunning?: (pid: number) => boolean;
}

/**
 * Takes the directory's lock or throws PgliteDirInUseError. A lock left by a process that is
 * gone (kill -9, a crash) is taken over. Two processes taking over the same stale lock at the
 * same instant could both succeed: the window is the few microseconds between reading the old
 * pid and creating the new file, at a start after a crash. Returns the release function, which
 * removes the file only while it still holds our pid.
 */
export function lockPgliteDir(dir: string, { pid = process.pid, isRunning = processIsRunning }: LockOptions = {}): () => void {
  const path = join(dir, PGLITE_LOCK_FILE);
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      try {
        writeSync(fd, `${pid}\n`);
      } finally {
        closeSync(fd);
      }
      held.add(resolve(path));
      return () => {
        if (!held.delete(resolve(path))) return;
        if (holder(path) === pid) unlinkQuietly(path);
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = holder(path);
    if (held.has(resolve(path))) throw new PgliteDirInUseError(dir, pid);
    // Our own pid in a file we did not write is stale: a container restarts with the same pid.
    if (owner !== undefined && owner !== pid && isRunning(owner)) throw new PgliteDirInUseError(dir, owner);
    // Stale (its process is gone) or unreadable: take it over, once.
    if (attempt > 0) throw new PgliteDirInUseError(dir, owner ?? Number.NaN);
    unlinkQuietly(path);
  }
}

function holder(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8'), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone.
  }
}

/** Signal 0 checks that the process exists; EPERM means it does, under another user. */
export function processIsRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
