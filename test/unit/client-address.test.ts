import { describe, expect, it } from 'vitest';
import { clientAddress, normalizeAddress } from '../../server/http/client-address.ts';

describe('normalizeAddress: IPv4-mapped IPv6 in any spelling is its IPv4 address', () => {
  it.each([
    ['::ffff:c633:6401', '198.51.100.1'],
    ['::FFFF:C633:6401', '198.51.100.1'],
    ['0:0:0:0:0:ffff:198.51.100.1', '198.51.100.1'],
    ['0:0:0:0:0:ffff:c633:6401', '198.51.100.1'],
    ['::0:ffff:198.51.100.1', '198.51.100.1'],
    ['[::ffff:c633:6401]:443', '198.51.100.1'],
  ])('%s → %s', (raw, key) => {
    expect(normalizeAddress(raw)).toBe(key);
  });

  it('two IPv4 clients written in the hex form by a trusted proxy do not share one bucket', () => {
    const a = clientAddress('10.0.0.5', '::ffff:c633:6401', 1);
    const b = clientAddress('10.0.0.5', '::ffff:cb00:7107', 1);
    expect(a).toBe('198.51.100.1');
    expect(b).toBe('203.0.113.7');
  });

  it('other addresses near the mapped range stay IPv6 /64 keys', () => {
    // SIIT IPv4-translated (::ffff:0:a.b.c.d) and IPv4-compatible are not mapped addresses.
    expect(normalizeAddress('::ffff:0:c633:6401')).toBe('0:0:0:0::/64');
    expect(normalizeAddress('::c633:6401')).toBe('0:0:0:0::/64');
    expect(normalizeAddress('1::ffff:c633:6401')).toBe('1:0:0:0::/64');
  });
});
