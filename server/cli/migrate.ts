/**
 * `tsx server/cli/migrate.ts dev [--name x] | deploy | status | resolve --rolled-back NAME`
 *
 * Stands in for `prisma migrate …`, whose native engine cannot be downloaded here. The database
 * is `DATABASE_URL` (postgres://…) or else the PGlite directory `PGLITE_DIR` (default ./data/pglite).
 */
import { relative } from 'node:path';
import { parseArgs } from 'node:util';
import { openDatabase, type Database } from '../db/client.ts';
import { isPostgresUrl, unreadableDatabaseUrl } from '../db/connection-url.ts';
import { createMigration, deployMigrations, markMigrationRolledBack, migrationStatus, type MigrateLogger } from '../db/migrate.ts';

const USAGE = 'usage: tsx server/cli/migrate.ts dev [--name <name>] | deploy | status | resolve --rolled-back <name>';

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { name: { type: 'string' }, 'rolled-back': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (err) {
    // An unknown or incomplete option: a usage error, before any database is touched.
    console.error(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const { positionals, values } = parsed;
  const command = positionals[0];
  const resolveWithoutName = command === 'resolve' && !values['rolled-back'];
  const rolledBackElsewhere = command !== 'resolve' && values['rolled-back'] !== undefined;
  if (values.help || positionals.length !== 1 || !['dev', 'deploy', 'status', 'resolve'].includes(command!) || resolveWithoutName || rolledBackElsewhere) {
    console.error(USAGE);
    return values.help ? 0 : 2;
  }

  // Trimmed as loadConfig trims them: the server and this command must open the same database.
  const url = process.env.DATABASE_URL?.trim() || undefined;
  if (url && !isPostgresUrl(url)) {
    // Falling back to PGlite here would silently migrate a different database.
    console.error('DATABASE_URL must be a postgres:// or postgresql:// URL (unset it to use PGlite).');
    return 2;
  }
  const unreadable = url && unreadableDatabaseUrl(url);
  if (unreadable) {
    console.error(unreadable);
    return 2;
  }

  if (command === 'dev') {
    // Diff first, so a broken schema or history never touches the database.
    const file = await createMigration(values.name ?? 'migration');
    console.log(file ? `Created ${relative(process.cwd(), file)}` : 'Schema unchanged: no new migration.');
  }

  const db = await openDatabase({ url, pgliteDir: process.env.PGLITE_DIR?.trim() || undefined });
  try {
    if (command === 'status') printStatus(db, await migrationStatus(db));
    else if (command === 'resolve') {
      const name = values['rolled-back']!;
      await markMigrationRolledBack(db, name);
      console.log(`Marked ${name} rolled back in ${db.describe}. Fix its migration.sql, then deploy.`);
    } else {
      const applied = await deployMigrations(db, { logger: cliLogger });
      console.log(
        applied.length
          ? `Applied ${applied.length} migration(s) to ${db.describe}:\n${applied.map((n) => `  ${n}`).join('\n')}`
          : `${db.describe} is up to date.`,
      );
    }
  } finally {
    await db.close();
  }
  return 0;
}

/** deploy's warnings (an interrupted migration settled) on stderr; its progress stays quiet. */
const cliLogger = {
  debug() {},
  info() {},
  warn(fields: { migration?: string }, message?: string) {
    console.warn(`${fields.migration}: ${message}`);
  },
} as unknown as MigrateLogger;

function printStatus(db: Database, status: Awaited<ReturnType<typeof migrationStatus>>): void {
  const list = (names: string[]) => names.map((n) => `\n  ${n}`).join('');
  console.log(`Database: ${db.describe}`);
  console.log(`Applied: ${status.applied.length}${list(status.applied)}`);
  console.log(`Pending: ${status.pending.length}${list(status.pending)}`);
  const p = status.problems;
  if (p?.interrupted.length) console.log(`Interrupted by a process that died (the next deploy or server start settles them):${list(p.interrupted)}`);
  if (p?.failed.length) console.log(`Failed (fix, then \`npm run db:migrate:resolve -- --rolled-back NAME\` and deploy):${list(p.failed)}`);
  if (p?.edited.length) console.log(`Edited after being applied:${list(p.edited)}`);
  if (p?.missingLocally.length) console.log(`Applied but missing from prisma/migrations:${list(p.missingLocally)}`);
}

// PGlite and the wasm engine leave timers behind: exit explicitly either way.
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    const e = error as { code?: unknown; message?: unknown };
    console.error(typeof e.code === 'string' ? `${e.code}: ${String(e.message)}` : error);
    process.exit(1);
  },
);
