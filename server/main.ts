/**
 * The server's composition root: it reads the environment (through `loadConfig`), opens
 * the database and listens; everything it builds receives its dependencies. The command-line
 * tools in `server/cli/` are entry points of their own and read the environment the same way.
 */
import type { AddressInfo } from 'node:net';
import { createApp } from './app.ts';
import { ensureFirstOwner } from './auth/bootstrap.ts';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { openDatabase } from './db/client.ts';
import { createNodeServer } from './http/node-server.ts';
import { answerStarting } from './http/starting.ts';
import { deployMigrations } from './db/migrate.ts';
import { createLogger } from './logger.ts';
import { Metrics } from './metrics.ts';
import { GRAPHQL_PATH } from './graphql/yoga.ts';

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);

  const metrics = new Metrics();
  const db = await openDatabase({
    url: config.databaseUrl,
    pgliteDir: config.pgliteDir,
    onQuery: () => metrics.dbStatements.inc(),
  });
  logger.info({ database: db.describe }, 'database opened');
  // Logs what it applied (or that the schema is up to date) itself.
  await deployMigrations(db, { logger });

  const firstOwner = await ensureFirstOwner(db.prisma);

  // Listen first: with PORT=0 and no PUBLIC_URL, the public URL depends on the port we get.
  let handler: ReturnType<typeof createApp>['nodeHandler'] | undefined;
  // Until the app is built, answer 503 (a load balancer's or a restarted widget's request may
  // arrive in this window; calling the missing handler would crash the process).
  const server = createNodeServer((req, res) => {
    if (handler) return void handler(req, res);
    answerStarting(res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  const publicUrl = process.env.PUBLIC_URL?.trim() ? config.publicUrl : `http://localhost:${port}`;
  const app = createApp({ ...config, publicUrl }, { db, logger, metrics });
  await app.toolKeys.ensureKey();
  // Before the first request: so no login (an unauthenticated request) is ever the one that writes it.
  await app.loginStateKey.get();
  const stopJobs = app.startBackgroundJobs();
  handler = app.nodeHandler;
  logger.info({ host: config.host, port, publicUrl }, 'listening');

  const lines = [
    `LTI micro-apps server listening on http://${config.host}:${port}`,
    `  GraphQL API:  ${publicUrl}${GRAPHQL_PATH}  (Authorization: Bearer <api token>)`,
    `  LTI keyset:   ${publicUrl}/lti/jwks  (each app's launch and login URLs: App.ltiTool)`,
    `  Health:       ${publicUrl}/healthz`,
    `  Database:     ${db.describe}`,
  ];
  if (firstOwner) {
    lines.push(
      '',
      'First start: created an owner account and its API token. It is shown only this once:',
      '',
      `  ${firstOwner.token}`,
      '',
      'Make more with `npm run token -- create`.',
    );
  }
  console.log(lines.join('\n'));

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    server.close();
    await stopJobs();
    server.closeAllConnections();
    await db.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err: unknown) => {
  console.error('Failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});
