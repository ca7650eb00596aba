/**
 * kill -9 crash drill on PostgreSQL (PostgreSQL pass only): like crash.test.ts, with the
 * database outliving the killed processes. CRASH_ROUNDS=20 for a longer manual drill.
 */
import { expect, it } from 'vitest';
import { openDatabase } from '../../server/db/client.ts';
import { databaseUrlWithName, recreateDatabase } from '../helpers/postgres-admin.ts';
import { checkCrashDrill, runCrashDrill } from './drill.ts';

const ROUNDS = Number(process.env.CRASH_ROUNDS ?? 5);

it(`PostgreSQL: ${ROUNDS} × kill -9 mid-completions and mid-deliveries; every recorded completion delivered, nothing stuck, duplicates only from kills`, async () => {
  const admin = process.env.TEST_DATABASE_URL!;
  const name = `lti_crash_${process.pid}`;
  await recreateDatabase(admin, name);
  const url = databaseUrlWithName(admin, name);
  const result = await runCrashDrill({ env: { DATABASE_URL: url }, rounds: ROUNDS });
  const db = await openDatabase({ url, poolMax: 2 });
  try {
    const summary = await checkCrashDrill(result, db);
    console.log('crash drill (PostgreSQL):', JSON.stringify(summary));
    expect(summary.kills).toBe(ROUNDS);
    // The drill did what it is for: completions answered in several rounds, and kills with a
    // score POST in flight — every odd round waits for one (drill.ts), and the platform's
    // records (stored, answer not yet sent at the kill) must show it.
    expect(summary.answered).toBeGreaterThanOrEqual(ROUNDS * 2);
    expect(summary.killsWithScoreAnswerHeld).toBeGreaterThanOrEqual(Math.ceil(ROUNDS / 2));
    expect(summary.killsDuringScorePost).toBeGreaterThanOrEqual(Math.ceil(ROUNDS / 2));
  } finally {
    await db.close();
  }
}, 60_000 + ROUNDS * 30_000);
