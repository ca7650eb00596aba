import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../server/app.ts';
import { createSilentLogger } from '../../server/logger.ts';
import type { Database } from '../../server/db/client.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { createTestApp, TEST_PUBLIC_URL } from '../helpers/server.ts';

let db: Database;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.close());

const get = (app: ReturnType<typeof createTestApp>, path: string) => app.fetch(new Request(`${TEST_PUBLIC_URL}${path}`));

describe('health and readiness', () => {
  it('/healthz answers while the process lives; /readyz only once a tool key can sign', async () => {
    const app = createTestApp(db);
    expect((await get(app, '/healthz')).status).toBe(200);
    const before = await get(app, '/readyz');
    expect(before.status).toBe(503);
    expect(await before.json()).toEqual({ status: 'unavailable' });
    await app.toolKeys.ensureKey();
    const after = await get(app, '/readyz');
    expect(after.status).toBe(200);
    expect(await after.json()).toEqual({ status: 'ready' });
  });

  it('/readyz is 503 when the database is gone', async () => {
    const own = await createTestDatabase();
    const app = createTestApp(own);
    await app.toolKeys.ensureKey();
    expect((await get(app, '/readyz')).status).toBe(200);
    await own.close();
    expect((await get(app, '/readyz')).status).toBe(503);
    expect((await get(app, '/healthz')).status).toBe(200);
  });

  it('/metrics is off without METRICS_TOKEN, and needs the token when on', async () => {
    expect((await get(createTestApp(db), '/metrics')).status).toBe(404);
    const token = 'metrics-token-0123456789';
    const { testConfig } = await import('../helpers/server.ts');
    const app = createTestApp(db, testConfig({ metricsToken: token }));
    expect((await get(app, '/metrics')).status).toBe(401);
    const res = await app.fetch(new Request(`${TEST_PUBLIC_URL}/metrics`, { headers: { authorization: `Bearer ${token}` } }));
    expect(res.status).toBe(200);
    const text = await res.text();
    for (const name of ['lti_launches_total', 'lti_logins_total', 'lti_completions_total', 'lti_grade_deliveries_total', 'lti_platform_keyset_fetches_total', 'lti_access_token_requests_total']) {
      expect(text).toContain(`# TYPE ${name} counter`);
    }
    // Levels the soak watches: memory, and the tables cleanup and delivery keep bounded.
    const gauge = (name: string) => {
      expect(text).toContain(`# TYPE ${name} gauge`);
      return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]);
    };
    expect(gauge('process_resident_memory_bytes')).toBeGreaterThan(10 * 2 ** 20);
    expect(gauge('nodejs_heap_size_used_bytes')).toBeGreaterThan(2 ** 20);
    expect(gauge('lti_grade_outbox_pending')).toBe(await db.prisma.grade.count({ where: { state: 'PENDING' } }));
    // Logins are stateless (no table): no login-state gauge is exported any more.
    expect(text).not.toMatch(/lti_login_state/);
  });

  it('/metrics counts the grade outbox as it is, at most 5 seconds late', async () => {
    const token = 'metrics-token-0123456789';
    const { testConfig } = await import('../helpers/server.ts');
    let offsetMs = 0;
    const app = createApp(testConfig({ metricsToken: token }), {
      db,
      logger: createSilentLogger(),
      now: () => new Date(Date.now() + offsetMs),
    });
    const read = async (name: string) => {
      const res = await app.fetch(new Request(`${TEST_PUBLIC_URL}/metrics`, { headers: { authorization: `Bearer ${token}` } }));
      return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(await res.text())?.[1]);
    };
    const before = await read('lti_grade_outbox_pending');
    expect(before).toBe(await db.prisma.grade.count({ where: { state: 'PENDING' } }));
    // One more grade waiting for delivery (its launch, app and registration to hang it on).
    for (const statement of [
      `INSERT INTO "Owner" ("id", "name") VALUES ('hm-owner', 'o')`,
      `INSERT INTO "App" ("id", "ownerId", "name", "exerciseUrl", "updatedAt") VALUES ('hm-app', 'hm-owner', 'a', 'https://x.test', now())`,
      `INSERT INTO "LtiRegistration" ("id", "appId", "issuer", "clientId", "authLoginUrl", "authTokenUrl", "keysetUrl", "deploymentIds", "updatedAt")
        VALUES ('hm-reg', 'hm-app', 'https://hm-iss.test', 'hm-c', 'https://l.test', 'https://t.test', 'https://k.test', '{d}', now())`,
      `INSERT INTO "Launch" ("id", "appId", "registrationId", "deploymentId", "subject", "resourceLinkId", "agsLineitem", "credentialHash", "credentialExpiresAt", "roles", "agsScopes")
        VALUES ('hm-launch', 'hm-app', 'hm-reg', 'd', 's', 'rl', 'https://li.test/1', 'hm-hash', now(), '{}', '{}')`,
      `INSERT INTO "Grade" ("id", "launchId", "appId", "registrationId", "scoreGiven", "scoreMaximum", "state", "nextAttemptAt", "updatedAt")
        VALUES ('hm-grade', 'hm-launch', 'hm-app', 'hm-reg', 1, 1, 'PENDING', now(), now())`,
    ]) {
      await db.prisma.$executeRawUnsafe(statement);
    }
    // Scrapes share one count for a few seconds (a scrape flood cannot load the database)…
    expect(await read('lti_grade_outbox_pending')).toBe(before);
    offsetMs = 5_001;
    // …and then see the table as it is.
    expect(await read('lti_grade_outbox_pending')).toBe(before + 1);
  });
});
