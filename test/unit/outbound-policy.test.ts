import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { classifyAddress, OutboundPolicy, parseCidr, type AddressClass } from '../../server/http/outbound-policy.ts';

describe('classifyAddress', () => {
  it.each<[string, AddressClass, string | undefined]>([
    // IPv4
    ['0.0.0.0', 'unspecified', '0.0.0.0/8'],
    ['0.1.2.3', 'unspecified', '0.0.0.0/8'],
    ['10.0.0.1', 'private', '10.0.0.0/8'],
    ['10.255.255.255', 'private', '10.0.0.0/8'],
    ['100.64.0.1', 'shared', '100.64.0.0/10'],
    ['100.127.255.254', 'shared', '100.64.0.0/10'],
    ['127.0.0.1', 'loopback', '127.0.0.0/8'],
    ['127.255.255.254', 'loopback', '127.0.0.0/8'],
    ['169.254.169.254', 'link-local', '169.254.0.0/16'],
    ['172.16.0.1', 'private', '172.16.0.0/12'],
    ['172.31.255.255', 'private', '172.16.0.0/12'],
    ['192.0.0.8', 'reserved', '192.0.0.0/24'],
    ['192.0.2.1', 'documentation', '192.0.2.0/24'],
    ['192.88.99.1', 'tunnel', '192.88.99.0/24'],
    ['192.168.1.1', 'private', '192.168.0.0/16'],
    ['198.18.0.1', 'benchmarking', '198.18.0.0/15'],
    ['198.19.255.255', 'benchmarking', '198.18.0.0/15'],
    ['198.51.100.7', 'documentation', '198.51.100.0/24'],
    ['203.0.113.9', 'documentation', '203.0.113.0/24'],
    ['224.0.0.1', 'multicast', '224.0.0.0/4'],
    ['239.255.255.250', 'multicast', '224.0.0.0/4'],
    ['240.0.0.1', 'reserved', '240.0.0.0/4'],
    ['255.255.255.255', 'broadcast', '255.255.255.255/32'],
    // Neighbours of special ranges are public.
    ['9.255.255.255', 'public', undefined],
    ['11.0.0.0', 'public', undefined],
    ['100.63.255.255', 'public', undefined],
    ['100.128.0.0', 'public', undefined],
    ['126.255.255.255', 'public', undefined],
    ['128.0.0.0', 'public', undefined],
    ['169.253.255.255', 'public', undefined],
    ['172.15.255.255', 'public', undefined],
    ['172.32.0.0', 'public', undefined],
    ['192.167.255.255', 'public', undefined],
    ['192.169.0.0', 'public', undefined],
    ['223.255.255.255', 'public', undefined],
    ['8.8.8.8', 'public', undefined],
    ['1.1.1.1', 'public', undefined],
    // IPv6
    ['::', 'unspecified', '::/128'],
    ['::1', 'loopback', '::1/128'],
    ['0:0:0:0:0:0:0:1', 'loopback', '::1/128'],
    ['::ffff:127.0.0.1', 'loopback', '127.0.0.0/8 via ::ffff:0:0/96'],
    ['::ffff:7f00:1', 'loopback', '127.0.0.0/8 via ::ffff:0:0/96'],
    ['::ffff:169.254.169.254', 'link-local', '169.254.0.0/16 via ::ffff:0:0/96'],
    ['::ffff:10.1.2.3', 'private', '10.0.0.0/8 via ::ffff:0:0/96'],
    ['::ffff:0.0.0.0', 'unspecified', '0.0.0.0/8 via ::ffff:0:0/96'],
    ['::ffff:8.8.8.8', 'public', undefined],
    ['::127.0.0.1', 'reserved', '::/96'],
    ['::8.8.8.8', 'reserved', '::/96'],
    ['::ffff:0:7f00:1', 'reserved', '::ffff:0:0:0/96'],
    ['64:ff9b::127.0.0.1', 'loopback', '127.0.0.0/8 via 64:ff9b::/96'],
    ['64:ff9b::a9fe:a9fe', 'link-local', '169.254.0.0/16 via 64:ff9b::/96'],
    ['64:ff9b::c0a8:101', 'private', '192.168.0.0/16 via 64:ff9b::/96'],
    ['64:ff9b::8.8.8.8', 'public', undefined],
    ['64:ff9b:1::1', 'private', '64:ff9b:1::/48'],
    ['100::1', 'reserved', '100::/64'],
    ['2001::1', 'tunnel', '2001::/32'],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'tunnel', '2001::/32'],
    ['2001:2::1', 'benchmarking', '2001:2::/48'],
    ['2001:10::1', 'reserved', '2001::/23'],
    ['2001:db8::1', 'documentation', '2001:db8::/32'],
    ['2002:7f00:1::1', 'tunnel', '2002::/16'],
    ['2002:808:808::1', 'tunnel', '2002::/16'],
    ['3fff::1', 'documentation', '3fff::/20'],
    ['5f00::1', 'reserved', '5f00::/16'],
    ['fc00::1', 'private', 'fc00::/7'],
    ['fd12:3456:789a::1', 'private', 'fc00::/7'],
    ['fe80::1', 'link-local', 'fe80::/10'],
    ['fe80::1%eth0', 'link-local', 'fe80::/10'],
    ['febf:ffff::1', 'link-local', 'fe80::/10'],
    ['fec0::1', 'private', 'fec0::/10'],
    ['ff02::1', 'multicast', 'ff00::/8'],
    ['4000::1', 'reserved', 'outside 2000::/3'],
    ['1::1', 'reserved', 'outside 2000::/3'],
    ['2606:4700:4700::1111', 'public', undefined],
    ['2a00:1450:4001:82a::200e', 'public', undefined],
    ['2001:200::1', 'public', undefined],
  ])('%s is %s (%s)', (ip, cls, range) => {
    const info = classifyAddress(ip);
    expect(info.class).toBe(cls);
    expect(info.range).toBe(range);
  });

  it('refuses non-addresses', () => {
    for (const bad of ['localhost', '127.1', '0x7f.0.0.1', '', '1.2.3.4.5', '[::1]']) {
      expect(() => classifyAddress(bad)).toThrow(TypeError);
    }
  });

  it('agrees with the IPv4 rules for every IPv4-mapped and NAT64 address', () => {
    const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
    fc.assert(
      fc.property(v4, (ip) => {
        const plain = classifyAddress(ip).class;
        expect(classifyAddress(`::ffff:${ip}`).class).toBe(plain);
        expect(classifyAddress(`64:ff9b::${ip}`).class).toBe(plain);
      }),
    );
  });
});

