import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp, type App } from '../../server/app.ts';
import type { Config } from '../../server/config.ts';
import type { Database } from '../../server/db/client.ts';
import type { DeliveryPolicy } from '../../server/grades/delivery-worker.ts';
import type { FetchLike } from '../../server/http/limited-fetch.ts';
import { createSilentLogger, type Logger } from '../../server/logger.ts';
import { LOOPBACK_NETWORKS, testConfig } from './server.ts';

export interface ToolServer {
  app: App;
  /** http://localhost:<port> — also the tool's PUBLIC_URL. */
  baseUrl: string;
  /** Stops the grade delivery worker (if started) and the HTTP server. */
  close(): Promise<void>;
}

/**
 * Our server over real HTTP on port 0, with PUBLIC_URL = its own loopback URL and
 * OUTBOUND_ALLOWED_NETWORKS = loopback (the test platform's address).
 */
export async function startToolServer(
  db: Database,
  options: {
    config?: Partial<Config>;
    logger?: Logger;
    now?: () => Date;
    /** Grade delivery timing (short backoffs and timeouts for fault tests). */
    deliveryPolicy?: Partial<DeliveryPolicy>;
    /** Outbound HTTP of the tool (keysets, token and score endpoints). */
    fetch?: FetchLike;
  } = {},
): Promise<ToolServer> {
  let handler: App['nodeHandler'] | undefined;
  const server: Server = createServer((req, res) => void handler!(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const baseUrl = `http://localhost:${port}`;
  // The test platform listens on loopback: the tool may reach it, explicitly (a test may narrow it).
  const app = createApp(testConfig({ outboundAllowedNetworks: LOOPBACK_NETWORKS, ...options.config, publicUrl: baseUrl }), {
    db,
    logger: options.logger ?? createSilentLogger(),
    ...(options.now ? { now: options.now } : {}),
    ...(options.deliveryPolicy ? { deliveryPolicy: options.deliveryPolicy } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  await app.toolKeys.ensureKey();
  handler = app.nodeHandler;
  return {
    app,
    baseUrl,
    async close() {
      await app.deliveryWorker.stop();
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}
