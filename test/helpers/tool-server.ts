import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp, type App } from '../../server/app.ts';
import type { Config } from '../../server/config.ts';
import type { Database } from '../../server/db/client.ts';
import type { DeliveryPolicy } from '../../server/grades/delivery-worker.ts';
import type { FetchLike } from '../../server/http/limited-fetch.ts';
import { createNodeServer } from '../../server/http/node-server.ts';
import type { Logger } from '../../server/logger.ts';
import { LOOPBACK_NETWORKS, registerConfigSecrets, testConfig } from './server.ts';
import { createTestLogger } from './test-logger.ts';
import type { RefusalAuditLimits } from '../../server/lti/refusal-audit.ts';

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
    /** Throttle of the refused-launch audit trail. */
    refusalAuditLimits?: Partial<RefusalAuditLimits>;
  } = {},
): Promise<ToolServer> {
  let handler: App['nodeHandler'] | undefined;
  // The same server settings as main.ts (header size limit).
  const server: Server = createNodeServer((req, res) => void handler!(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const baseUrl = `http://localhost:${port}`;
  // The test platform listens on loopback: the tool may reach it, explicitly (a test may narrow it).
  const config = testConfig({ outboundAllowedNetworks: LOOPBACK_NETWORKS, ...options.config, publicUrl: baseUrl });
  registerConfigSecrets(config);
  const app = createApp(config, {
    db,
    logger: options.logger ?? createTestLogger(),
    ...(options.now ? { now: options.now } : {}),
    ...(options.deliveryPolicy ? { deliveryPolicy: options.deliveryPolicy } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.refusalAuditLimits ? { refusalAuditLimits: options.refusalAuditLimits } : {}),
  });
  await app.toolKeys.ensureKey();
  await app.loginStateKey.get();
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
