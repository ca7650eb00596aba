/**
 * The default outbound fetch against a real HTTP server on 127.0.0.1: refused by the
 * production policy (literal address, `localhost`, a name that rebinds to loopback),
 * reached when loopback is allowed, and still bounded by fetchTextLimited's caps.
 */
import type { LookupAddress } from 'node:dns';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchTextLimited, OutboundError } from '../../server/http/limited-fetch.ts';
import { createOutboundFetch, type Resolver } from '../../server/http/outbound-fetch.ts';
import { OutboundPolicy } from '../../server/http/outbound-policy.ts';
import { LOOPBACK_NETWORKS } from '../helpers/server.ts';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

let server: Server;
let port: number;
const seen: Seen[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString('utf8')));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      if (req.url === '/redirect') {
        res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
      } else if (req.url === '/huge') {
        // No content-length: only counting the streamed bytes can stop this.
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        const chunk = Buffer.alloc(16 * 1024, 'x');
        let sent = 0;
        const more = () => {
          while (sent < 4 * 1024 * 1024 && !res.destroyed) {
            sent += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', more);
          }
          res.end();
        };
        more();
      } else if (req.url === '/silent') {
        // Never answers: the caller's AbortSignal must end the request.
      } else if (req.url === '/empty') {
        res.writeHead(204).end();
      } else {
        res.writeHead(200, { 'content-type': 'application/json', 'set-cookie': ['a=1', 'b=2'] });
        res.end(JSON.stringify({ ok: true }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
});

const strict = () => createOutboundFetch({ policy: new OutboundPolicy() });
const loopbackAllowed = () => createOutboundFetch({ policy: new OutboundPolicy(LOOPBACK_NETWORKS) });

async function refusal(promise: Promise<unknown>): Promise<OutboundError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OutboundError);
  expect((err as OutboundError).code).toBe('ERR_OUTBOUND_FORBIDDEN_ADDRESS');
  return err as OutboundError;
}

describe('the default policy (public addresses only)', () => {
  it('refuses a server on 127.0.0.1 without sending it anything', async () => {
    const before = seen.length;
    const err = await refusal(strict()(`http://127.0.0.1:${port}/keys`));
    expect(err.message).toBe('127.0.0.1 is not reachable from this server: it is a loopback address 127.0.0.1 (127.0.0.0/8)');
    expect(seen.length).toBe(before);
  });

  it('refuses `localhost` when connecting (the name resolves to loopback)', async () => {
    const before = seen.length;
    const err = await refusal(strict()(`http://localhost:${port}/keys`));
    expect(err.message).toMatch(/^localhost is not reachable from this server: it resolves to a loopback address (127\.0\.0\.1|::1)/);
    expect(seen.length).toBe(before);
  });

  it('refuses a name that resolved to a public address when saved and to 127.0.0.1 when fetched (DNS rebinding)', async () => {
    const answers: LookupAddress[][] = [[{ address: '93.184.215.14', family: 4 }], [{ address: '127.0.0.1', family: 4 }]];
    const calls: string[] = [];
    const resolve: Resolver = async (hostname) => {
      calls.push(hostname);
      return answers.shift() ?? [];
    };
    const policy = new OutboundPolicy();
    const url = `http://lms.rebind.test:${port}/keys`;
    // When saved, a name is not resolved at all; its first answer was public anyway.
    expect(policy.urlProblem(new URL(url.replace('http:', 'https:')))).toBeUndefined();
    expect(policy.check((await resolve('lms.rebind.test'))[0]!.address)).toEqual({ allowed: true });
    const before = seen.length;
    const err = await refusal(createOutboundFetch({ policy, resolve })(url));
    expect(err.message).toContain('lms.rebind.test is not reachable from this server: it resolves to a loopback address 127.0.0.1');
    expect(calls).toEqual(['lms.rebind.test', 'lms.rebind.test']);
    expect(seen.length).toBe(before);
  });

  it('refuses a name with one private address among public ones', async () => {
    const resolve: Resolver = async () => [
      { address: '93.184.215.14', family: 4 },
      { address: '10.1.2.3', family: 4 },
    ];
    const err = await refusal(createOutboundFetch({ policy: new OutboundPolicy(), resolve })('https://mixed.test/keys'));
    expect(err.message).toContain('private address 10.1.2.3 (10.0.0.0/8)');
  });

  it.each([
    ['http://169.254.169.254/latest/meta-data/', 'link-local address 169.254.169.254 (169.254.0.0/16)'],
    ['http://[::ffff:169.254.169.254]/latest/meta-data/', 'link-local address ::ffff:a9fe:a9fe (169.254.0.0/16 via ::ffff:0:0/96)'],
    ['http://[fd00:ec2::254]/latest/meta-data/', 'private address fd00:ec2::254 (fc00::/7)'],
    ['https://0x7f000001/', 'loopback address 127.0.0.1 (127.0.0.0/8)'],
    ['https://0.0.0.0/', 'unspecified address 0.0.0.0 (0.0.0.0/8)'],
  ])('refuses %s (cloud metadata and friends)', async (url, reason) => {
    const err = await refusal(strict()(url));
    expect(err.message).toContain(reason);
  });

  it('refuses schemes other than http and https', async () => {
    const err = await refusal(strict()('file:///etc/passwd'));
    expect(err.message).toContain('only http and https');
  });

  it('keeps the refusal code through fetchTextLimited (not a generic network error)', async () => {
    const err = await fetchTextLimited(strict(), `http://127.0.0.1:${port}/`, { method: 'GET' }, { timeoutMs: 5000, maxBytes: 1024 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'ERR_OUTBOUND_FORBIDDEN_ADDRESS' });
  });
});

