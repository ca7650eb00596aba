#!/usr/bin/env node
// Run a command against a throwaway PostgreSQL cluster.
//
//   node scripts/with-postgres.mjs <command...>
//
// If TEST_DATABASE_URL is already set, the command just runs with it.
// Otherwise this starts a private cluster from the Debian PostgreSQL server
// binaries (/usr/lib/postgresql/<highest>/bin) in a temp directory, listening
// only on 127.0.0.1 on a free port (unix sockets in the temp directory, fsync
// off, trust auth), creates the database `lti_test`, runs the command with
//   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:<port>/lti_test
// and always stops the cluster and removes the temp directory afterwards
// (also on SIGINT/SIGTERM/SIGHUP). The command's exit code is passed through.
//
// No dependencies beyond Node built-ins.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const TAG = '[with-postgres]';
const DB_NAME = 'lti_test';
const PG_ROOT = '/usr/lib/postgresql';
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function log(msg) {
  process.stderr.write(`${TAG} ${msg}\n`);
}

function fail(msg, code = 1) {
  log(`error: ${msg}`);
  process.exit(code);
}

const argv = process.argv.slice(2);
if (argv.length === 0 || argv[0] === '-h' || argv[0] === '--help') {
  process.stderr.write(
    'usage: node scripts/with-postgres.mjs <command> [args...]\n' +
      '  Runs <command> with TEST_DATABASE_URL pointing at a temporary PostgreSQL\n' +
      '  cluster (or at the existing TEST_DATABASE_URL if one is set).\n',
  );
  process.exit(argv.length === 0 ? 2 : 0);
}

// ---------------------------------------------------------------------------
// Running the user's command

let child = null; // the user's command, once started
let stopping = false; // a signal arrived
let exiting = false;

function exitCodeOf(code, signal) {
  if (signal) return 128 + (os.constants.signals[signal] ?? 1);
  return code ?? 1;
}

function runCommand(env, onDone) {
  const [cmd, ...args] = argv;
  child = spawn(cmd, args, { stdio: 'inherit', env });
  child.on('error', (err) => {
    log(
      err.code === 'ENOENT'
        ? `error: command not found: ${cmd}`
        : `error: could not start ${cmd}: ${err.message}`,
    );
    child = null;
    onDone(127);
  });
  child.on('exit', (code, signal) => {
    child = null;
    onDone(exitCodeOf(code, signal));
  });
}

// ---------------------------------------------------------------------------
// The private cluster

let tmpDir = null; // created by us, removed by cleanup()
let dataDir = null;
let logFile = null;
let binDir = null;
let asPostgres = false; // run server tools via `runuser -u postgres --`
let clusterMayBeRunning = false;
let postmasterPid = null; // pid of the postmaster we started

function findBinDir() {
  let versions = [];
  try {
    versions = fs
      .readdirSync(PG_ROOT)
      .filter((v) => /^\d+(\.\d+)?$/.test(v))
      .filter((v) => fs.existsSync(path.join(PG_ROOT, v, 'bin', 'initdb')))
      .sort((a, b) => parseFloat(b) - parseFloat(a));
  } catch {
    // no /usr/lib/postgresql at all
  }
  if (versions.length === 0) {
    fail(
      `no PostgreSQL server binaries found in ${PG_ROOT}/*/bin.\n` +
        `${TAG} Install them with:  apt-get install -y postgresql\n` +
        `${TAG} (or set TEST_DATABASE_URL to an existing database to skip starting one)`,
    );
  }
  return path.join(PG_ROOT, versions[0], 'bin');
}

function pgCommand(tool, args) {
  const exe = path.join(binDir, tool);
  return asPostgres
    ? { cmd: 'runuser', args: ['-u', 'postgres', '--', exe, ...args] }
    : { cmd: exe, args };
}

