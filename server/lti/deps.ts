import type { SqlRunner } from '../db/sql-runner.ts';
import type { PrismaClient } from '../generated/prisma/client.ts';
import type { Logger } from '../logger.ts';
import type { LoginStateKey } from './login-state-key.ts';
import type { PlatformKeysets } from './platform-keysets.ts';
import type { RegistrationCache } from './registration-cache.ts';

export interface LtiDeps {
  prisma: PrismaClient;
  /** The launch path's own statements (driver-level, see server/db/sql-runner.ts). */
  sql: SqlRunner;
  /** Config.publicUrl: our origin for target_link_uri, and the base of our URLs. */
  publicUrl: string;
  now: () => Date;
  /** The request's logger for this module's lines (`component: 'lti'`, its reqId). */
  logger: Logger;
  /** The request's logger, for what the request makes other components log (a keyset fetch). */
  requestLogger: Logger;
  keysets: PlatformKeysets;
  /** Registrations this process read recently; a launch re-checks them in its write. */
  registrations: RegistrationCache;
  /** Authenticates the login state cookie (sealed-login.ts); the same in every process. */
  loginStateKey: LoginStateKey;
  /** How long a login may take between initiation and launch. */
  loginStateTtlMs: number;
  /** How long the exercise page may use its launch credential. */
  launchCredentialTtlMs: number;
  /** Leeway for exp/iat/nbf, for clock skew between platform and tool. */
  clockToleranceSeconds: number;
}
