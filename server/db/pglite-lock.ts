import { closeSync, openSync, readFileSync, statSync, unlinkSync, utimesSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * PGlite is PostgreSQL inside this process, and it takes no lock on its data directory: a CLI
 * (`npm run token`, `keys`, `db:migrate:*`) opened beside a running server would report success
 * and lose its writes, and can leave the directory unreadable. So whoever opens a directory
 * holds this file in it, as PostgreSQL holds `postmaster.pid`: created exclusively, holding
 * the owner's pid and host name.
 *
 * A pid means something only on its own host (its own pid namespace): a container that shares
 * the directory through a volume cannot ask whether another container's process runs. So the
 * holder also touches the file every few seconds, and a lock taken on another host counts as
 * held while it was touched within the last STALE_AFTER_MS.
 */
export const PGLITE_LOCK_FILE = 'lti-microapps.pid';
export const HEARTBEAT_MS = 5_000;
export const STALE_AFTER_MS = 30_000;

export class PgliteDirInUseError extends Error {
  constructor(
    readonly dir: string,
    readonly pid: number,
    /** Set when the holder is on another host (container): where, and how long ago it was seen. */
    readonly elsewhere?: { host: string; seenMsAgo: number },
  ) {
    super(
      elsewhere
        ? `The embedded database in ${dir} is in use by process ${pid} on host ${elsewhere.host} (another container?), ` +
            `seen ${Math.round(elsewhere.seenMsAgo / 1000)} s ago. Stop it first; a lock its holder stops renewing is taken over ` +
            `${STALE_AFTER_MS / 1000} s after it was last seen.`
        : `The embedded database in ${dir} is in use by process ${pid} (a running server?). ` +
            `Stop it first, or use the GraphQL API. If no such process is running, delete ${join(dir, PGLITE_LOCK_FILE)}.`,
    );
    this.name = 'PgliteDirInUseError';
  }
}

/** The lock files this process holds (opening one directory twice in a process is refused too). */
const held = new Set<string>();

export interface LockOptions {
  pid?: number;
  /** This host's name (a container's own, by default its id). */
  host?: string;
  /** Whether a process with this pid is running on this host (injected for tests). */
  isRunning?: (pid: number) => boolean;
  /** Wall-clock ms, compared with the lock file's modification time (injected for tests). */
  now?: () => number;
}

/**
 * Takes the directory's lock or throws PgliteDirInUseError. A lock left by a process that is
 * gone (kill -9, a crash) is taken over: on this host when its pid runs no more, from another
 * host once it has not been renewed for STALE_AFTER_MS. Two processes taking over the same
 * stale lock at the same instant could both succeed: the window is the few microseconds
 * between reading the old holder and creating the new file, at a start after a crash.
 * Returns the release function, which stops the renewal and removes the file only while it
 * still names us.
 */
export function lockPgliteDir(
  dir: string,
  { pid = process.pid, host: givenHost = hostname(), isRunning = processIsRunning, now = Date.now }: LockOptions = {},
): () => void {
  const path = join(dir, PGLITE_LOCK_FILE);
  // An empty line would read back as "no host" (a file from before host names were written).
  const host = givenHost.replace(/\s/g, '') || 'unnamed-host';
  const ours = (): boolean => {
    const current = holder(path);
    return current?.pid === pid && current.host === host;
  };
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      try {
        writeSync(fd, `${pid}\n${host}\n`);
      } finally {
        closeSync(fd);
      }
      held.add(resolve(path));
      const renewal = setInterval(() => {
        // Renew only our own lock: one taken over (we were stalled for half a minute) is not ours.
        if (ours()) touchQuietly(path);
      }, HEARTBEAT_MS);
      renewal.unref();
      return () => {
        clearInterval(renewal);
        if (!held.delete(resolve(path))) return;
        if (ours()) unlinkQuietly(path);
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = holder(path);
    if (held.has(resolve(path))) throw new PgliteDirInUseError(dir, pid);
    if (owner && owner.host !== undefined && owner.host !== host) {
      const seenMsAgo = now() - modifiedAt(path);
      if (seenMsAgo < STALE_AFTER_MS) throw new PgliteDirInUseError(dir, owner.pid, { host: owner.host, seenMsAgo: Math.max(0, seenMsAgo) });
    } else if (owner && owner.pid !== pid && isRunning(owner.pid)) {
      // Same host (or a file from before host names were written). Our own pid in a file we
      // did not write is stale: a container restarts with the same pid.
      throw new PgliteDirInUseError(dir, owner.pid);
    }
    // Stale (its process is gone, or not renewed) or unreadable: take it over, once.
    if (attempt > 0) throw new PgliteDirInUseError(dir, owner?.pid ?? Number.NaN);
    unlinkQuietly(path);
  }
}

function holder(path: string): { pid: number; host: string | undefined } | undefined {
  try {
    const [pidLine, hostLine] = readFileSync(path, 'utf8').split('\n');
    const pid = Number.parseInt(pidLine ?? '', 10);
    return Number.isSafeInteger(pid) && pid > 0 ? { pid, host: hostLine || undefined } : undefined;
  } catch {
    return undefined;
  }
}

function modifiedAt(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0; // gone meanwhile: as stale as can be
  }
}

function touchQuietly(path: string): void {
  try {
    const at = new Date();
    utimesSync(path, at, at);
  } catch {
    // Removed under us: the next check of `ours()` says so.
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
