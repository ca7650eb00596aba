import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
  });
});
