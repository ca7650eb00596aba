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
  it('only LoginState is unlogged: every other table, launches and grades above all, is crash-safe', async () => {
    // Login states are worthless after a crash (a minute's life): unlogged, a login's commit
    // waits for no WAL flush. A crash or failover empties the table, which only refuses launches.
    const tables = await db.prisma.$queryRawUnsafe<Array<{ name: string; persistence: string }>>(`
      SELECT relname AS "name", relpersistence::text AS "persistence"
      FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' ORDER BY 1`);
    expect(tables.filter((t) => t.persistence === 'u').map((t) => t.name)).toEqual(['LoginState']);
    expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(['Launch', 'Grade', 'ToolKey', '_prisma_migrations']));
    expect(tables.filter((t) => t.persistence !== 'u').every((t) => t.persistence === 'p')).toBe(true);
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