describe('parseCidr', () => {
  it.each([
    ['10.20.0.0/16', '10.20.0.0/16'],
    [' 127.0.0.1 ', '127.0.0.1/32'],
    ['::1', '::1/128'],
    ['FD00::/8', 'fd00::/8'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['2001:0db8:0000:0000:0001:0000:0000:0000/80', '2001:db8:0:0:1::/80'],
    ['2001:0DB8:0000::/32', '2001:db8::/32'],
  ])('%s is %s', (text, canonical) => {
    expect(parseCidr(text)).toMatchObject({ text: canonical });
  });

  it.each([
    ['10.20.0.1/16', 'did you mean 10.20.0.0/16'],
    ['10.0.0.0/33', 'invalid prefix length'],
    ['::/129', 'invalid prefix length'],
    ['10.0.0.0/-1', 'invalid prefix length'],
    ['10.0.0.0/', 'invalid prefix length'],
    ['lms.example.org', 'not an IPv4 or IPv6 address'],
    ['10.0.0.0/8/8', 'not an address'],
    ['fe80::1%eth0', 'zone index'],
    ['', 'not an address'],
  ])('refuses %s (%s)', (text, says) => {
    const parsed = parseCidr(text);
    expect(parsed).toHaveProperty('error');
    expect((parsed as { error: string }).error).toContain(says);
  });
});

describe('OutboundPolicy', () => {
  it('by default allows public addresses only', () => {
    const policy = new OutboundPolicy();
    expect(policy.check('93.184.215.14')).toEqual({ allowed: true });
    expect(policy.check('2606:4700:4700::1111')).toEqual({ allowed: true });
    for (const ip of ['127.0.0.1', '::1', '10.0.0.1', '169.254.169.254', '::ffff:127.0.0.1', '64:ff9b::a00:1', 'fd00::1']) {
      expect(policy.check(ip)).toMatchObject({ allowed: false });
    }
    expect(policy.check('169.254.169.254')).toMatchObject({
      allowed: false,
      reason: 'link-local address 169.254.169.254 (169.254.0.0/16)',
    });
  });

  it('allows exactly the listed networks, including their IPv4-mapped and NAT64 forms', () => {
    const policy = new OutboundPolicy(['10.20.0.0/16', '::1/128']);
    expect(policy.check('10.20.255.1').allowed).toBe(true);
    expect(policy.check('::ffff:10.20.0.9').allowed).toBe(true);
    expect(policy.check('64:ff9b::10.20.0.9').allowed).toBe(true);
    expect(policy.check('::1').allowed).toBe(true);
    expect(policy.check('10.21.0.1').allowed).toBe(false);
    expect(policy.check('127.0.0.1').allowed).toBe(false);
    expect(policy.check('169.254.169.254').allowed).toBe(false);
  });

  it('never allows the unspecified address, even under a catch-all list', () => {
    const policy = new OutboundPolicy(['0.0.0.0/0', '::/0']);
    expect(policy.check('10.0.0.1').allowed).toBe(true);
    expect(policy.check('0.0.0.0')).toMatchObject({ allowed: false, info: { class: 'unspecified' } });
    expect(policy.check('::')).toMatchObject({ allowed: false, info: { class: 'unspecified' } });
    expect(policy.check('::ffff:0.0.0.0').allowed).toBe(false);
  });

  it('refuses a malformed allowlist entry (config validation runs first)', () => {
    expect(() => new OutboundPolicy(['10.0.0.1/8'])).toThrow(TypeError);
  });

  describe('urlProblem (save-time check of registration URLs)', () => {
    const strict = new OutboundPolicy();
    const loopback = new OutboundPolicy(['127.0.0.0/8', '::1/128']);
    it.each([
      ['https://lms.example.org/keys', strict, undefined],
      ['https://93.184.215.14/keys', strict, undefined],
      // DNS names are checked when connecting, not here.
      ['https://internal.example.org/keys', strict, undefined],
      ['http://lms.example.org/keys', strict, 'Must use https'],
      ['https://localhost/keys', strict, 'loopback address'],
      ['http://localhost:8000/keys', strict, 'loopback address'],
      ['https://[::1]/keys', strict, 'loopback address'],
      ['https://127.1/keys', strict, 'loopback address'],
      ['https://169.254.169.254/', strict, 'link-local address'],
      ['https://[::ffff:a9fe:a9fe]/', strict, 'link-local address'],
      ['http://localhost:8000/keys', loopback, undefined],
      ['http://127.0.0.1:8000/keys', loopback, undefined],
      ['http://[::1]:8000/keys', loopback, undefined],
      ['http://lms.example.org/keys', loopback, 'Must use https'],
      ['https://10.0.0.1/keys', loopback, 'private address (10.0.0.0/8)'],
    ])('%s', (url, policy, says) => {
      const problem = policy.urlProblem(new URL(url));
      if (says === undefined) expect(problem).toBeUndefined();
      else expect(problem).toContain(says);
    });
  });
});
