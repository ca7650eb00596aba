/**
 * The login state MAC key (server/lti/login-state-key.ts) is shared by every process through
 * one ServerSecret row: the first process creates it, every other one reads the same value
 * (a login sealed on one process opens on another), a failed read is not cached for the
 * life of the process, and a stored value that is not a 32-byte key is refused rather than
 * used. On PostgreSQL (the PostgreSQL pass) the two "processes" have their own pools.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../server/db/client.ts';
import type { PrismaClient } from '../../server/generated/prisma/client.ts';
import { LOGIN_STATE_SECRET_NAME, LoginStateKey } from '../../server/lti/login-state-key.ts';
import { openLogin, sealLogin } from '../../server/lti/sealed-login.ts';
import { createTestDatabase, usingPostgres } from '../helpers/db.ts';

let db: Database;
/** A second process's connections to the same database (PGlite has one connection: the same client). */
let other: Database | undefined;
let otherPrisma: PrismaClient;

beforeAll(async () => {
  db = await createTestDatabase();
  if (usingPostgres) other = await openDatabase({ url: db.url!, poolMax: 2 });
  otherPrisma = other?.prisma ?? db.prisma;
});
afterAll(async () => {
  await other?.close();
  await db?.close();
});

const secretRows = () => db.prisma.$queryRaw<Array<{ value: string }>>`SELECT "value" FROM "ServerSecret" WHERE "name" = ${LOGIN_STATE_SECRET_NAME}`;

/**
 * `prisma`, with `$queryRaw` failing the next `failures` calls and every call counted.
 * Everything else (and every later call) goes to the real client.
 */
function flaky(prisma: PrismaClient, failures: number): { prisma: PrismaClient; calls: () => number } {
  let calls = 0;
  const proxy = new Proxy(prisma, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (prop === '$queryRaw') {
        return (...args: unknown[]) => {
          calls++;
          if (failures > 0) {
            failures--;
            return Promise.reject(new Error('connection terminated unexpectedly'));
          }
          return (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        };
      }
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { prisma: proxy, calls: () => calls };
}

describe('LoginStateKey', () => {
  it('two processes starting at once create one ServerSecret row and get the same 32-byte key from it', async () => {
    expect(await secretRows()).toEqual([]);
    const [a, b] = [new LoginStateKey(db.prisma), new LoginStateKey(otherPrisma)];
    const [keyA, keyB] = await Promise.all([a.get(), b.get()]);
    expect(keyA.length).toBe(32);
    expect(keyB.equals(keyA)).toBe(true);
    const rows = await secretRows();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(rows[0]!.value, 'base64url').equals(keyA)).toBe(true);
    // A login sealed on one opens on the other.
    const login = { state: 'S'.repeat(43), nonce: 'N'.repeat(43), appId: 'app', registrationId: 'reg', expiresAt: new Date(2e12) };
    expect(openLogin(keyB, sealLogin(keyA, login), login.state, login.appId)).toEqual({ ok: true, login });
  });

  it('a process started later reads the stored key, and creates no other row', async () => {
    const [stored] = await secretRows();
    const later = await new LoginStateKey(otherPrisma).get();
    expect(later.toString('base64url')).toBe(stored!.value);
    expect(await secretRows()).toEqual([stored]);
    expect(await db.prisma.serverSecret.count()).toBe(1);
  });

  it('reads the key once per process: later calls use it without a query', async () => {
    const { prisma, calls } = flaky(db.prisma, 0);
    const key = new LoginStateKey(prisma);
    const first = await key.get();
    expect(calls()).toBe(1);
    const again = await Promise.all([key.get(), key.get(), key.get()]);
    expect(again.every((k) => k.equals(first))).toBe(true);
    expect(calls()).toBe(1);
  });

  it('a failed first read is retried by the next get(), not cached for the life of the process', async () => {
    const [stored] = await secretRows();
    const { prisma, calls } = flaky(db.prisma, 1);
    const key = new LoginStateKey(prisma);
    await expect(key.get()).rejects.toThrow('connection terminated unexpectedly');
    expect(calls()).toBe(1);
    const retried = await key.get();
    expect(calls()).toBe(2);
    expect(retried.toString('base64url')).toBe(stored!.value);
    // …and, once read, kept.
    await key.get();
    expect(calls()).toBe(2);
  });

  it('refuses a stored value that is not 32 base64url bytes, and reads the value again once repaired', async () => {
    const [stored] = await secretRows();
    try {
      for (const bad of ['', 'short', `${stored!.value}A`, `${stored!.value.slice(1)}+`, `${stored!.value.slice(1)}=`]) {
        await db.prisma.serverSecret.update({ where: { name: LOGIN_STATE_SECRET_NAME }, data: { value: bad } });
        await expect(new LoginStateKey(db.prisma).get(), JSON.stringify(bad)).rejects.toThrow(`ServerSecret ${LOGIN_STATE_SECRET_NAME} is missing or not 32 base64url bytes`);
      }
      // The refusal is not cached either: the same instance reads the repaired row.
      const key = new LoginStateKey(db.prisma);
      await expect(key.get()).rejects.toThrow(LOGIN_STATE_SECRET_NAME);
      await db.prisma.serverSecret.update({ where: { name: LOGIN_STATE_SECRET_NAME }, data: { value: stored!.value } });
      expect((await key.get()).toString('base64url')).toBe(stored!.value);
    } finally {
      await db.prisma.serverSecret.update({ where: { name: LOGIN_STATE_SECRET_NAME }, data: { value: stored!.value } });
    }
    // Never overwritten by a process that found it malformed.
    expect(await secretRows()).toEqual([stored]);
  });
});
