import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp, type App } from '../../server/app.ts';
import type { Config } from '../../server/config.ts';
import type { Database } from '../../server/db/client.ts';
import { createSilentLogger, type Logger } from '../../server/logger.ts';
import { testConfig } from './server.ts';

export interface ToolServer {
  app: App;
  /** http://localhost:<port> — also the tool's PUBLIC_URL. */
  baseUrl: string;
  close(): Promise<void>;
}

/** Our server over real HTTP on port 0, with PUBLIC_URL = its own loopback URL. */
export async function startToolServer(
  db: Database,
  options: { config?: Partial<Config>; logger?: Logger; now?: () => Date } = {},
): Promise<ToolServer> {
  let handler: App['nodeHandler'] | undefined;
  const server: Server = createServer((req, res) => void handler!(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const baseUrl = `http://localhost:${port}`;
  const app = createApp(testConfig({ ...options.config, publicUrl: baseUrl }), {
    db,
    logger: options.logger ?? createSilentLogger(),
    ...(options.now ? { now: options.now } : {}),
  });
  await app.toolKeys.ensureKey();
  handler = app.nodeHandler;
  return {
    app,
    baseUrl,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
