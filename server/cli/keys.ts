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
import { parseArgs } from 'node:util';
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

const USAGE = 'usage: npm run keys -- list | rotate';

/** The one command, or undefined: an unknown option (`rotate --dry-run`) must not rotate anyway. */
function commandOf(argv: string[]): 'list' | 'rotate' | undefined {
  try {
    const { positionals } = parseArgs({ args: argv, allowPositionals: true, options: {} });
    const [command] = positionals;
    return positionals.length === 1 && (command === 'list' || command === 'rotate') ? command : undefined;
  } catch {
    return undefined;
  }
}

async function run(argv: string[]): Promise<void> {
  const command = commandOf(argv);
  if (!command) {
    console.error(USAGE);
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

run(process.argv.slice(2)).then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err instanceof ConfigError ? err.message : `keys: ${(err as Error).message}`);
    // 2 for a configuration to fix (as `npm start` exits on bad config), 1 for a failure.
    process.exit(err instanceof ConfigError ? 2 : 1);
  },
);
