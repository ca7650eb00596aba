/**
 * Scale-out on one PostgreSQL: three real server processes started together on an empty
 * database, a login started on one process finished on another (the login is sealed in the
 * state cookie with a key all processes share through the database: no login row), nonces
 * single-use across processes (the launch's unique nonce), and 1,000 completions spread over
 * the processes delivered exactly once.
 * Runs in the PostgreSQL pass only (`*.pg.test.ts`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../server/db/client.ts';
import { CookieJar, errorCode } from '../helpers/lti-flow.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { databaseUrlWithName, recreateDatabase } from '../helpers/postgres-admin.ts';
import { recordChildLogs, registerTestSecret } from '../helpers/test-logger.ts';

const root = new URL('../..', import.meta.url).pathname;
/** What every process calls itself (behind a load balancer all share PUBLIC_URL). */
const PUBLIC_URL = 'http://localhost:8999';
const COMPLETIONS = 1000;

interface Proc {
  child: ChildProcess;
  origin: string;
  out: () => string;
}

let url: string;
let db: Database;
let platform: TestPlatform;
const procs: Proc[] = [];
/** Every child spawned, started or not: a failed start must not leave its siblings running. */
const children: ChildProcess[] = [];
let token = '';
let appId = '';

function startProcess(): Promise<Proc> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    cwd: root,
    // debug: every line goes to the end-of-run secret scan (recordChildLogs in afterAll).
    env: {
      ...process.env,
      PORT: '0',
      PUBLIC_URL,
      DATABASE_URL: url,
      LOG_LEVEL: 'debug',
      // Every request comes from 127.0.0.1: this test is about exactly-once across processes,
      // so the per-address limits must not depend on how many launches it drives.
      RATE_LIMIT_LOGIN_PER_MINUTE: '0',
      RATE_LIMIT_LAUNCH_PER_MINUTE: '0',
      RATE_LIMIT_COMPLETION_PER_MINUTE: '0',
      // The test platform listens on loopback, which production refuses by default.
      OUTBOUND_ALLOWED_NETWORKS: '127.0.0.0/8,::1/128',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start:\n${out}`)), 90_000);
    child.stdout!.on('data', () => {
      const port = out.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/)?.[1];
      if (port && /Database:/.test(out)) {
        clearTimeout(timer);
        setTimeout(() => resolve({ child, origin: `http://localhost:${port}`, out: () => out }), 300);
      }
    });
    child.on('exit', (code) => reject(new Error(`exited ${code}:\n${out}`)));
  });
}

/** The same path on another process (what a load balancer does). */
const on = (proc: Proc, publicUrl: string) => publicUrl.replace(PUBLIC_URL, proc.origin);

