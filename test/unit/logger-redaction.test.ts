/**
 * The logger's redaction is defence in depth (nothing should log a secret in the first place):
 * the names that carry one are censored at the top of a line's fields and one level down.
 */
import { describe, expect, it } from 'vitest';
import { capturingLogger } from '../helpers/log-capture.ts';

function lineOf(fields: Record<string, unknown>): Record<string, unknown> {
  const { logger, lines } = capturingLogger('info');
  logger.info(fields, 'message');
  expect(lines).toHaveLength(1);
  return lines[0]!;
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
