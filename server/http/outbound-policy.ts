/**
 * Which IP addresses outbound requests may reach. Keyset, token and score URLs are
 * supplied by dashboard users (registrations) and by platforms (the AGS line item in an
 * id_token), so without this check anyone with an API token could make the server call
 * its own loopback services, the cloud metadata endpoint (169.254.169.254) or the
 * school's internal network, and read answers back through error messages.
 *
 * Public unicast addresses are always allowed. Every special-use range (loopback,
 * private, link-local, CGNAT, multicast, documentation, tunnels, …) is refused unless the
 * operator lists a network that contains it in OUTBOUND_ALLOWED_NETWORKS — an allowlist
 * of CIDRs, so an on-premises LMS at 10.20.0.0/16 can be reached without opening the
 * whole private address space. The unspecified address (0.0.0.0, ::) is never allowed:
 * connecting to it reaches this host, which would sidestep a narrow allowlist.
 */
import { isIP } from 'node:net';

export type AddressClass =
  | 'public'
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'shared'
  | 'multicast'
  | 'broadcast'
  | 'documentation'
  | 'benchmarking'
  | 'tunnel'
  | 'reserved';

export interface AddressInfo {
  class: AddressClass;
  /** The special-use range the address falls in, e.g. `169.254.0.0/16`; absent for public addresses. */
  range?: string;
  /** For IPv4 embedded in IPv6 (mapped, NAT64): the IPv4 address the packets really go to. */
  embeddedV4?: string;
}

export interface Cidr {
  family: 4 | 6;
  /** The network address as an integer (32 or 128 bits). */
  network: bigint;
  prefix: number;
  /** Canonical text, e.g. `10.20.0.0/16`. */
  text: string;
}

const V4_BITS = 32;
const V6_BITS = 128;

/** Parses a dotted-quad IPv4 address (as node's `isIP` accepts it) to a 32-bit integer. */
function parseV4(ip: string): bigint {
  return ip.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

/** Parses an IPv6 address (with `::`, an optional trailing dotted quad and zone) to a 128-bit integer. */
function parseV6(ip: string): bigint {
  const address = ip.replace(/%.*$/, '');
  const expand = (side: string): number[] => {
    if (side === '') return [];
    const groups: number[] = [];
    for (const part of side.split(':')) {
      if (part.includes('.')) {
        const v4 = Number(parseV4(part));
        groups.push(v4 >>> 16, v4 & 0xffff);
      } else {
        groups.push(parseInt(part, 16));
      }
    }
    return groups;
  };
  const [head, tail] = address.split('::') as [string, string | undefined];
  const left = expand(head);
  const right = tail === undefined ? [] : expand(tail);
  const groups = tail === undefined ? left : [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}

function v4Text(n: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((n >> s) & 0xffn)).join('.');
}

function v6Text(n: bigint): string {
  const groups = Array.from({ length: 8 }, (_, i) => Number((n >> BigInt(112 - 16 * i)) & 0xffffn));
  // Longest run of zero groups (length ≥ 2) becomes `::`, as RFC 5952 asks.
  let best = { start: -1, len: 0 };
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.len && j - i >= 2) best = { start: i, len: j - i };
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.start < 0) return hex.join(':');
  return `${hex.slice(0, best.start).join(':')}::${hex.slice(best.start + best.len).join(':')}`;
}

/** `10.0.0.0/8`, `fe80::/10`, or a single address (`192.0.2.7` = /32, `::1` = /128). */
export function parseCidr(text: string): Cidr | { error: string } {
  const trimmed = text.trim();
  const [ip, prefixText, ...rest] = trimmed.split('/');
  if (rest.length > 0 || !ip) return { error: `"${trimmed}" is not an address or CIDR range` };
  const family = isIP(ip);
  if (family !== 4 && family !== 6) return { error: `"${trimmed}" is not an IPv4 or IPv6 address or CIDR range` };
  if (ip.includes('%')) return { error: `"${trimmed}" must not carry a zone index` };
  const bits = family === 4 ? V4_BITS : V6_BITS;
  const prefix = prefixText === undefined ? bits : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : Number.NaN;
  if (!(prefix >= 0 && prefix <= bits)) return { error: `"${trimmed}" has an invalid prefix length (0 to ${bits})` };
  const value = family === 4 ? parseV4(ip) : parseV6(ip);
  const network = value & mask(bits, prefix);
  const canonical = `${family === 4 ? v4Text(network) : v6Text(network)}/${prefix}`;
  if (network !== value) {
    return { error: `"${trimmed}" has address bits set beyond its /${prefix} prefix; did you mean ${canonical}?` };
  }
  return { family, network, prefix, text: canonical };
}

