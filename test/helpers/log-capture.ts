import { Writable } from 'node:stream';
import type { LogLevel } from '../../server/config.ts';
import { createLogger, type Logger } from '../../server/logger.ts';

/**
 * A JSON-lines logger (the server's own, redaction included) whose lines a test can read, as
 * parsed objects, in the order they were written. pino writes synchronously to it.
 */
export function capturingLogger<Line = Record<string, unknown>>(level: LogLevel = 'debug'): { logger: Logger; lines: Line[] } {
  const lines: Line[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line) as Line);
      done();
    },
  });
  return { logger: createLogger(level, sink), lines };
}
