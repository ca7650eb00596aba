/**
 * The operator commands refuse what they do not understand with their usage line and exit
 * code 2, before opening any database: a mistyped option must not run the command anyway.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const root = new URL('../..', import.meta.url).pathname;
let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function cli(script: 'token' | 'keys' | 'migrate', ...args: string[]) {
  return cliWith({}, script, ...args);
}

function cliWith(env: Record<string, string>, script: 'token' | 'keys' | 'migrate', ...args: string[]) {
  dir = mkdtempSync(join(tmpdir(), 'lti-cli-usage-'));
  const pgliteDir = join(dir, 'pglite');
  const result = spawnSync(process.execPath, ['--import', 'tsx', `server/cli/${script}.ts`, ...args], {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: 'silent', DATABASE_URL: '', PGLITE_DIR: pgliteDir, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  const touched = existsSync(pgliteDir) && readdirSync(pgliteDir).length > 0;
  return { code: result.status, out: result.stdout, err: result.stderr, touched };
}

describe('unknown options are usage errors (exit 2), and nothing runs', () => {
  it('keys rotate --dry-run does not rotate', () => {
    const r = cli('keys', 'rotate', '--dry-run');
    expect(r.code).toBe(2);
    expect(r.err).toContain('usage: npm run keys -- list | rotate');
    expect(r.out).not.toContain('Published new key');
    expect(r.touched).toBe(false);
  }, 60_000);

  it('keys with two commands', () => {
    const r = cli('keys', 'list', 'rotate');
    expect(r.code).toBe(2);
    expect(r.touched).toBe(false);
  }, 60_000);

  it('token create --nmae x', () => {
    const r = cli('token', 'create', '--nmae', 'x');
    expect(r.code).toBe(2);
    expect(r.err).toContain("Unknown option '--nmae'");
    expect(r.err).toContain('usage: npm run token -- create');
    expect(r.out).not.toMatch(/lmt_/);
    expect(r.touched).toBe(false);
  }, 60_000);

  it('migrate status --bogus', () => {
    const r = cli('migrate', 'status', '--bogus');
    expect(r.code).toBe(2);
    expect(r.err).toContain("Unknown option '--bogus'");
    expect(r.err).toContain('usage: tsx server/cli/migrate.ts');
    expect(r.touched).toBe(false);
  }, 60_000);
});

describe('a configuration to fix is exit code 2, as for `npm start`, and nothing runs', () => {
  it.each(['token', 'keys', 'migrate'] as const)('%s with a DATABASE_URL pg cannot parse, never quoting its password', (script) => {
    const r = cliWith({ DATABASE_URL: 'postgres://lti:s3cret-pw@[::1/lti' }, script, script === 'migrate' ? 'status' : 'list');
    expect(r.code).toBe(2);
    expect(r.err).toContain('DATABASE_URL must be a connection URL the PostgreSQL client can read: Invalid URL');
    expect(r.err + r.out).not.toContain('s3cret-pw');
  }, 60_000);

  it.each(['token', 'keys'] as const)('%s with an invalid LOG_LEVEL', (script) => {
    const r = cliWith({ LOG_LEVEL: 'loud' }, script, 'list');
    expect(r.code).toBe(2);
    expect(r.err).toContain('LOG_LEVEL must be one of');
    expect(r.touched).toBe(false);
  }, 60_000);
});
