/**
 * One process per PGlite data directory: a CLI run beside the server used to report success
 * and lose its writes (PGlite takes no lock of its own).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { openDatabase } from '../../server/db/client.ts';
import {
  HEARTBEAT_MS,
  lockPgliteDir,
  PGLITE_LOCK_FILE,
  PgliteDirInUseError,
  processIsRunning,
  STALE_AFTER_MS,
} from '../../server/db/pglite-lock.ts';

const root = new URL('../..', import.meta.url).pathname;
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lti-lock-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const lockFile = () => join(dir, PGLITE_LOCK_FILE);

describe('lockPgliteDir', () => {
  it('writes our pid and host, and the release removes the file', () => {
    const release = lockPgliteDir(dir, { pid: 4242, host: 'box-a' });
    expect(readFileSync(lockFile(), 'utf8')).toBe('4242\nbox-a\n');
    release();
    expect(existsSync(lockFile())).toBe(false);
  });

  it('refuses a directory whose lock holds a running process, naming it', () => {
    writeFileSync(lockFile(), '31337\n');
    const attempt = () => lockPgliteDir(dir, { pid: 4242, isRunning: (pid) => pid === 31337 });
    expect(attempt).toThrow(PgliteDirInUseError);
    expect(attempt).toThrow(/in use by process 31337 .*Stop it first/);
    // Nothing taken: the other process's file is as it was.
    expect(readFileSync(lockFile(), 'utf8')).toBe('31337\n');
  });

  it('takes over a lock whose process is gone (kill -9, a crash)', () => {
    writeFileSync(lockFile(), '31337\n');
    const release = lockPgliteDir(dir, { pid: 4242, host: 'box-a', isRunning: () => false });
    expect(readFileSync(lockFile(), 'utf8')).toBe('4242\nbox-a\n');
    release();
  });

  it('on the same host, judges the holder by its pid, whatever the age of the file', () => {
    writeFileSync(lockFile(), '31337\nbox-a\n');
    const old = new Date(Date.now() - 3_600_000);
    utimesSync(lockFile(), old, old);
    expect(() => lockPgliteDir(dir, { pid: 4242, host: 'box-a', isRunning: (pid) => pid === 31337 })).toThrow(/in use by process 31337 /);
    lockPgliteDir(dir, { pid: 4242, host: 'box-a', isRunning: () => false })();
  });

  it('refuses a lock another host (container) renewed recently, whatever pids run here', () => {
    writeFileSync(lockFile(), '7\nbox-b\n');
    const attempt = () => lockPgliteDir(dir, { pid: 4242, host: 'box-a', isRunning: () => false, now: () => statSync(lockFile()).mtimeMs + 12_000 });
    expect(attempt).toThrow(PgliteDirInUseError);
    expect(attempt).toThrow(/in use by process 7 on host box-b \(another container\?\), seen 12 s ago/);
    expect(readFileSync(lockFile(), 'utf8')).toBe('7\nbox-b\n');
  });

  it('takes over a lock another host stopped renewing STALE_AFTER_MS ago', () => {
    writeFileSync(lockFile(), '7\nbox-b\n');
    const release = lockPgliteDir(dir, { pid: 4242, host: 'box-a', isRunning: () => true, now: () => statSync(lockFile()).mtimeMs + STALE_AFTER_MS });
    expect(readFileSync(lockFile(), 'utf8')).toBe('4242\nbox-a\n');
    release();
  });

  describe('renewal', () => {
    beforeEach(() => vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] }));
    afterEach(() => vi.useRealTimers());
    const age = () => Date.now() - statSync(lockFile()).mtimeMs;
    const backdate = () => {
      const old = new Date(Date.now() - 60_000);
      utimesSync(lockFile(), old, old);
    };

    it('the holder touches its lock every HEARTBEAT_MS, and stops when released', () => {
      const release = lockPgliteDir(dir, { pid: 4242, host: 'box-a' });
      backdate();
      vi.advanceTimersByTime(HEARTBEAT_MS);
      expect(age()).toBeLessThan(5_000);
      release();
      writeFileSync(lockFile(), '7\nbox-b\n');
      backdate();
      vi.advanceTimersByTime(HEARTBEAT_MS * 2);
      expect(age()).toBeGreaterThan(50_000);
    });

    it('never renews a lock another process has taken over', () => {
      const release = lockPgliteDir(dir, { pid: 4242, host: 'box-a' });
      writeFileSync(lockFile(), '7\nbox-b\n');
      backdate();
      vi.advanceTimersByTime(HEARTBEAT_MS * 2);
      expect(age()).toBeGreaterThan(50_000);
      release();
      expect(readFileSync(lockFile(), 'utf8')).toBe('7\nbox-b\n');
    });
  });

  it('takes over a lock holding our own pid that this process did not take (a container restarted with the same pid)', () => {
    writeFileSync(lockFile(), '4242\nbox-a\n');
    const release = lockPgliteDir(dir, { pid: 4242, host: 'box-a', isRunning: () => true });
    expect(readFileSync(lockFile(), 'utf8')).toBe('4242\nbox-a\n');
    release();
    expect(existsSync(lockFile())).toBe(false);
  });

  it('refuses a second open of the same directory in this process, until the first is released', () => {
    const release = lockPgliteDir(dir, { pid: 4242, isRunning: () => true });
    expect(() => lockPgliteDir(dir, { pid: 4242, isRunning: () => true })).toThrow(PgliteDirInUseError);
    release();
    lockPgliteDir(dir, { pid: 4242 })();
  });

  it('a release does not remove a lock another process has taken since', () => {
    const release = lockPgliteDir(dir, { pid: 4242 });
    writeFileSync(lockFile(), '31337\n');
    release();
    expect(readFileSync(lockFile(), 'utf8')).toBe('31337\n');
  });

  it('processIsRunning: this process is, a pid beyond the kernel limit is not', () => {
    expect(processIsRunning(process.pid)).toBe(true);
    expect(processIsRunning(2 ** 22 + 1)).toBe(false);
  });
});

describe('openDatabase on PGlite', () => {
  it('holds the lock while open and releases it on close', async () => {
    const db = await openDatabase({ pgliteDir: dir });
    try {
      expect(readFileSync(lockFile(), 'utf8')).toBe(`${process.pid}\n${hostname()}\n`);
      await expect(openDatabase({ pgliteDir: dir })).rejects.toThrow(PgliteDirInUseError);
    } finally {
      await db.close();
    }
    expect(existsSync(lockFile())).toBe(false);
    await (await openDatabase({ pgliteDir: dir })).close();
  });

  it('a CLI run beside an open database refuses, with the reason, and writes nothing', async () => {
    const db = await openDatabase({ pgliteDir: dir });
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', 'server/cli/token.ts', 'create', '--name', 'beside'], {
        cwd: root,
        env: { ...process.env, LOG_LEVEL: 'silent', PGLITE_DIR: dir, DATABASE_URL: '' },
      });
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk));
      child.stderr.on('data', (chunk: Buffer) => (out += chunk));
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      expect(out).toContain(`in use by process ${process.pid}`);
      expect(out).not.toContain('lmt_');
      expect(code).toBe(1);
    } finally {
      await db.close();
    }
  });
});
