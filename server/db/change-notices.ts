import pg from 'pg';
import type { Logger } from '../logger.ts';

/**
 * Word between the server processes that share one PostgreSQL: "an owner changed something
 * you may have cached" (today: registrations, which logins and launches cache for a minute).
 * The process that made the change clears its own cache at once; this tells the others, so
 * they clear theirs within milliseconds instead of when their entries expire.
 *
 * Correctness never depends on it: every launch re-checks the registration in its write, and
 * the entries still expire. A lost notice only means the old behaviour — for up to a minute,
 * a login on another process may send the learner to the old Auth Login URL or Client ID.
 */
export interface ChangeNotices {
  /** Tells the other processes (after the change committed). Never throws: a failure is logged. */
  announce(): Promise<void>;
  /**
   * Calls `onChange` whenever another process announces a change, and whenever this process
   * may have missed one (its listening connection was lost and is back). Returns a stop
   * function.
   */
  listen(onChange: () => void): Promise<() => Promise<void>>;
  /** True while this process hears the others (PGlite: always; there are none). For the metrics. */
  readonly listening: boolean;
}

/** PGlite: one process per data directory (pglite-lock.ts), so there is no one to tell. */
export const NO_OTHER_PROCESSES: ChangeNotices = {
  announce: async () => {},
  listen: async () => async () => {},
  listening: true,
};

/** The channel name: fixed, so every version of the server hears every other. */
export const CHANGE_CHANNEL = 'lti_owner_changes';

export interface PgChangeNoticesOptions {
  /** Runs `SELECT pg_notify(…)` on any pooled connection. */
  notify: (channel: string) => Promise<unknown>;
  /** A new, unconnected client for the one long-lived LISTEN connection. */
  newClient: () => pg.Client;
  logger: Logger;
  /** Waits before reconnecting after a lost connection: doubling from the first, capped at the last. */
  reconnectDelaysMs?: { first: number; max: number };
}

/**
 * LISTEN/NOTIFY on a connection of its own per process (a pooled one would be handed to
 * other queries). PostgreSQL delivers a notification only to sessions listening when it is
 * committed, so while that connection is down notices are missed: on every reconnection the
 * cache is cleared, as if one had arrived. A connection pooler in transaction mode (e.g.
 * PgBouncer's) cannot carry LISTEN; the processes then keep to the entries' expiry
 * (docs/deployment.md).
 */
export function pgChangeNotices(options: PgChangeNoticesOptions): ChangeNotices {
  const { first, max } = options.reconnectDelaysMs ?? { first: 1_000, max: 30_000 };
  const log = options.logger;
  let listening = false;
  return {
    get listening() {
      return listening;
    },

    async announce() {
      try {
        await options.notify(CHANGE_CHANNEL);
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'could not tell the other processes about a change; their cached registrations expire within a minute');
      }
    },

    async listen(onChange) {
      let stopped = false;
      let client: pg.Client | undefined;
      let retry: NodeJS.Timeout | undefined;
      let delay = first;

      const connect = async (reconnecting: boolean): Promise<void> => {
        const next = options.newClient();
        client = next;
        // A client emits 'error' (and then 'end') when its connection breaks; unhandled, the
        // first would crash the process.
        next.on('error', (err) => log.warn({ err: err.message }, 'change notice connection failed'));
        next.on('end', () => {
          if (client === next) listening = false;
          if (stopped || client !== next) return;
          log.warn({ retryInMs: delay }, 'change notice connection lost; reconnecting');
          scheduleReconnect();
        });
        next.on('notification', (message) => {
          if (message.channel === CHANGE_CHANNEL) onChange();
        });
        try {
          await next.connect();
          await next.query(`LISTEN ${CHANGE_CHANNEL}`);
        } catch (err) {
          // Ended here, not lost: the caller logs the failure and retries (no 'end' warning).
          if (client === next) client = undefined;
          await next.end().catch(() => {});
          throw err;
        }
        if (stopped) {
          await next.end().catch(() => {});
          return;
        }
        listening = true;
        delay = first;
        // Changes announced while this process was deaf were not heard.
        if (reconnecting) {
          log.info('change notice connection back');
          onChange();
        }
      };

      const scheduleReconnect = (): void => {
        if (stopped || retry) return;
        retry = setTimeout(() => {
          retry = undefined;
          connect(true).catch(retryLater);
          delay = Math.min(max, delay * 2);
        }, delay);
        retry.unref();
      };

      const retryLater = (err: unknown): void => {
        log.warn({ err: (err as Error).message, retryInMs: delay }, 'change notice connection failed; retrying');
        scheduleReconnect();
      };

      // Starting without it is safe (entries expire): a failure here retries in the background.
      await connect(false).catch(retryLater);

      return async () => {
        stopped = true;
        listening = false;
        if (retry) clearTimeout(retry);
        await client?.end().catch(() => {});
      };
    },
  };
}
