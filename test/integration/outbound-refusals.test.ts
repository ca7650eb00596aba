/**
 * What a refused outbound address does end to end, with the real default fetch:
 * a keyset URL on a refused address refuses the launch (ERR_LTI_KEYSET_UNAVAILABLE,
 * nothing stored, the reason in the log); a refused score or token URL fails the grade
 * at once with a readable lastError, and nothing reaches the address.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../server/db/client.ts';
import { AGS_SCOPE_SCORE } from '../../server/grades/ags.ts';
import { capturingLogger } from '../helpers/log-capture.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { errorCode, launch, publicAppFor, type PublicApp } from '../helpers/lti-flow.ts';
import { AGS_ENDPOINT_CLAIM, startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { startToolServer, type ToolServer } from '../helpers/tool-server.ts';
import { createClock, deliverUntilSettled, startBench, startPlatformFixture, type Clock, type PlatformFixture } from '../grades/fixtures.ts';

let db: Database;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.close();
});


describe('a keyset URL on a refused address (production policy)', () => {
  let platform: TestPlatform;
  let tool: ToolServer;
  let app: PublicApp;
  const log = capturingLogger('warn');

  beforeAll(async () => {
    platform = await startTestPlatform();
    // The production default, stated explicitly: the platform on 127.0.0.1 is off limits.
    tool = await startToolServer(db, { config: { outboundAllowedNetworks: [] }, logger: log.logger });
    app = await publicAppFor(db, platform, tool.baseUrl);
  });
  afterAll(async () => {
    await platform?.close();
    await tool?.close();
  });

  it.each([
    ['a literal loopback address', (url: URL) => url, /it is a loopback address 127\.0\.0\.1 \(127\.0\.0\.0\/8\)/],
    [
      'a name that resolves to loopback (checked when connecting)',
      (url: URL) => Object.assign(url, { hostname: 'localhost' }),
      /localhost is not reachable from this server: it resolves to a loopback address/,
    ],
  ])('%s → 502 ERR_LTI_KEYSET_UNAVAILABLE, no launch stored, the reason logged', async (_label, rewrite, reason) => {
    // Stored directly, as a registration saved under an earlier, wider allowlist would be.
    const keysetUrl = rewrite(new URL(platform.registration().keysetUrl)).toString();
    await db.prisma.ltiRegistration.update({ where: { id: app.registrationId }, data: { keysetUrl } });
    const launchesBefore = await db.prisma.launch.count();

    const result = await launch(platform, app);

    expect(result.response.status).toBe(502);
    expect(await errorCode(result.response.clone())).toBe('ERR_LTI_KEYSET_UNAVAILABLE');
    const page = await result.response.text();
    expect(page).not.toContain('127.0.0.1');
    expect(page).not.toContain('loopback');
    expect(await db.prisma.launch.count()).toBe(launchesBefore);
    const refused = log.lines.filter((l) => l.msg === 'lti request refused' && l.code === 'ERR_LTI_KEYSET_UNAVAILABLE');
    expect(refused.at(-1)?.reason).toMatch(reason);
    expect(refused.at(-1)?.reason).toContain(keysetUrl);
  });
});

describe('grade delivery to a refused address', () => {
  let fixture: PlatformFixture;
  let clock: Clock;

  beforeAll(async () => {
    // Started now, after the tool key above was made: that key is already active on this clock.
    clock = createClock();
    fixture = await startPlatformFixture(db, { clock });
  });
  afterAll(async () => {
    await fixture?.close();
  });

  it('a line item at the cloud metadata address: FAILED after one attempt, readable lastError, no score sent', async () => {
    // Loopback is allowed (the platform's keyset and token endpoints); 169.254.169.254 never is.
    const bench = await startBench(fixture);
    try {
      const lineitem = 'http://169.254.169.254/latest/meta-data/lineitems/1';
      const { credential, launchId } = await bench.launch({
        overrides: { claims: { [AGS_ENDPOINT_CLAIM]: { lineitem, scope: [AGS_SCOPE_SCORE] } } },
      });
      expect((await bench.complete(credential)).status).toBe(200);
      const grade = await db.prisma.grade.findUniqueOrThrow({ where: { launchId } });

      const history = await deliverUntilSettled(bench.worker, db, clock, grade.id);

      expect(history).toHaveLength(1);
      expect(history[0]).toMatchObject({
        state: 'FAILED',
        attempts: 1,
        nextAttemptAt: null,
        lastStatus: null,
        lastError:
          'score service: 169.254.169.254 is not reachable from this server: it is a link-local address 169.254.169.254 (169.254.0.0/16)',
      });
      expect(bench.scoreAttempts()).toHaveLength(0);
    } finally {
      await bench.close();
    }
  });

  it('a token URL at a private address: FAILED after one attempt, readable lastError, no token requested', async () => {
    const bench = await startBench(fixture);
    const { authTokenUrl } = await db.prisma.ltiRegistration.findUniqueOrThrow({ where: { id: fixture.registrationId } });
    try {
      const { credential, launchId } = await bench.launch();
      await db.prisma.ltiRegistration.update({
        where: { id: fixture.registrationId },
        data: { authTokenUrl: 'https://10.0.0.7/api/lti_consumer/v1/token/x' },
      });
      expect((await bench.complete(credential)).status).toBe(200);
      const grade = await db.prisma.grade.findUniqueOrThrow({ where: { launchId } });

      const history = await deliverUntilSettled(bench.worker, db, clock, grade.id);

      expect(history).toHaveLength(1);
      expect(history[0]).toMatchObject({
        state: 'FAILED',
        attempts: 1,
        lastError: 'token endpoint: 10.0.0.7 is not reachable from this server: it is a private address 10.0.0.7 (10.0.0.0/8)',
      });
      expect(bench.tokenRequests()).toHaveLength(0);
      expect(bench.scoreAttempts()).toHaveLength(0);
    } finally {
      await db.prisma.ltiRegistration.update({ where: { id: fixture.registrationId }, data: { authTokenUrl } });
      await bench.close();
    }
  });
});
