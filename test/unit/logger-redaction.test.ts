/**
 * The logger's redaction is defence in depth (nothing should log a secret in the first place):
 * the names that carry one are censored at the top of a line's fields and one level down.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../server/logger.ts';

function lineOf(fields: Record<string, unknown>): Record<string, unknown> {
  let out = '';
  const sink = new Writable({
    write(chunk, _encoding, done) {
      out += String(chunk);
      done();
    },
  });
  // pino writes synchronously to a plain stream.
  createLogger('info', sink).info(fields, 'message');
  return JSON.parse(out) as Record<string, unknown>;
}

describe('log redaction', () => {
  it.each(['authorization', 'token', 'id_token', 'credential'])('%s, at the top and one level down', (name) => {
    const line = lineOf({ [name]: 'secret-value', nested: { [name]: 'secret-value', kept: 'visible' } });
    expect(line[name]).toBe('[redacted]');
    expect(line.nested).toEqual({ [name]: '[redacted]', kept: 'visible' });
    expect(JSON.stringify(line)).not.toContain('secret-value');
  });

  it('request headers: authorization', () => {
    const line = lineOf({ request: { headers: { authorization: 'Bearer secret-value', accept: 'text/html' } } });
    expect(line.request).toEqual({ headers: { authorization: '[redacted]', accept: 'text/html' } });
  });
});