async function gql<T>(proc: Proc, query: string, variables: object): Promise<T> {
  const res = await fetch(`${proc.origin}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data: T; errors?: unknown };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

/** Login on `a`, launch on `b`; returns the credential (or the refusal). */
async function launchAcross(a: Proc, b: Proc, sub: string) {
  const launchUrl = `${PUBLIC_URL}/lti/apps/${appId}/launch`;
  const jar = new CookieJar();
  const init = platform.loginInitiation(`${PUBLIC_URL}/lti/apps/${appId}/login`, { targetLinkUri: launchUrl, sub });
  const login = await fetch(on(a, init.url), { redirect: 'manual' });
  jar.store(login);
  expect(login.status).toBe(302);
  const form = await platform.authorize(login.headers.get('location')!, { expectedRedirectUri: launchUrl });
  /** The same form and cookie, posted to `to` (default `b`). */
  const post = (to: Proc = b) =>
    fetch(on(to, form.redirectUri), {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: jar.header() },
      body: new URLSearchParams({ id_token: form.idToken, state: form.state }),
    });
  return { post, form, cookie: jar.header() };
}

beforeAll(async () => {
  const admin = process.env.TEST_DATABASE_URL!;
  const name = `lti_scale_${process.pid}`;
  await recreateDatabase(admin, name);
  url = databaseUrlWithName(admin, name);
  // Three processes start together on an empty database: one migrates, the others wait.
  procs.push(...(await Promise.all([startProcess(), startProcess(), startProcess()])));
  db = await openDatabase({ url, poolMax: 2 });
  platform = await startTestPlatform({ host: 'localhost' });
  platform.setToolKeysetUrl(`${procs[0]!.origin}/lti/jwks`);
}, 180_000);

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  procs.forEach((p, i) => recordChildLogs(`scale-${i}`, p.out()));
  await platform?.close();
  await db?.close();
});

describe('three processes on one PostgreSQL', () => {
  it('start together: migrations once, one owner with one printed token, one tool key', async () => {
    const tokens = procs.map((p) => p.out().match(/lmt_[A-Za-z0-9_-]{43}/)?.[0]).filter(Boolean);
    expect(tokens).toHaveLength(1);
    token = registerTestSecret(tokens[0]!, 'first owner API token');
    expect(await db.prisma.owner.count()).toBe(1);
    expect(await db.prisma.toolKey.count()).toBe(1);
    const migrations = await db.prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM _prisma_migrations`;
    expect(migrations[0]!.n).toBeGreaterThan(0);
    // Every process publishes the same keyset.
    const keysets = await Promise.all(procs.map(async (p) => (await fetch(`${p.origin}/lti/jwks`)).text()));
    expect(new Set(keysets).size).toBe(1);

    const { createApp } = await gql<{ createApp: { app: { id: string } } }>(
      procs[1]!,
      `mutation($input: CreateAppInput!) { createApp(input: $input) { ... on AppPayload { app { id } } } }`,
      { input: { name: 'Scale', exerciseUrl: 'https://exercises.example.org/x', isPublic: true } },
    );
    appId = Buffer.from(createApp.app.id, 'base64').toString().split(':')[1]!;
    await gql(procs[2]!, `mutation($input: AddLtiRegistrationInput!) { addLtiRegistration(input: $input) { __typename } }`, {
      input: { appId: createApp.app.id, ...platform.registration() },
    });
  });

  it('a login started on one process completes on another; its nonce works once across all', async () => {
    const { post, form, cookie } = await launchAcross(procs[0]!, procs[1]!, 'cross-process');
    // The login is in its cookie (sealed, not the bare state), with a key the processes share.
    expect(cookie).toMatch(/^lti_state_[A-Za-z0-9_-]{16}=l1\.[^;]+$/);
    const first = await post();
    expect(first.status).toBe(303);
    expect(await db.prisma.launch.count({ where: { subject: 'cross-process' } })).toBe(1);
    expect((await db.prisma.launch.findFirstOrThrow({ where: { subject: 'cross-process' } })).nonce).toBe(form.nonce);
    expect(await db.prisma.serverSecret.count()).toBe(1);
    // Replayed later on every process, the one that launched it included: the nonce is used.
    for (const proc of procs) {
      const replay = await post(proc);
      expect(replay.status).toBe(400);
      expect(await errorCode(replay)).toBe('ERR_LTI_NONCE_REUSED');
    }
    expect(await db.prisma.launch.count({ where: { subject: 'cross-process' } })).toBe(1);
    const { post: raced } = await launchAcross(procs[2]!, procs[0]!, 'raced');
    // The same form posted to all three processes at once: exactly one launch.
    const results = await Promise.all(procs.map((proc) => raced(proc)));
    expect(results.map((r) => r.status).sort()).toEqual([303, 400, 400]);
    const refused = results.filter((r) => r.status === 400);
    for (const r of refused) expect(await errorCode(r)).toBe('ERR_LTI_NONCE_REUSED');
    expect(await db.prisma.launch.count({ where: { subject: 'raced' } })).toBe(1);
  });

  it(`${COMPLETIONS} completions over three processes: every score sent exactly once`, async () => {
    // Score POSTs from here on are this test's: the earlier tests completed nothing.
    const attemptsBefore = platform.scoreAttempts.length;
    const scoresBefore = platform.scores.length;
    const credentials: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < COMPLETIONS) {
          const i = next++;
          const { post } = await launchAcross(procs[i % 3]!, procs[(i + 1) % 3]!, `scale-${i}`);
          const res = await post();
          expect(res.status).toBe(303);
          credentials[i] = new URLSearchParams(new URL(res.headers.get('location')!).hash.slice(1)).get('lti_launch')!;
        }
      }),
    );
    next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < COMPLETIONS) {
          const i = next++;
          const res = await fetch(`${procs[(i + 2) % 3]!.origin}/api/completions`, {
            method: 'POST',
            headers: { authorization: `Bearer ${credentials[i]}`, 'content-type': 'application/json' },
            body: '{}',
          });
          expect(res.status).toBe(200);
        }
      }),
    );
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      const pending = await db.prisma.grade.count({ where: { state: { not: 'DELIVERED' } } });
      if (pending === 0) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(await db.prisma.grade.count({ where: { state: 'DELIVERED' } })).toBe(COMPLETIONS);
    // Let any straggler (a double send would arrive now) land before counting.
    await new Promise((r) => setTimeout(r, 500));
    const perUser = new Map<string, number>();
    for (const s of platform.scores) perUser.set(String(s.body.userId), (perUser.get(String(s.body.userId)) ?? 0) + 1);
    const scaleUsers = [...perUser].filter(([u]) => u.startsWith('scale-'));
    expect(scaleUsers).toHaveLength(COMPLETIONS);
    expect(scaleUsers.every(([, n]) => n === 1)).toBe(true);
    // Accepted once each is not enough: a second POST refused (e.g. 400 for a timestamp not
    // later than the stored one) leaves no score. The platform saw exactly one POST per
    // learner, all accepted: COMPLETIONS POSTs, each 200 and each storing a score, and the
    // stored scores are one per learner (above). (Its POST records carry no user id.)
    const attempts = platform.scoreAttempts.slice(attemptsBefore);
    expect(attempts.filter((a) => a.status !== 200)).toEqual([]);
    expect(attempts).toHaveLength(COMPLETIONS);
    expect(platform.scores.length - scoresBefore).toBe(COMPLETIONS);
    // At most one token request per registration per process per token lifetime.
    expect(platform.tokenRequests.filter((t) => t.ok).length).toBeLessThanOrEqual(3);
  }, 600_000);
});
