import { sqlTimestamp as ts } from '../db/sql.ts';
import type { PrismaClient } from '../generated/prisma/client.ts';
import { uuidv7 } from '../ids.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { LTI_ERRORS, type LtiErrorCode } from './errors.ts';

export type LtiRouteKind = 'login' | 'launch';

export interface RefusalAuditLimits {
  /** Rows stored per (app, code) per window; the rest are dropped (counted in metrics). */
  perAppAndCode: number;
  /** Distinct (app, code) pairs tracked per window: bounds memory under a flood of random app ids. */
  maxKeys: number;
  windowMs: number;
}

export const DEFAULT_REFUSAL_AUDIT_LIMITS: RefusalAuditLimits = { perAppAndCode: 10, maxKeys: 1000, windowMs: 60_000 };

/**
 * In-process fixed-window throttle. Per process by design: N replicas may store N times
 * the limit, which still bounds the table's growth rate.
 */
export class RefusalThrottle {
  readonly #limits: RefusalAuditLimits;
  #window = -1;
  readonly #counts = new Map<string, number>();

  constructor(limits: RefusalAuditLimits) {
    this.#limits = limits;
  }

  /** True if one more refusal of `code` for `appId` may be stored now. */
  admit(appId: string, code: string, nowMs: number): boolean {
    const window = Math.floor(nowMs / this.#limits.windowMs);
    if (window !== this.#window) {
      this.#window = window;
      this.#counts.clear();
    }
    const key = `${appId} ${code}`;
    const count = this.#counts.get(key);
    if (count === undefined && this.#counts.size >= this.#limits.maxKeys) return false;
    if ((count ?? 0) >= this.#limits.perAppAndCode) return false;
    this.#counts.set(key, (count ?? 0) + 1);
    return true;
  }
}

export interface RefusalAuditDeps {
  prisma: PrismaClient;
  now: () => Date;
  metrics: Metrics;
  limits?: Partial<RefusalAuditLimits>;
}

/**
 * Stores refused logins and launches of existing apps for their owners (GraphQL
 * App.launchRefusals). Only the refusal path calls it: a successful launch runs no extra
 * statement. It never throws: the learner's error page must not depend on the audit.
 */
export class RefusalAudit {
  readonly #d: RefusalAuditDeps;
  readonly #throttle: RefusalThrottle;

  constructor(deps: RefusalAuditDeps) {
    this.#d = deps;
    this.#throttle = new RefusalThrottle({ ...DEFAULT_REFUSAL_AUDIT_LIMITS, ...deps.limits });
  }

  /**
   * Returns the stored row's id, or undefined when nothing was stored (unknown app, throttled, failed).
   * `logger` is the refused request's: a failed write is logged with its reqId.
   */
  async record(route: LtiRouteKind, appId: string, code: LtiErrorCode, registrationId: unknown, logger: Logger): Promise<string | undefined> {
    // The app does not exist: nothing to attach the refusal to, and nothing to write.
    if (code === 'ERR_LTI_UNKNOWN_APP') return undefined;
    const now = this.#d.now();
    if (!this.#throttle.admit(appId, code, now.getTime())) {
      this.#d.metrics.refusalsDropped.inc({ reason: 'throttled' });
      return undefined;
    }
    const id = uuidv7(now.getTime());
    const registration = typeof registrationId === 'string' ? registrationId : null;
    try {
      // One statement that writes nothing for an unknown app id (the URL is the only source
      // of it, so anyone can invent one), and keeps a registration only if it is this app's.
      const count = await this.#d.prisma.$executeRaw`
        INSERT INTO "LaunchRefusal" ("id", "appId", "registrationId", "route", "code", "reason", "createdAt")
        SELECT ${id}, a."id", r."id", CAST(${route.toUpperCase()} AS "LtiRoute"), ${code}, ${LTI_ERRORS[code][1]}, ${ts(now)}
        FROM "App" a
        LEFT JOIN "LtiRegistration" r ON r."id" = CAST(${registration} AS text) AND r."appId" = a."id"
        WHERE a."id" = ${appId}`;
      return count === 1 ? id : undefined;
    } catch (err) {
      this.#d.metrics.refusalsDropped.inc({ reason: 'error' });
      logger.child({ component: 'refusal-audit' }).warn({ err, appId, code }, 'launch refusal not recorded');
      return undefined;
    }
  }
}
