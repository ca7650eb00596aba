/**
 * What one delivery claim costs with a long PENDING queue, on PGlite (the statement runs on the
 * server's one thread there): a copy of DeliveryWorker.#claim's selection as of session 5, on
 * a table of N grades waiting out a backoff, then all due. Numbers in docs/grades.md.
 *
 *   npx tsx bench/claim-cost.ts [N=20000]
 */
import { PGlite } from '@electric-sql/pglite';
const db = await PGlite.create();
await db.exec(`
CREATE TYPE "GradeState" AS ENUM ('PENDING','DELIVERED','FAILED','NOT_GRADABLE');
CREATE TABLE "Grade" (id text primary key, "launchId" text unique not null, state "GradeState" not null, attempts int not null default 0,
 "nextAttemptAt" timestamp(3), "leaseUntil" timestamp(3), "leaseOwner" text, "createdAt" timestamp(3) not null, "deliveryKey" text);
CREATE INDEX ON "Grade"(state, "nextAttemptAt");
CREATE INDEX ON "Grade"("deliveryKey", state);
`);
const N = Number(process.argv[2] ?? 20000);
await db.exec(`
INSERT INTO "Grade" SELECT 'g'||lpad(i::text,8,'0'), 'l'||i, 'PENDING', 3, now() + interval '1 hour', NULL, NULL, now() - (${N}-i) * interval '1 ms',
  md5('sub'||(i % ${N / 2}) || 'li'||(i%7)) FROM generate_series(1, ${N}) i;
ANALYZE;`);
const now = new Date().toISOString().replace('Z', '');
const q = `
        SELECT g."id" FROM "Grade" g
        WHERE g."state" = 'PENDING' AND (g."nextAttemptAt" <= CAST('${now}' AS timestamp(3)) OR g."attempts" = 0)
          AND (g."leaseUntil" IS NULL OR g."leaseUntil" < CAST('${now}' AS timestamp(3)))
          AND NOT EXISTS (
            SELECT 1 FROM "Grade" o
            WHERE o."deliveryKey" = g."deliveryKey" AND o."state" = 'PENDING' AND o."id" <> g."id"
              AND ((o."createdAt", o."id") < (g."createdAt", g."id") OR o."leaseUntil" >= CAST('${now}' AS timestamp(3)))
          )
        ORDER BY g."nextAttemptAt" LIMIT 20 FOR UPDATE OF g SKIP LOCKED`;
const time = async (label: string) => { for (let i = 0; i < 3; i++) { const t = performance.now(); const r = await db.query(q); console.log(label, N, r.rows.length, (performance.now() - t).toFixed(1), 'ms'); } };
await time('in backoff');
await db.exec(`UPDATE "Grade" SET "nextAttemptAt" = now() - interval '1 hour'; ANALYZE;`);
await time('all due');
process.exit(0);
