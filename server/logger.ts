import { pino, type Logger as PinoLogger } from 'pino';
import type { LogLevel } from './config.ts';
import { currentLogContext } from './log-context.ts';

/** The logging surface the server depends on (pino's, so it can be passed straight in). */
export type Logger = Pick<PinoLogger, 'debug' | 'info' | 'warn' | 'error' | 'child'>;

export function createLogger(level: LogLevel, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      // reqId (or job/gradeId) on every line, child loggers included: see log-context.ts.
      mixin: () => currentLogContext() ?? {},
      // Defence in depth: secrets must never be logged in the first place.
      redact: {
        paths: ['*.authorization', '*.token', '*.id_token', '*.headers.authorization'],
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
