/**
 * `npm run token -- <command>`: manage API tokens from the shell.
 *
 *   create [--name NAME] [--owner OWNER_ID]   new token for an owner (the only one, if there is one)
 *   create --new-owner "Display name"         new owner account with its first token
 *   list                                      owners and their tokens (never the secrets)
 *   revoke TOKEN_ID                           revoke a token at once
 *
 * Uses the same DATABASE_URL / PGLITE_DIR as the server. The embedded database can be
 * opened by one process at a time: stop the server first, or use the GraphQL API.
 */
import { parseArgs } from 'node:util';
import { issueApiToken } from '../auth/api-tokens.ts';
import { createOwner } from '../auth/bootstrap.ts';
import { ConfigError, loadConfig } from '../config.ts';
import { openDatabase, type Database } from '../db/client.ts';
import { deployMigrations } from '../db/migrate.ts';
import { LIMITS } from '../validation.ts';

const USAGE = `usage: npm run token -- create [--name NAME] [--owner OWNER_ID | --new-owner NAME]
       npm run token -- list
       npm run token -- revoke TOKEN_ID`;

class UsageError extends Error {}

async function create(db: Database, values: { name?: string; owner?: string; 'new-owner'?: string }) {
  const name = (values.name ?? 'cli token').trim();
  if (!name || name.length > LIMITS.name) throw new UsageError(`--name must be 1–${LIMITS.name} characters`);
  let ownerId = values.owner;
  if (values['new-owner'] !== undefined) {
    const ownerName = values['new-owner'].trim();
    if (!ownerName || ownerName.length > LIMITS.name) throw new UsageError('--new-owner needs a display name');
    const owner = await createOwner(db.prisma, ownerName);
    ownerId = owner.id;
    console.log(`Created owner ${ownerName} (${ownerId})${owner.isAdmin ? ', an administrator (the first owner)' : ''}.`);
  } else if (ownerId === undefined) {
    const owners = await db.prisma.owner.findMany({ select: { id: true }, take: 2 });
    if (owners.length !== 1) {
      throw new UsageError(
        owners.length === 0
          ? 'No owner yet: use --new-owner "Your name" (or start the server once).'
          : 'Several owners: choose one with --owner OWNER_ID (see `list`).',
      );
    }
    ownerId = owners[0]!.id;
  } else if (!(await db.prisma.owner.findUnique({ where: { id: ownerId } }))) {
    throw new UsageError(`No owner ${ownerId}`);
  }
  const { token } = await issueApiToken(db.prisma, ownerId, name);
  console.log(`New API token "${name}". It is shown only this once:\n\n  ${token}\n`);
}

async function list(db: Database) {
  const owners = await db.prisma.owner.findMany({
    orderBy: { id: 'asc' },
    include: { tokens: { orderBy: { id: 'asc' } } },
  });
  for (const owner of owners) {
    console.log(`${owner.name}  (owner ${owner.id})`);
    for (const t of owner.tokens) {
      const state = t.revokedAt ? `revoked ${t.revokedAt.toISOString()}` : 'active';
      const used = t.lastUsedAt ? `last used ${t.lastUsedAt.toISOString()}` : 'never used';
      console.log(`  ${t.id}  ${t.prefix}…  ${t.name}  ${state}, ${used}`);
    }
  }
}

async function revoke(db: Database, id: string | undefined) {
  if (!id) throw new UsageError('revoke needs a TOKEN_ID (see `list`)');
  const { count } = await db.prisma.apiToken.updateMany({
    where: { id, revokedAt: null },
    data: { revokedAt: new Date() },
  });
  if (count === 0 && !(await db.prisma.apiToken.findUnique({ where: { id } }))) {
    throw new UsageError(`No token ${id}`);
  }
  console.log(count === 0 ? `Token ${id} was already revoked.` : `Revoked token ${id}.`);
}

async function run(argv: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { name: { type: 'string' }, owner: { type: 'string' }, 'new-owner': { type: 'string' } },
    });
  } catch (err) {
    // An unknown or incomplete option (`--nmae`): a usage error, before anything runs.
    throw new UsageError(`${(err as Error).message}\n${USAGE}`);
  }
  const { positionals, values } = parsed;
  const [command, arg] = positionals;
  if (!['create', 'list', 'revoke'].includes(command ?? '')) throw new UsageError(USAGE);
  const config = loadConfig(process.env);
  const db = await openDatabase({ url: config.databaseUrl, pgliteDir: config.pgliteDir });
  try {
    await deployMigrations(db);
    if (command === 'create') await create(db, values);
    else if (command === 'list') await list(db);
    else await revoke(db, arg);
  } finally {
    await db.close();
  }
}

run(process.argv.slice(2)).then(
  // PGlite and the wasm engine leave timers behind: exit explicitly.
  () => process.exit(0),
  (err: unknown) => {
    if (err instanceof UsageError || err instanceof ConfigError) console.error(err.message);
    else console.error('token:', err instanceof Error ? err.message : err);
    // 2 for what the operator must change before anything can run (as `npm start` exits on bad config).
    process.exit(err instanceof UsageError || err instanceof ConfigError ? 2 : 1);
  },
);
