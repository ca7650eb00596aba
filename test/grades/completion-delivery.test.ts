import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../server/db/client.ts';
import { LAUNCH_FRAGMENT_PARAM } from '../../server/lti/launch.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { launch, publicAppFor, type PublicApp } from '../helpers/lti-flow.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { startToolServer, type ToolServer } from '../helpers/tool-server.ts';

let db: Database;
let tool: ToolServer;
let platform: TestPlatform;
let app: PublicApp;

beforeAll(async () => {
  db = await createTestDatabase();
  tool = await startToolServer(db);
  platform = await startTestPlatform();
  platform.setToolKeysetUrl(`${tool.baseUrl}/lti/jwks`);
  app = await publicAppFor(db, platform, tool.baseUrl);
});
afterAll(async () => {
  await platform.close();
  await tool.close();
  await db.close();
});

async function launchedCredential(sub?: string): Promise<string> {
  const result = await launch(platform, app, sub ? { sub } : {});
  expect(result.response.status).toBe(303);
  return new URLSearchParams(new URL(result.location!).hash.slice(1)).get(LAUNCH_FRAGMENT_PARAM)!;
}

function complete(credential: string, body = '{}') {
  return fetch(`${tool.baseUrl}/api/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json', origin: 'https://exercises.example.org' },
    body,
  });
}

describe('completion → grade → AGS score', () => {
  it('records the completion, then delivers full marks to the platform', async () => {
    const credential = await launchedCredential('learner-42');
    const res = await complete(credential);
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    const body = (await res.json()) as { status: string; grade: { state: string } };
    expect(body).toMatchObject({ status: 'recorded', grade: { state: 'pending' } });

    // Committed before the answer.
    const grade = await db.prisma.grade.findFirstOrThrow({ where: { launch: { subject: 'learner-42' } } });
    expect(grade).toMatchObject({ state: 'PENDING', scoreGiven: 100, scoreMaximum: 100 });

    expect(await tool.app.deliveryWorker.runOnce()).toBe(1);
    const delivered = await db.prisma.grade.findUniqueOrThrow({ where: { id: grade.id } });
    expect(delivered).toMatchObject({ state: 'DELIVERED', attempts: 1, lastError: null });
    expect(platform.scores).toHaveLength(1);
    expect(platform.scores[0]!.body).toMatchObject({
      userId: 'learner-42',
      scoreGiven: 100,
      scoreMaximum: 100,
      activityProgress: 'Completed',
      gradingProgress: 'FullyGraded',
    });
    expect(platform.scores[0]!.contentType).toBe('application/vnd.ims.lis.v1.score+json');
    expect(platform.tokenRequests.filter((t) => t.ok)).toHaveLength(1);
  });

  it('is idempotent, and ignores any score the page sends', async () => {
    const credential = await launchedCredential('learner-43');
    const first = await complete(credential, JSON.stringify({ scoreGiven: 0, scoreMaximum: 1 }));
    const second = await complete(credential);
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    const grades = await db.prisma.grade.findMany({ where: { launch: { subject: 'learner-43' } } });
    expect(grades).toHaveLength(1);
    expect(grades[0]).toMatchObject({ scoreGiven: 100, scoreMaximum: 100 });
  });

  it('refuses forged credentials and changes nothing', async () => {
    const before = await db.prisma.grade.count();
    for (const credential of ['A'.repeat(43), 'nope']) {
      const res = await complete(credential);
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ error: 'invalid_credential' });
    }
    expect(await db.prisma.grade.count()).toBe(before);
  });

  it('answers CORS preflight', async () => {
    const res = await fetch(`${tool.baseUrl}/api/completions`, {
      method: 'OPTIONS',
      headers: { origin: 'https://exercises.example.org', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-headers')).toContain('authorization');
  });
});
