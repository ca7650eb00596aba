/**
 * The server's default outbound `FetchLike`: node:http/node:https with the address check
 * done at connect time, on the addresses the socket actually connects to. Checking a URL's
 * host name before fetching is not enough: a name can resolve to a public address when
 * checked and to 127.0.0.1 a moment later (DNS rebinding). Here the resolver runs inside
 * the connection, so the address checked is the address used.
 *
 * Only http and https; redirects are never followed (a 3xx comes back as it is); the body
 * is streamed, so `fetchTextLimited`'s size cap still stops reading early; the
 * AbortSignal ends the request and the body stream.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { Readable } from 'node:stream';
import { OutboundError, type FetchLike } from './limited-fetch.ts';
import { bareHost, type OutboundPolicy } from './outbound-policy.ts';

/** Resolves a host name to all its addresses (tests substitute one to simulate rebinding). */
export type Resolver = (hostname: string) => Promise<LookupAddress[]>;

export interface OutboundFetchOptions {
  policy: OutboundPolicy;
  resolve?: Resolver;
}

const systemResolver: Resolver = (hostname) =>
  new Promise((resolve, reject) => dnsLookup(hostname, { all: true, verbatim: true }, (err, addresses) => (err ? reject(err) : resolve(addresses))));

/** Statuses whose responses have no body (the web `Response` refuses one). */
const NULL_BODY_STATUS = new Set([101, 204, 205, 304]);

function forbidden(host: string, reason: string): OutboundError {
  return new OutboundError('ERR_OUTBOUND_FORBIDDEN_ADDRESS', `${host} is not reachable from this server: ${reason}`);
}

/**
 * @example
 * const fetch = createOutboundFetch({ policy: new OutboundPolicy(config.outboundAllowedNetworks) });
 * await fetchTextLimited(fetch, keysetUrl, { method: 'GET' }, { timeoutMs: 5000, maxBytes: 256 * 1024 });
 */
export function createOutboundFetch({ policy, resolve = systemResolver }: OutboundFetchOptions): FetchLike {
  // Own agents: a pooled socket was checked by this policy when it connected, never by another.
  const agents = { 'http:': new http.Agent({ keepAlive: true }), 'https:': new https.Agent({ keepAlive: true }) };

  /** net's `lookup` hook: every resolved address must pass, or the connection is refused. */
  const lookup: LookupFunction = (hostname, options, callback) => {
    resolve(hostname).then(
      (addresses) => {
        const wanted = options.family === 4 || options.family === 6 ? addresses.filter((a) => a.family === options.family) : addresses;
        if (wanted.length === 0) {
          callback(Object.assign(new Error(`${hostname} has no usable address`), { code: 'ENOTFOUND' }), '', 4);
          return;
        }
        // A name with one refused address is refused as a whole: which address a client
        // tries first is not ours to predict, and a mixed answer is a sign of tampering.
        for (const a of wanted) {
          const verdict = policy.check(a.address);
          if (!verdict.allowed) {
            callback(forbidden(hostname, `it resolves to a ${verdict.reason}`), '', 4);
            return;
          }
        }
        if (options.all) (callback as unknown as (err: null, all: LookupAddress[]) => void)(null, wanted);
        else callback(null, wanted[0]!.address, wanted[0]!.family);
      },
      (err: Error) => callback(err as NodeJS.ErrnoException, '', 4),
    );
  };

  return async (input, init = {}) => {
    let url: URL;
    try {
      url = new URL(input);
    } catch {
      throw new TypeError(`not an absolute URL: ${input}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new OutboundError('ERR_OUTBOUND_FORBIDDEN_ADDRESS', `only http and https URLs are fetched, not ${url.protocol}`);
    }
    if (url.username || url.password) throw new TypeError('URLs with credentials are not fetched');
    const host = bareHost(url.hostname);
    // A literal address never reaches `lookup`: check it here.
    if (isIP(host) !== 0) {
      const verdict = policy.check(host);
      if (!verdict.allowed) throw forbidden(host, `it is a ${verdict.reason}`);
    }
    const signal = init.signal ?? undefined;
    signal?.throwIfAborted();
    // Request normalises every BodyInit (string, URLSearchParams, bytes) and its content-type.
    const normalised = new Request(url, { method: init.method ?? 'GET', headers: init.headers, body: init.body ?? null });
    const body = normalised.body ? Buffer.from(await normalised.arrayBuffer()) : undefined;
    const headers: Record<string, string> = Object.fromEntries(normalised.headers);
    if (body) headers['content-length'] = String(body.byteLength);

    return new Promise<Response>((resolvePromise, reject) => {
      const request = (url.protocol === 'https:' ? https : http).request(url, {
        method: normalised.method,
        headers,
        agent: agents[url.protocol as 'http:' | 'https:'],
        lookup,
        ...(signal ? { signal } : {}),
      });
      request.on('error', (err) => reject(err instanceof OutboundError ? err : (signal?.aborted ? signal.reason : err)));
      request.once('response', (res) => {
        const status = res.statusCode ?? 0;
        if (status < 200 || status > 599) {
          res.destroy();
          reject(new OutboundError('ERR_OUTBOUND_NETWORK', `unexpected HTTP status ${status}`));
          return;
        }
        const responseHeaders = new Headers();
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) responseHeaders.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
        const noBody = NULL_BODY_STATUS.has(status) || normalised.method === 'HEAD';
        if (noBody) res.resume();
        resolvePromise(
          new Response(noBody ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), {
            status,
            statusText: res.statusMessage ?? '',
            headers: responseHeaders,
          }),
        );
      });
      request.end(body);
    });
  };
}