describe('with loopback allowed', () => {
  it('reaches the server by address and by `localhost`, and returns status, headers and body', async () => {
    const fetch = loopbackAllowed();
    for (const host of ['127.0.0.1', 'localhost']) {
      const res = await fetch(`http://${host}:${port}/keys?x=1`, { headers: { accept: 'application/json' } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/json');
      expect(res.headers.get('set-cookie')).toBe('a=1, b=2');
      expect(await res.json()).toEqual({ ok: true });
      expect(seen.at(-1)).toMatchObject({ method: 'GET', url: '/keys?x=1', headers: { accept: 'application/json' } });
    }
  });

  it('sends form bodies with their content type and length', async () => {
    const res = await loopbackAllowed()(`http://127.0.0.1:${port}/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'a b' }),
    });
    expect(res.status).toBe(200);
    await res.body?.cancel();
    expect(seen.at(-1)).toMatchObject({
      method: 'POST',
      body: 'grant_type=client_credentials&scope=a+b',
      headers: { 'content-type': 'application/x-www-form-urlencoded;charset=UTF-8', 'content-length': '39' },
    });
  });

  it('does not follow redirects (a 3xx comes back as it is)', async () => {
    const res = await loopbackAllowed()(`http://127.0.0.1:${port}/redirect`);
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('http://169.254.169.254/latest/meta-data/');
  });

  it('answers a body-less status without a body', async () => {
    const res = await loopbackAllowed()(`http://127.0.0.1:${port}/empty`);
    expect(res.status).toBe(204);
    expect(res.body).toBeNull();
  });

  it('streams the body, so the size cap stops an endless answer', async () => {
    const err = await fetchTextLimited(loopbackAllowed(), `http://127.0.0.1:${port}/huge`, { method: 'GET' }, {
      timeoutMs: 10_000,
      maxBytes: 64 * 1024,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'ERR_OUTBOUND_TOO_LARGE' });
  });

  it('honours the AbortSignal (a server that never answers)', async () => {
    const err = await fetchTextLimited(loopbackAllowed(), `http://127.0.0.1:${port}/silent`, { method: 'GET' }, {
      timeoutMs: 200,
      maxBytes: 1024,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'ERR_OUTBOUND_TIMEOUT' });
  });

  it('still refuses other special-use addresses', async () => {
    await refusal(loopbackAllowed()('http://10.0.0.1/keys'));
    await refusal(loopbackAllowed()('http://169.254.169.254/'));
  });
});