function mask(bits: number, prefix: number): bigint {
  const all = (1n << BigInt(bits)) - 1n;
  return prefix === 0 ? 0n : (all >> BigInt(bits - prefix)) << BigInt(bits - prefix);
}

function cidr(text: string): Cidr {
  const parsed = parseCidr(text);
  if ('error' in parsed) throw new TypeError(parsed.error);
  return parsed;
}

function contains(range: Cidr, family: 4 | 6, value: bigint): boolean {
  const bits = family === 4 ? V4_BITS : V6_BITS;
  return range.family === family && (value & mask(bits, range.prefix)) === range.network;
}

/** IANA special-purpose registries (RFC 6890 and successors); first match wins. */
const V4_RANGES: ReadonlyArray<readonly [Cidr, AddressClass]> = (
  [
    ['0.0.0.0/8', 'unspecified'],
    ['10.0.0.0/8', 'private'],
    ['100.64.0.0/10', 'shared'],
    ['127.0.0.0/8', 'loopback'],
    ['169.254.0.0/16', 'link-local'],
    ['172.16.0.0/12', 'private'],
    ['192.0.0.0/24', 'reserved'],
    ['192.0.2.0/24', 'documentation'],
    ['192.88.99.0/24', 'tunnel'],
    ['192.168.0.0/16', 'private'],
    ['198.18.0.0/15', 'benchmarking'],
    ['198.51.100.0/24', 'documentation'],
    ['203.0.113.0/24', 'documentation'],
    ['224.0.0.0/4', 'multicast'],
    ['255.255.255.255/32', 'broadcast'],
    ['240.0.0.0/4', 'reserved'],
  ] as const
).map(([r, c]) => [cidr(r), c] as const);

const V6_RANGES: ReadonlyArray<readonly [Cidr, AddressClass]> = (
  [
    ['::/128', 'unspecified'],
    ['::1/128', 'loopback'],
    // ::ffff:0:0/96 (mapped) and 64:ff9b::/96 (NAT64) are classified by their IPv4 part.
    ['::ffff:0:0:0/96', 'reserved'], // SIIT IPv4-translated
    ['::/96', 'reserved'], // IPv4-compatible, deprecated
    ['64:ff9b:1::/48', 'private'], // local-use NAT64
    ['100::/64', 'reserved'], // discard-only
    ['2001::/32', 'tunnel'], // Teredo
    ['2001:2::/48', 'benchmarking'],
    ['2001::/23', 'reserved'], // IETF protocol assignments
    ['2001:db8::/32', 'documentation'],
    ['2002::/16', 'tunnel'], // 6to4: reaches the IPv4 address it embeds
    ['3fff::/20', 'documentation'],
    ['5f00::/16', 'reserved'], // SRv6 SIDs
    ['fc00::/7', 'private'], // unique local
    ['fe80::/10', 'link-local'],
    ['fec0::/10', 'private'], // site-local, deprecated
    ['ff00::/8', 'multicast'],
  ] as const
).map(([r, c]) => [cidr(r), c] as const);

const V4_MAPPED = cidr('::ffff:0:0/96');
const NAT64 = cidr('64:ff9b::/96');
const GLOBAL_UNICAST = cidr('2000::/3');

function classifyV4(value: bigint): AddressInfo {
  for (const [range, cls] of V4_RANGES) if (contains(range, 4, value)) return { class: cls, range: range.text };
  return { class: 'public' };
}

