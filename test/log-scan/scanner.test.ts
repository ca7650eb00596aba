/**
 * The end-of-run secret scan can fail: planted secrets (registered or recognised by format)
 * are found, look-alikes are not, and the global setup's teardown throws with a report that
 * does not repeat the secret.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateApiToken } from '../../server/auth/api-tokens.ts';
import { randomToken } from '../../server/ids.ts';
import { LOG_FILE_SUFFIX, scanLines, SECRETS_FILE_SUFFIX } from '../helpers/log-scan.ts';
import setup from './global-setup.ts';

const line = (fields: Record<string, unknown>) => JSON.stringify({ level: 30, time: '2031-03-01T10:00:00.000Z', ...fields });

describe('scanLines', () => {
  it('finds a registered secret anywhere in a line, even glued to other URL characters', () => {
    const credential = randomToken();
    const findings = scanLines(
      'a.log',
      [line({ msg: 'ok' }), line({ msg: 'redirect', location: `https://ex.example/#lti_launch=${credential}&x=1` }), line({ url: `%3D${credential}` })],
      [{ kind: 'launch credential', secret: credential }],
    );
    expect(findings).toEqual([
      { file: 'a.log', line: 2, kind: 'launch credential', preview: `${credential.slice(0, 6)}…` },
      { file: 'a.log', line: 3, kind: 'launch credential', preview: `${credential.slice(0, 6)}…` },
    ]);
  });

  it('finds secrets with characters outside base64url by substring', () => {
    const secret = 'metrics token with spaces/and+slashes';
    expect(scanLines('a.log', [line({ header: `Bearer ${secret}` })], [{ kind: 'METRICS_TOKEN', secret }])).toHaveLength(1);
  });

  it('recognises API tokens, JWTs, private JWK members and PEM keys without registration', () => {
    const jwt = `eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJsZWFybmVyIn0.${randomBytes(64).toString('base64url')}`;
    const d = randomBytes(64).toString('base64url');
    const lines = [
      line({ authorization: `Bearer ${generateApiToken()}` }),
      line({ form: `id_token=${jwt}` }),
      line({ key: { kty: 'RSA', d } }),
      line({ nested: JSON.stringify({ kty: 'RSA', d }) }),
      line({ pem: '-----BEGIN PRIVATE KEY-----\nMII…' }),
    ];
    expect(scanLines('a.log', lines, []).map((f) => [f.line, f.kind])).toEqual([
      [1, 'API token'],
      [2, 'JWT'],
      [3, 'private JWK member'],
      [4, 'private JWK member'],
      [5, 'PEM private key'],
    ]);
  });

  it('leaves look-alikes alone: unregistered random ids, public JWK members, token prefixes', () => {
    const lines = [
      line({ kid: randomToken(), state: randomToken() }),
      line({ key: { kty: 'RSA', e: 'AQAB', n: randomBytes(256).toString('base64url') } }),
      line({ prefix: 'lmt_abcdef' }),
      line({ jwe: `eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..${randomToken()}.${randomToken()}.${randomToken()}` }),
    ];
    expect(scanLines('a.log', lines, [{ kind: 'launch credential', secret: randomToken() }])).toEqual([]);
  });
});

describe('the run teardown', () => {
  it('throws a report naming file, line and kind (never the secret) when a log holds a secret', () => {
    let dir = '';
    const teardown = setup({ provide: (_key: string, value: string) => (dir = value) } as never);
    const credential = randomToken();
    writeFileSync(join(dir, `1-planted${SECRETS_FILE_SUFFIX}`), `${JSON.stringify({ kind: 'launch credential', secret: credential })}\n`);
    writeFileSync(join(dir, `1-planted${LOG_FILE_SUFFIX}`), `${line({ msg: 'fine' })}\n${line({ msg: 'oops', credential })}\n`);
    let error: Error | undefined;
    try {
      teardown();
    } catch (err) {
      error = err as Error;
    }
    expect(error?.message).toMatch(/Secret scan: 1 secret\(s\) found/);
    expect(error?.message).toContain(`1-planted${LOG_FILE_SUFFIX}:2  launch credential`);
    expect(error?.message).not.toContain(credential);
    // Kept for inspection (a real run prints where).
    expect(readdirSync(dir)).toHaveLength(2);
    rmSync(dir, { recursive: true, force: true });
  });

  it('passes and cleans up when no secret appears', () => {
    let dir = '';
    const teardown = setup({ provide: (_key: string, value: string) => (dir = value) } as never);
    writeFileSync(join(dir, `1-clean${SECRETS_FILE_SUFFIX}`), `${JSON.stringify({ kind: 'launch credential', secret: randomToken() })}\n`);
    writeFileSync(join(dir, `1-clean${LOG_FILE_SUFFIX}`), `${line({ msg: 'fine' })}\n`);
    expect(() => teardown()).not.toThrow();
    expect(existsSync(dir)).toBe(false);
  });
});
