import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import type { SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { PrismaClient } from '../generated/prisma/client.ts';
import type { Logger } from '../logger.ts';
import { NO_OTHER_PROCESSES, pgChangeNotices, type ChangeNotices } from './change-notices.ts';
import { isPostgresUrl } from './connection-url.ts';
import { lockPgliteDir } from './pglite-lock.ts';
import { pgliteSqlRunner, pgSqlRunner, type SqlRunner } from './sql-runner.ts';

export type DatabaseKind = 'pglite' | 'postgresql';

/** What the rest of the server gets: a Prisma client plus what migrations need. */
export interface Database {
  kind: DatabaseKind;
  prisma: PrismaClient;
  /** The hot path's few statements, straight on the driver (see sql-runner.ts). */
  sql: SqlRunner;
  /** The driver adapter factory, shared by the client and the migration engine. */
  adapterFactory: SqlMigrationAwareDriverAdapterFactory;
  /** Human-readable location without credentials, for logs. */
  describe: string;
  /** PostgreSQL only: the connection string, for the migration lock's own connection. */
  url?: string;
  /** Word to and from the other server processes on this database (change-notices.ts). */
  changeNotices(logger: Logger): ChangeNotices;
  close(): Promise<void>;
}

export interface DatabaseTarget {
  /** `postgres://…`/`postgresql://…` selects PostgreSQL. */
  url?: string | undefined;
  /** PGlite data directory; `memory://` keeps it in memory (tests). */
  pgliteDir?: string | undefined;
  /** Restore a PGlite instance from a `dumpDataDir()` tarball (tests). */
  pgliteLoadDataDir?: Blob | undefined;
  /** Pool size for PostgreSQL. */
  poolMax?: number | undefined;
  /** Called with the SQL of every statement the client runs (tests count writes with it). */
  onQuery?: ((sql: string) => void) | undefined;
}


/** Strips the password from a connection string for logging. */
export function redactDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    // pg also takes the password (and a client key's passphrase) as query parameters.
    for (const name of ['password', 'sslpassword']) if (u.searchParams.has(name)) u.searchParams.set(name, '***');
    return u.toString();
  } catch {
    return 'postgresql://(unparseable url)';
  }
}

function createPrismaClient(
  adapter: SqlMigrationAwareDriverAdapterFactory,
  onQuery: ((sql: string) => void) | undefined,
): PrismaClient {
  if (!onQuery) return new PrismaClient({ adapter });
  const prisma = new PrismaClient({ adapter, log: [{ emit: 'event', level: 'query' }] });
  prisma.$on('query', (event) => onQuery(event.query));
  return prisma;
}

export async function openDatabase(target: DatabaseTarget): Promise<Database> {
  if (isPostgresUrl(target.url)) {
    const poolMax = target.poolMax ?? 10;
    // The adapter makes its own pool per connect() and ends it on dispose: the migration
    // engine relies on that to drop the session advisory lock it takes (a shared, long-lived
    // pool would keep that connection, and the lock, for the next process to time out on).
    const adapterFactory = new PrismaPg({ connectionString: target.url, max: poolMax });
    // The hot statements' own small pool; their plans are cached per connection.
    const pool = new pg.Pool({ connectionString: target.url, max: Math.max(2, Math.ceil(poolMax / 2)) });
    pool.on('error', () => {
      // An idle connection dropped by the server: the pool replaces it on the next query.
    });
    const prisma = createPrismaClient(adapterFactory, target.onQuery);
    return {
      kind: 'postgresql',
      prisma,
      sql: pgSqlRunner(pool, target.onQuery),
      adapterFactory,
      describe: redactDatabaseUrl(target.url),
      url: target.url,
      changeNotices: (logger) =>
        pgChangeNotices({
          notify: async (channel) => {
            await pool.query('SELECT pg_notify($1, NULL)', [channel]);
            target.onQuery?.('SELECT pg_notify($1, NULL)');
          },
          newClient: () => new pg.Client({ connectionString: target.url }),
          logger,
        }),
      async close() {
        await prisma.$disconnect();
        await pool.end();
      },
    };
  }
  const dir = target.pgliteDir ?? './data/pglite';
  let unlock = () => {};
  if (!dir.startsWith('memory://')) {
    mkdirSync(dir, { recursive: true });
    // One process per directory (see pglite-lock.ts); also released when the process exits
    // without closing (process.exit after a signal or a failed start).
    const release = lockPgliteDir(dir);
    process.once('exit', release);
    unlock = () => {
      process.off('exit', release);
      release();
    };
  }
  let pglite: PGlite;
  try {
    pglite = await PGlite.create({
      dataDir: dir,
      ...(target.pgliteLoadDataDir ? { loadDataDir: target.pgliteLoadDataDir } : {}),
    });
  } catch (err) {
    unlock();
    throw err;
  }
  const adapterFactory = new PrismaPGlite(pglite);
  const prisma = createPrismaClient(adapterFactory, target.onQuery);
  return {
    kind: 'pglite',
    prisma,
    sql: pgliteSqlRunner(pglite, target.onQuery),
    adapterFactory,
    describe: `pglite:${dir}`,
    changeNotices: () => NO_OTHER_PROCESSES,
    async close() {
      try {
        await prisma.$disconnect();
        await pglite.close();
      } finally {
        unlock();
      }
    },
    // Exposed for tests that snapshot a migrated database.
    ...({ pglite } as object),
  };
}