function classifyV6(value: bigint): AddressInfo {
  for (const embedding of [V4_MAPPED, NAT64]) {
    if (contains(embedding, 6, value)) {
      const v4 = value & 0xffffffffn;
      const inner = classifyV4(v4);
      return { ...inner, ...(inner.range ? { range: `${inner.range} via ${embedding.text}` } : {}), embeddedV4: v4Text(v4) };
    }
  }
  for (const [range, cls] of V6_RANGES) if (contains(range, 6, value)) return { class: cls, range: range.text };
  if (!contains(GLOBAL_UNICAST, 6, value)) return { class: 'reserved', range: 'outside 2000::/3' };
  return { class: 'public' };
}

/** Classifies a literal IPv4 or IPv6 address; throws TypeError for anything else. */
export function classifyAddress(ip: string): AddressInfo {
  const family = isIP(ip);
  if (family === 4) return classifyV4(parseV4(ip));
  if (family === 6) return classifyV6(parseV6(ip));
  throw new TypeError(`not an IP address: ${ip}`);
}

export type AddressVerdict = { allowed: true } | { allowed: false; info: AddressInfo; reason: string };

/** Strips the brackets a URL puts around an IPv6 host. */
export function bareHost(hostname: string): string {
  return hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
}

function isLocalhostName(host: string): boolean {
  return host === 'localhost' || host.endsWith('.localhost') || host === 'localhost.';
}

/**
 * The decision for one address, built once from the configured allowlist.
 *
 * @example
 * const policy = new OutboundPolicy(['10.20.0.0/16']);
 * policy.check('10.20.1.5');        // { allowed: true }
 * policy.check('169.254.169.254');  // { allowed: false, reason: 'link-local address 169.254.169.254 (169.254.0.0/16)', … }
 */
export class OutboundPolicy {
  readonly #allowed: readonly Cidr[];

  constructor(allowedNetworks: readonly string[] = []) {
    this.#allowed = allowedNetworks.map(cidr);
  }

  /** The allowlist as configured (canonical CIDRs). */
  get allowedNetworks(): readonly string[] {
    return this.#allowed.map((c) => c.text);
  }

  check(ip: string): AddressVerdict {
    const info = classifyAddress(ip);
    if (info.class === 'public') return { allowed: true };
    const reason = `${info.class} address ${ip} (${info.range})`;
    if (info.class === 'unspecified') return { allowed: false, info, reason };
    const family = isIP(ip) as 4 | 6;
    const candidates: Array<[4 | 6, bigint]> = [[family, family === 4 ? parseV4(ip) : parseV6(ip)]];
    if (info.embeddedV4) candidates.push([4, parseV4(info.embeddedV4)]);
    const listed = this.#allowed.some((range) => candidates.some(([f, v]) => contains(range, f, v)));
    return listed ? { allowed: true } : { allowed: false, info, reason };
  }

  /** True when the host of a URL is loopback (a literal loopback IP or a `localhost` name). */
  isLoopbackHost(hostname: string): boolean {
    const host = bareHost(hostname);
    if (isLocalhostName(host)) return true;
    return isIP(host) !== 0 && classifyAddress(host).class === 'loopback';
  }

  /**
   * Save-time check of a URL the server will fetch (or send browsers to on the platform's
   * behalf): a literal address or a `localhost` name must pass `check`, and plain http is
   * accepted only for an allowed loopback host. DNS names are checked when connecting,
   * because what they resolve to can change after saving. Returns a user-facing problem.
   */
  urlProblem(url: URL): string | undefined {
    const host = bareHost(url.hostname);
    const literal = isIP(host) !== 0 ? host : isLocalhostName(host) ? '127.0.0.1' : undefined;
    if (literal !== undefined) {
      const verdict = this.check(literal);
      if (!verdict.allowed) {
        return `Points at a ${verdict.info.class} address (${verdict.info.range}), which this server does not contact. Use the platform's public https URL, or ask the server's operator to list the network in OUTBOUND_ALLOWED_NETWORKS.`;
      }
    }
    if (url.protocol === 'http:' && !this.isLoopbackHost(host)) {
      // Same words as InputChecker.url's: a loopback host that is not allowed was refused above.
      return 'Must use https (plain http is allowed only for localhost).';
    }
    return undefined;
  }
}
