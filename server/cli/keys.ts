/**
 * `npm run keys -- <command>`: the tool's own signing keys (our JWKS).
 *
 *   list     the published keys and their state
 *   rotate   publish a new key now; it signs after TOOL_KEY_ROTATION_LEAD_SECONDS and the
 *            current key stays published for TOOL_KEY_RETIRE_GRACE_SECONDS after that
 *
 * Uses the same DATABASE_URL / PGLITE_DIR as the server (stop a PGlite server first, or
 * use the GraphQL mutation `rotateToolKey`).
 */
import { ConfigError, loadConfig } from '../config.ts';
import { openDatabase } from '../db/client.ts';
import { deployMigrations } from '../db/migrate.ts';
import { createSilentLogger } from '../logger.ts';
import { ToolKeys, type ToolKeyInfo } from '../lti/tool-keys.ts';

function describe(key: ToolKeyInfo, now: Date): string {
  const state = key.activatesAt > now ? `pending, signs from ${key.activatesAt.toISOString()}` : key.retiresAt ? 'being replaced' : 'active';
  const until = key.retiresAt ? `, published until ${key.retiresAt.toISOString()}` : '';
  return `  ${key.kid}  ${key.alg}  ${state}${until}`;
}

async function run(command: string | undefined): Promise<void> {
  if (command !== 'list' && command !== 'rotate') {
    console.error('usage: npm run keys -- list | rotate');
    process.exit(2);
  }
  const config = loadConfig(process.env);
  const db = await openDatabase({ url: config.databaseUrl, pgliteDir: config.pgliteDir });
  try {
    await deployMigrations(db);
    const now = () => new Date();
    const keys = new ToolKeys(
      db.prisma,
      { rotationLeadMs: config.toolKeyRotationLeadSeconds * 1000, retireGraceMs: config.toolKeyRetireGraceSeconds * 1000 },
      now,
      createSilentLogger(),
      { secret: config.toolKeyEncryptionSecret, previousSecret: config.toolKeyEncryptionSecretPrevious },
    );
    await keys.ensureKey();
    if (command === 'rotate') {
      const { next } = await keys.rotate();
      console.log(`Published new key ${next.kid}; it signs from ${next.activatesAt.toISOString()}.`);
    }
    console.log('Published keys:');
    for (const key of await keys.list()) console.log(describe(key, now()));
  } finally {
    await db.close();
  }
}

run(process.argv[2]).then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err instanceof ConfigError ? err.message : `keys: ${(err as Error).message}`);
    process.exit(1);
  },
);