// Runs a server tool, capturing output; resolves with { code, out }.
function runTool(tool, args, { user = true } = {}) {
  const { cmd, args: fullArgs } = user
    ? pgCommand(tool, args)
    : { cmd: path.join(binDir, tool), args };
  return new Promise((resolve) => {
    const p = spawn(cmd, fullArgs, {
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: tmpDir ?? undefined,
      env: { ...process.env, LC_ALL: 'C', LANG: 'C' },
    });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('error', (err) => resolve({ code: 127, out: `${out}${err.message}\n` }));
    p.on('close', (code, signal) => resolve({ code: exitCodeOf(code, signal), out }));
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen({ port: 0, host: '127.0.0.1', exclusive: true }, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function logTail() {
  try {
    const text = fs.readFileSync(logFile, 'utf8').trimEnd().split('\n');
    return text.slice(-20).join('\n');
  } catch {
    return '(no server log)';
  }
}

function readPostmasterPid() {
  try {
    const pid = parseInt(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8'), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

function sleepSync(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function throwIfStopping() {
  if (stopping) throw new Error('interrupted');
}

async function main() {
  binDir = findBinDir();
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (isRoot) {
    // initdb and postgres refuse to run as root.
    const id = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    if (id.status !== 0) {
      fail(
        'running as root but there is no "postgres" OS user to run the server as ' +
          '(it comes with: apt-get install -y postgresql)',
      );
    }
    asPostgres = true;
  }

  for (const sig of SIGNALS) process.on(sig, () => onSignal(sig));

  // Unix socket paths are limited to ~107 bytes, and the postgres user must be
  // able to reach the directory: fall back to /tmp when TMPDIR doesn't fit.
  let base = os.tmpdir();
  if (base.length > 60) base = '/tmp';
  tmpDir = fs.mkdtempSync(path.join(base, 'with-postgres-'));
  if (asPostgres) {
    const uid = parseInt(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout, 10);
    const gid = parseInt(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout, 10);
    fs.chownSync(tmpDir, uid, gid);
    const reach = spawnSync('runuser', ['-u', 'postgres', '--', 'test', '-w', tmpDir]);
    if (reach.status !== 0 && base !== '/tmp') {
      fs.rmSync(tmpDir, { recursive: true, force: true });
      tmpDir = fs.mkdtempSync(path.join('/tmp', 'with-postgres-'));
      fs.chownSync(tmpDir, uid, gid);
    }
  }
  dataDir = path.join(tmpDir, 'data');
  logFile = path.join(tmpDir, 'postgres.log');

  const init = await runTool('initdb', [
    '-D', dataDir,
    '-U', 'postgres',
    '--auth=trust',
    '--encoding=UTF8',
    '--no-locale',
    '--no-sync',
  ]);
  if (init.code !== 0) throw new Error(`initdb failed (exit ${init.code}):\n${init.out}`);
  throwIfStopping();

  // Our settings go last in postgresql.conf, so they win. Trust auth only for
  // local sockets and loopback (initdb --auth=trust writes exactly those lines).
  const baseConf = fs.readFileSync(path.join(dataDir, 'postgresql.conf'), 'utf8');
  const hba = [
    'local all all trust',
    'host  all all 127.0.0.1/32 trust',
    'local replication all trust',
    'host  replication all 127.0.0.1/32 trust',
    '',
  ].join('\n');
  fs.writeFileSync(path.join(dataDir, 'pg_hba.conf'), hba);

  let port = null;
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    const conf = [
      '',
      '# --- with-postgres.mjs ---',
      "listen_addresses = '127.0.0.1'",
      `port = ${port}`,
      `unix_socket_directories = '${tmpDir}'`,
      'fsync = off',
      'synchronous_commit = off',
      'full_page_writes = off',
      'max_connections = 200',
      "timezone = 'UTC'",
      '',
    ].join('\n');
    fs.writeFileSync(path.join(dataDir, 'postgresql.conf'), baseConf + conf);

    clusterMayBeRunning = true;
    const start = await runTool('pg_ctl', ['start', '-w', '-t', '60', '-D', dataDir, '-l', logFile]);
    postmasterPid = readPostmasterPid();
    if (start.code === 0) break;
    const tail = logTail();
    stopCluster();
    if (attempt < 3 && /could not (bind|create listen socket)|already in use/i.test(tail)) {
      log(`port ${port} was taken, trying another`);
      continue;
    }
    throw new Error(`pg_ctl start failed (exit ${start.code}):\n${start.out}\n--- server log ---\n${tail}`);
  }
  throwIfStopping();

  // pg_ctl -w already waited for startup; make sure TCP connections work too.
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ready = await runTool('pg_isready', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-q'], { user: false });
    if (ready.code === 0) break;
    if (Date.now() > deadline) throw new Error(`server did not accept connections on 127.0.0.1:${port}\n${logTail()}`);
    await new Promise((r) => setTimeout(r, 200));
    throwIfStopping();
  }

  const created = await runTool('createdb', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', DB_NAME], { user: false });
  if (created.code !== 0) throw new Error(`createdb ${DB_NAME} failed (exit ${created.code}):\n${created.out}`);
  throwIfStopping();

  const url = `postgres://postgres@127.0.0.1:${port}/${DB_NAME}`;
  const pgv = spawnSync(path.join(binDir, 'postgres'), ['--version'], { encoding: 'utf8' });
  const version = (pgv.stdout || '').replace(/^postgres \(PostgreSQL\)\s*/, '').trim() || path.basename(path.dirname(binDir));
  log(`PostgreSQL ${version} on 127.0.0.1:${port} (pid ${postmasterPid ?? '?'}, data ${dataDir}); TEST_DATABASE_URL=${url}`);

  runCommand({ ...process.env, TEST_DATABASE_URL: url }, (code) => finish(code));
}

function onSignal(sig) {
  if (exiting) return;
  if (child && !stopping) {
    // Let the command shut down first; we clean up when it exits.
    stopping = true;
    child.kill(sig);
    return;
  }
  stopping = true;
  if (!child) {
    // Still setting up (or a second signal): clean up now.
    finish(exitCodeOf(null, sig));
  } else {
    child.kill('SIGKILL');
    finish(exitCodeOf(null, sig));
  }
}

function stopCluster() {
  if (!clusterMayBeRunning || !dataDir) return;
  // Interrupted during `pg_ctl start`: give the postmaster a moment to write its pid file.
  for (let i = 0; i < 30 && !postmasterPid && !readPostmasterPid(); i++) sleepSync(100);
  const pid = postmasterPid ?? readPostmasterPid();
  if (fs.existsSync(path.join(dataDir, 'postmaster.pid')) || (pid && isAlive(pid))) {
    const { cmd, args } = pgCommand('pg_ctl', ['stop', '-w', '-t', '30', '-m', 'fast', '-D', dataDir]);
    const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 40_000 });
    if (r.status !== 0 && pid && isAlive(pid)) {
      // pg_ctl could not stop it: stop the postmaster we started, by its pid.
      try {
        process.kill(pid, 'SIGQUIT');
      } catch {}
      for (let i = 0; i < 50 && isAlive(pid); i++) sleepSync(100);
      if (isAlive(pid)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {}
      }
    }
  }
  clusterMayBeRunning = false;
}

function cleanup() {
  try {
    stopCluster();
  } catch (err) {
    log(`warning: could not stop the cluster: ${err.message}`);
  }
  if (tmpDir) {
    try {
      fs.rmSync(tmpDir, { recursive: true, force: true, maxRetries: 3 });
    } catch (err) {
      log(`warning: could not remove ${tmpDir}: ${err.message}`);
    }
    tmpDir = null;
  }
}

function finish(code) {
  if (exiting) return;
  exiting = true;
  cleanup();
  process.exit(code);
}

process.on('exit', () => {
  // Last resort (e.g. process.exit from fail() after the temp dir exists).
  if (tmpDir) cleanup();
});

// ---------------------------------------------------------------------------
// Entry point (after all module-level state above is initialised)

if (process.env.TEST_DATABASE_URL) {
  // Someone else provides the database: just run the command.
  for (const sig of SIGNALS) {
    process.on(sig, () => {
      if (child) child.kill(sig);
    });
  }
  runCommand(process.env, (code) => process.exit(code));
} else {
  main().catch((err) => {
    log(`error: ${err && err.message ? err.message : err}`);
    finish(1);
  });
}
