/**
 * The two-command promise: `npm start` on an empty data directory migrates, creates the
 * first owner, prints its token once and serves GraphQL over real HTTP.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { databaseUrlWithName, recreateDatabase } from '../helpers/postgres-admin.ts';
import { recordChildLogs, registerTestSecret } from '../helpers/test-logger.ts';

const root = new URL('../..', import.meta.url).pathname;
const children: ChildProcess[] = [];
const dirs: string[] = [];
/** Each server's output, for the end-of-run secret scan of its log lines. */
const outputs: Array<() => string> = [];

afterAll(() => {
  for (const child of children) child.kill('SIGTERM');
  recordChildLogs('npm-start', outputs.map((out) => out()).join('\n'));
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function start(env: Record<string, string>): Promise<{ child: ChildProcess; stdout: () => string; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: 'debug', DATABASE_URL: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  outputs.push(() => out);
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start within 60 s:\n${out}`)), 60_000);
    const check = () => {
      if (/GraphQL API:/.test(out) && (/Make more with/.test(out) || /Database:/.test(out))) {
        clearTimeout(timer);
        // Let the rest of the banner arrive.
        setTimeout(() => resolve({ child, stdout: () => out, exited }), 200);
      }
    };
    child.stdout!.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      resolve({ child, stdout: () => out, exited: Promise.resolve(code) });
    });
  });
}

/** Where the server under test keeps its data: a fresh PGlite directory, or a fresh PostgreSQL database. */
async function freshStorage(): Promise<Record<string, string>> {
  const pgUrl = process.env.TEST_DATABASE_URL;
  if (pgUrl) {
    const name = `lti_start_${process.pid}_${Date.now()}`;
    await recreateDatabase(pgUrl, name);
    return { DATABASE_URL: databaseUrlWithName(pgUrl, name) };
  }
  const dir = mkdtempSync(join(tmpdir(), 'lti-start-'));
  dirs.push(dir);
  return { PGLITE_DIR: dir };
}

describe('npm start', () => {
  it('prints a working token once, then not again on the next start', async () => {
    const storage = await freshStorage();
    const first = await start({ PORT: '0', ...storage });
    const banner = first.stdout();
    const token = registerTestSecret(banner.match(/lmt_[A-Za-z0-9_-]{43}/)?.[0], 'first owner API token');
    const graphqlUrl = banner.match(/GraphQL API:\s+(\S+)/)?.[1];
    expect(token).toBeDefined();
    expect(graphqlUrl).toMatch(/^http:\/\/localhost:\d+\/graphql$/);

    const ask = (authorization?: string) =>
      fetch(graphqlUrl!, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
        body: JSON.stringify({ query: '{ viewer { name } }' }),
      });
    const ok = await ask(`Bearer ${token}`);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ data: { viewer: { name: 'Owner' } } });
    expect((await ask()).status).toBe(401);

    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);

    const second = await start({ PORT: '0', ...storage });
    expect(second.stdout()).not.toMatch(/lmt_/);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  }, 120_000);

  it('encrypts the tool key with TOOL_KEY_ENCRYPTION_SECRET, then refuses to start without it or with another one', async () => {
    const storage = await freshStorage();
    const secret = registerTestSecret('start-test-key-encryption-secret-0123456789', 'key encryption secret');
    const first = await start({ PORT: '0', TOOL_KEY_ENCRYPTION_SECRET: secret, ...storage });
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);

    const without = await start({ PORT: '0', ...storage });
    expect(await without.exited).toBe(1);
    expect(without.stdout()).toMatch(/stored encrypted but TOOL_KEY_ENCRYPTION_SECRET is not set/);
    const other = await start({ PORT: '0', TOOL_KEY_ENCRYPTION_SECRET: 'another-secret-of-at-least-32-characters', ...storage });
    expect(await other.exited).toBe(1);
    expect(other.stdout()).toMatch(/was encrypted with another secret/);
    expect(other.stdout()).not.toContain(secret);
  }, 180_000);

  it('refuses to start with invalid configuration, listing every problem', async () => {
    const run = await start({ PORT: 'abc', PUBLIC_URL: 'http://example.org', LOG_LEVEL: 'loud' });
    expect(await run.exited).toBe(2);
    const out = run.stdout();
    expect(out).toMatch(/PORT must be an integer/);
    expect(out).toMatch(/PUBLIC_URL must use https/);
    expect(out).toMatch(/LOG_LEVEL must be one of/);
  }, 60_000);
});
