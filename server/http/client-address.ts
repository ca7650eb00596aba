import { isIP } from 'node:net';

/**
 * Who is asking, for rate limits: the socket's peer address, or — only when the operator
 * says `TRUST_PROXY` hops of proxies stand in front — the address the outermost trusted
 * proxy saw, read from `X-Forwarded-For` counting from the right. Entries further left were
 * written by the client and are ignored, so a spoofed header changes nothing.
 *
 *   clientAddress('10.0.0.5', '6.6.6.6, 203.0.113.7', 1) // '203.0.113.7' (the proxy at 10.0.0.5 added it)
 *   clientAddress('10.0.0.5', '6.6.6.6, 203.0.113.7', 0) // '10.0.0.5'   (no proxy trusted)
 */
export function clientAddress(socketAddress: string | undefined, forwardedFor: string | null, trustedHops: number): string {
  const socket = normalizeAddress(socketAddress ?? '') ?? 'unknown';
  if (trustedHops <= 0 || !forwardedFor) return socket;
  const hops = forwardedFor
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (hops.length === 0) return socket;
  // With fewer entries than trusted hops, the leftmost is the furthest any proxy saw.
  const entry = hops[Math.max(0, hops.length - trustedHops)]!;
  return normalizeAddress(entry) ?? `invalid:${entry.slice(0, 64)}`;
}

/**
 * The rate-limit key of an address: IPv4 as is (IPv4-mapped IPv6 too), IPv6 by its /64 —
 * one home or phone gets a whole /64, so single addresses would be free to rotate.
 * Accepts the `host:port` and `[v6]:port` forms some proxies write. Undefined if not an IP.
 */
export function normalizeAddress(raw: string): string | undefined {
  let s = raw.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(s);
  if (bracketed) s = bracketed[1]!;
  else if (/^[\d.]+:\d+$/.test(s)) s = s.slice(0, s.lastIndexOf(':'));
  s = s.replace(/%.*$/, ''); // zone index (fe80::1%eth0)
  const version = isIP(s);
  if (version === 4) return s;
  if (version !== 6) return undefined;
  const groups = expandIpv6(s);
  // IPv4-mapped (::ffff:0:0/96) in any spelling (`::ffff:1.2.3.4`, `::ffff:102:304`,
  // `0:0:0:0:0:ffff:…`): by its IPv4 address, or every IPv4 client would share one /64.
  if (groups.slice(0, 5).every((g) => g === '0') && groups[5] === 'ffff') {
    const [hi, lo] = [parseInt(groups[6]!, 16), parseInt(groups[7]!, 16)];
    return [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff].join('.');
  }
  return `${groups.slice(0, 4).join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address, as lowercase hex without leading zeros. */
function expandIpv6(address: string): string[] {
  let text = address.toLowerCase();
  // A trailing dotted IPv4 part (::ffff:1.2.3.4 handled above; others like 64:ff9b::1.2.3.4).
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const zeros = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...zeros, ...right].map((g) => parseInt(g, 16).toString(16));
}
