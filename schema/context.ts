import type { PrismaClient } from '../server/generated/prisma/client.ts';
import type { Logger } from '../server/logger.ts';
import type { ToolKeys } from '../server/lti/tool-keys.ts';
import type { OutboundPolicy } from '../server/http/outbound-policy.ts';

/** Per-request context. Every GraphQL request is authenticated before it gets here. */
export interface GraphQLContext {
  prisma: PrismaClient;
  viewer: { ownerId: string; tokenId: string };
  /** External base URL (config.publicUrl): the LTI tab's URLs are built from it. */
  publicUrl: string;
  now: () => Date;
  logger: Logger;
  toolKeys: ToolKeys;
  /** Which addresses registration URLs may point at (config.outboundAllowedNetworks). */
  outboundPolicy: OutboundPolicy;
  onGradeQueued: () => void;
  /** App.failedGradeCount for a page of apps in one statement (batched-load.ts). */
  failedGradeCount: (appId: string) => Promise<number>;
}
