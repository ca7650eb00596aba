import { pino, type Logger as PinoLogger } from 'pino';
import type { LogLevel } from './config.ts';

/**
 * The logging surface the server depends on (pino's, so it can be passed straight in).
 * Context travels in child loggers passed down explicitly: app.ts makes one per request
 * (`reqId`), background jobs one per job (`job`) and per grade (`gradeId`). Components that
 * log on most calls get a child with their `component` from the caller; those that log
 * rarely take the caller's logger and add their `component` only when they log.
 */
export type Logger = Pick<PinoLogger, 'debug' | 'info' | 'warn' | 'error' | 'child'>;

export function createLogger(level: LogLevel, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      // Defence in depth: secrets must never be logged in the first place.
      redact: {
        // At the top of a log line's fields and one level down (e.g. in `err`, `request`).
        paths: [
          'authorization',
          'token',
          'id_token',
          'credential',
          '*.authorization',
          '*.token',
          '*.id_token',
          '*.credential',
          '*.headers.authorization',
        ],
        censor: '[redacted]',
      },
    },
    destination as never,
  );
}

/** A logger that drops everything (tests, CLIs). */
export function createSilentLogger(): Logger {
  return pino({ level: 'silent' });
}
