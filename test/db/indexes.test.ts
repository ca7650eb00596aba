/**
 * Indexes the queries and foreign keys need, and which tables are unlogged, checked on the
 * migrated database (PGlite, and PostgreSQL in the PostgreSQL pass).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../server/db/client.ts';
import { timestampParam } from '../../server/db/sql-runner.ts';
import { createTestDatabase } from '../helpers/db.ts';

let db: Database;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db?.close());

describe('foreign keys', () => {
  it('every foreign key has an index leading with its columns', async () => {
    // Deleting (or re-keying) a referenced row makes PostgreSQL find the referencing rows:
    // without such an index that is a scan of the whole referencing table per deleted row
    // (e.g. removeLtiRegistration scanned every stored launch refusal, under its locks).
    const unindexed = await db.prisma.$queryRawUnsafe<Array<{ constraint: string }>>(`
      SELECT c.conname AS "constraint"
      FROM pg_constraint c
      WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace
        AND NOT EXISTS (
          SELECT 1 FROM pg_index i
          WHERE i.indrelid = c.conrelid
            AND ARRAY(SELECT unnest((string_to_array(i.indkey::text, ' ')::int2[])[1:cardinality(c.conkey)]) ORDER BY 1)
              = ARRAY(SELECT unnest(c.conkey) ORDER BY 1)
        )
      ORDER BY 1`);
    expect(unindexed.map((r) => r.constraint)).toEqual([]);
  });
});

describe('persistence', () => {
  it('every table, launches and grades above all, is crash-safe (logged): the one unlogged table, LoginState, is gone', async () => {
    // Logins are stateless (server/lti/sealed-login.ts): no table holds them, and nothing a
    // crash or failover could empty is left unlogged.
    const tables = await db.prisma.$queryRawUnsafe<Array<{ name: string; persistence: string }>>(`
      SELECT relname AS "name", relpersistence::text AS "persistence"
      FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' ORDER BY 1`);
    expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(['Launch', 'Grade', 'ToolKey', 'ServerSecret', '_prisma_migrations']));
    expect(tables.map((t) => t.name)).not.toContain('LoginState');
    expect(tables.filter((t) => t.persistence !== 'p')).toEqual([]);
  });
});

describe('the launch replay guard', () => {
  /** The table's unique indexes, each as its name and its columns in order. */
  async function uniqueIndexes(table: string): Promise<Array<{ name: string; columns: string[]; partial: boolean }>> {
    const rows = await db.prisma.$queryRawUnsafe<Array<{ name: string; columns: string[]; partial: boolean }>>(
      `
      SELECT ic.relname AS "name",
        ARRAY(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
              JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.n) AS "columns",
        i.indpred IS NOT NULL AS "partial"
      FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
      WHERE i.indrelid = CAST($1 AS regclass) AND i.indisunique AND NOT i.indisprimary
      ORDER BY 1`,
      `"${table}"`,
    );
    return rows;
  }

  it('Launch has a unique index on exactly its nonce (whole, not partial): the launch insert\'s ON CONFLICT ("nonce")', async () => {
    const nonce = (await uniqueIndexes('Launch')).filter((ix) => ix.columns.includes('nonce'));
    expect(nonce).toEqual([{ name: 'Launch_nonce_key', columns: ['nonce'], partial: false }]);
  });

  it('a second launch with a used nonce is refused by the database itself', async () => {
    const seed = [
      `INSERT INTO "Owner" ("id", "name") VALUES ('nx-owner', 'o')`,
      `INSERT INTO "App" ("id", "ownerId", "name", "exerciseUrl", "updatedAt") VALUES ('nx-app', 'nx-owner', 'a', 'https://x.test', now())`,
      `INSERT INTO "LtiRegistration" ("id", "appId", "issuer", "clientId", "authLoginUrl", "authTokenUrl", "keysetUrl", "deploymentIds", "updatedAt")
        VALUES ('nx-reg', 'nx-app', 'https://nx-iss.test', 'nx-c', 'https://l.test', 'https://t.test', 'https://k.test', '{d}', now())`,
    ];
    for (const statement of seed) await db.prisma.$executeRawUnsafe(statement);
    const launch = (id: string, nonce: string | null) =>
      db.prisma.$executeRawUnsafe(
        `INSERT INTO "Launch" ("id", "appId", "registrationId", "deploymentId", "subject", "resourceLinkId", "credentialHash", "credentialExpiresAt", "roles", "agsScopes", "nonce")
         VALUES ($1, 'nx-app', 'nx-reg', 'd', 's', 'rl', $1, now(), '{}', '{}', $2)`,
        id,
        nonce,
      );
    await launch('nx-l1', 'nx-nonce');
    await expect(launch('nx-l2', 'nx-nonce')).rejects.toThrow(/Launch_nonce_key/);
    // Launches from before the column (no nonce) are many.
    await launch('nx-l3', null);
    await launch('nx-l4', null);
    expect(await db.prisma.launch.count({ where: { appId: 'nx-app' } })).toBe(3);
  });
});

describe('the grade outbox', () => {
  it('finds due and never-tried grades without reading every grade waiting out a backoff', async () => {
    const waiting = 3000;
    const now = new Date('2031-01-01T12:00:00Z');
    const later = timestampParam(new Date(now.getTime() + 30 * 60_000));
    const seed = `
      INSERT INTO "Owner" ("id", "name") VALUES ('ix-owner', 'o');
      INSERT INTO "App" ("id", "ownerId", "name", "exerciseUrl", "updatedAt") VALUES ('ix-app', 'ix-owner', 'a', 'https://x.test', now());
      INSERT INTO "LtiRegistration" ("id", "appId", "issuer", "clientId", "authLoginUrl", "authTokenUrl", "keysetUrl", "deploymentIds", "updatedAt")
        VALUES ('ix-reg', 'ix-app', 'https://iss.test', 'c', 'https://l.test', 'https://t.test', 'https://k.test', '{d}', now());
      INSERT INTO "Launch" ("id", "appId", "registrationId", "deploymentId", "subject", "resourceLinkId", "agsLineitem", "credentialHash", "credentialExpiresAt", "roles", "agsScopes")
        SELECT 'ix-l' || i, 'ix-app', 'ix-reg', 'd', 'sub' || i, 'rl', 'https://li.test/1', 'ix-h' || i, now(), '{}', '{}'
        FROM generate_series(1, ${waiting + 2}) i;
      -- Waiting out a backoff (tried before, due in 30 minutes) ...
      INSERT INTO "Grade" ("id", "launchId", "appId", "registrationId", "scoreGiven", "scoreMaximum", "state", "attempts", "nextAttemptAt", "createdAt", "updatedAt", "deliveryKey")
        SELECT 'ix-g' || lpad(i::text, 6, '0'), 'ix-l' || i, 'ix-app', 'ix-reg', 100, 100, 'PENDING', 3, '${later}', now(), now(), md5(i::text)
        FROM generate_series(1, ${waiting}) i;
      -- ... and two never tried (due at once, whatever nextAttemptAt their writer's clock gave).
      INSERT INTO "Grade" ("id", "launchId", "appId", "registrationId", "scoreGiven", "scoreMaximum", "state", "attempts", "nextAttemptAt", "createdAt", "updatedAt", "deliveryKey")
        SELECT 'ix-new' || i, 'ix-l' || (${waiting} + i), 'ix-app', 'ix-reg', 100, 100, 'PENDING', 0, '${later}', now(), now(), md5('new' || i)
        FROM generate_series(1, 2) i;
      ANALYZE "Grade";`;
    // One statement per call (the drivers' extended protocol takes one at a time).
    for (const statement of seed.split(/;\s*$/m).map((t) => t.replace(/^\s*--.*$/gm, '').trim()).filter(Boolean)) {
      await db.prisma.$executeRawUnsafe(statement);
    }

    // The due-grade part of DeliveryWorker's claim (server/grades/delivery-worker.ts), as it binds it.
    const claimable = `
      SELECT g."id" FROM "Grade" g
      WHERE g."state" = 'PENDING' AND (g."nextAttemptAt" <= CAST($1 AS timestamp(3)) OR g."attempts" = 0)
        AND (g."leaseUntil" IS NULL OR g."leaseUntil" < CAST($1 AS timestamp(3)))
      ORDER BY g."nextAttemptAt"
      LIMIT 20`;
    const rows = await db.prisma.$queryRawUnsafe<Array<{ id: string }>>(claimable, timestampParam(now));
    expect(rows.map((r) => r.id).sort()).toEqual(['ix-new1', 'ix-new2']);

    const [plan] = await db.prisma.$queryRawUnsafe<Array<{ 'QUERY PLAN': unknown }>>(
      `EXPLAIN (ANALYZE, FORMAT JSON) ${claimable}`,
      timestampParam(now),
    );
    const raw = plan!['QUERY PLAN'];
    const nodes = (typeof raw === 'string' ? JSON.parse(raw) : raw) as Array<{ Plan: PlanNode }>;
    // Rows the executor read and threw away: all the waiting grades when the never-tried ones
    // can only be found by filtering every PENDING grade.
    expect(discarded(nodes[0]!.Plan)).toBeLessThan(100);
  });
});

interface PlanNode {
  'Rows Removed by Filter'?: number;
  'Rows Removed by Index Recheck'?: number;
  Plans?: PlanNode[];
}

function discarded(node: PlanNode): number {
  return (
    (node['Rows Removed by Filter'] ?? 0) +
    (node['Rows Removed by Index Recheck'] ?? 0) +
    (node.Plans ?? []).reduce((n, child) => n + discarded(child), 0)
  );
}
