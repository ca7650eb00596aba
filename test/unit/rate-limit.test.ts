import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { clientAddress, normalizeAddress } from '../../server/http/client-address.ts';
import { RateLimiter } from '../../server/http/rate-limit.ts';

function clock(start = 1_700_000_000_000) {
  const c = { ms: start, nowMs: () => c.ms, advance: (ms: number) => (c.ms += ms) };
  return c;
}

describe('RateLimiter', () => {
  it('allows a burst of perMinute, then refuses with the seconds until the next request', () => {
    const c = clock();
    const limiter = new RateLimiter({ perMinute: 60, nowMs: c.nowMs });
    for (let i = 0; i < 60; i++) expect(limiter.take('a')).toEqual({ allowed: true });
    expect(limiter.take('a')).toEqual({ allowed: false, retryAfterSeconds: 1, firstRefusal: true });
    expect(limiter.take('a')).toEqual({ allowed: false, retryAfterSeconds: 1, firstRefusal: false });
  });

  it('says how long to wait when the rate is slow', () => {
    const c = clock();
    const limiter = new RateLimiter({ perMinute: 2, nowMs: c.nowMs });
    limiter.take('a');
    limiter.take('a');
    expect(limiter.take('a')).toMatchObject({ allowed: false, retryAfterSeconds: 30 });
    c.advance(29_000);
    expect(limiter.take('a')).toMatchObject({ allowed: false, retryAfterSeconds: 1 });
    c.advance(1_000);
    expect(limiter.take('a')).toEqual({ allowed: true });
  });

  it('refills with the injected clock, never above the burst', () => {
    const c = clock();
    const limiter = new RateLimiter({ perMinute: 6, nowMs: c.nowMs });
    for (let i = 0; i < 6; i++) limiter.take('a');
    expect(limiter.take('a').allowed).toBe(false);
    c.advance(10_000); // one request per 10 s
    expect(limiter.take('a').allowed).toBe(true);
    expect(limiter.take('a').allowed).toBe(false);
    c.advance(3_600_000);
    for (let i = 0; i < 6; i++) expect(limiter.take('a').allowed).toBe(true);
    expect(limiter.take('a').allowed).toBe(false);
  });

  it('a new episode of refusals is reported as first again', () => {
    const c = clock();
    const limiter = new RateLimiter({ perMinute: 1, nowMs: c.nowMs });
    limiter.take('a');
    expect(limiter.take('a')).toMatchObject({ firstRefusal: true });
    expect(limiter.take('a')).toMatchObject({ firstRefusal: false });
    c.advance(60_000);
    expect(limiter.take('a').allowed).toBe(true);
    expect(limiter.take('a')).toMatchObject({ firstRefusal: true });
  });

  it('keeps keys apart', () => {
    const c = clock();
    const limiter = new RateLimiter({ perMinute: 3, nowMs: c.nowMs });
    for (let i = 0; i < 3; i++) limiter.take('a');
    expect(limiter.take('a').allowed).toBe(false);
    expect(limiter.take('b').allowed).toBe(true);
  });

  it('a clock that steps back earns nothing', () => {
    const c = clock();
    const limiter = new RateLimiter({ perMinute: 1, nowMs: c.nowMs });
    limiter.take('a');
    c.advance(-3_600_000);
    expect(limiter.take('a').allowed).toBe(false);
  });

  it('perMinute 0 is off', () => {
    const limiter = new RateLimiter({ perMinute: 0, nowMs: () => 0 });
    for (let i = 0; i < 1000; i++) expect(limiter.take('a').allowed).toBe(true);
    expect(limiter.size).toBe(0);
  });

  it('refuses a nonsense configuration', () => {
    expect(() => new RateLimiter({ perMinute: -1, nowMs: () => 0 })).toThrow(TypeError);
    expect(() => new RateLimiter({ perMinute: 1.5, nowMs: () => 0 })).toThrow(TypeError);
    expect(() => new RateLimiter({ perMinute: 1, maxKeys: 0, nowMs: () => 0 })).toThrow(TypeError);
  });

  it('never tracks more than maxKeys, however many distinct keys arrive', () => {
    const c = clock();
    const limiter = new RateLimiter({ perMinute: 5, maxKeys: 100, nowMs: c.nowMs });
    for (let i = 0; i < 100_000; i++) {
      limiter.take(`flood-${i}`);
      expect(limiter.size).toBeLessThanOrEqual(100);
    }
    expect(limiter.size).toBe(100);
  });

  it('a busy key keeps its state while a flood of other keys passes (least recently used go first)', () => {
    const c = clock();
    const limiter = new RateLimiter({ perMinute: 5, maxKeys: 50, nowMs: c.nowMs });
    for (let i = 0; i < 5; i++) limiter.take('busy');
    for (let i = 0; i < 1_000; i++) {
      limiter.take(`flood-${i}`);
      // The busy client keeps asking, so it stays among the recently used and stays limited.
      if (i % 10 === 0) expect(limiter.take('busy').allowed).toBe(false);
    }
  });

  it('forgets idle keys once their buckets have refilled', () => {
    const c = clock();
    const limiter = new RateLimiter({ perMinute: 10, nowMs: c.nowMs });
    for (let i = 0; i < 500; i++) limiter.take(`k-${i}`);
    expect(limiter.size).toBe(500);
    c.advance(60_000);
    for (let i = 0; i < 300; i++) limiter.take('active');
    expect(limiter.size).toBe(1);
  });

  it('property: over any schedule, a key is allowed at most burst + elapsed × rate requests', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 120 }), fc.array(fc.integer({ min: 0, max: 5_000 }), { maxLength: 300 }), (perMinute, gaps) => {
        const c = clock();
        const limiter = new RateLimiter({ perMinute, nowMs: c.nowMs });
        let allowed = 0;
        for (const gap of gaps) {
          c.advance(gap);
          const d = limiter.take('k');
          if (d.allowed) allowed++;
          else expect(d.retryAfterSeconds).toBeGreaterThanOrEqual(1);
        }
        const elapsed = gaps.reduce((a, b) => a + b, 0);
        expect(allowed).toBeLessThanOrEqual(perMinute + Math.floor((elapsed * perMinute) / 60_000) + 1);
      }),
    );
  });
});

describe('clientAddress', () => {
  it('ignores X-Forwarded-For unless proxies are trusted', () => {
    expect(clientAddress('10.0.0.5', '6.6.6.6', 0)).toBe('10.0.0.5');
    expect(clientAddress('10.0.0.5', '6.6.6.6, 203.0.113.7', 0)).toBe('10.0.0.5');
  });

  it('reads the entry the outermost trusted proxy wrote, counting from the right', () => {
    // A client sent "X-Forwarded-For: 6.6.6.6"; proxy 1 appended what it saw, 203.0.113.7.
    expect(clientAddress('10.0.0.5', '6.6.6.6, 203.0.113.7', 1)).toBe('203.0.113.7');
    // Two proxies: the CDN saw 198.51.100.9, the load balancer saw the CDN (192.0.2.1).
    expect(clientAddress('10.0.0.5', '6.6.6.6, 198.51.100.9, 192.0.2.1', 2)).toBe('198.51.100.9');
    // Fewer entries than hops: the leftmost is the furthest any proxy saw.
    expect(clientAddress('10.0.0.5', '198.51.100.9', 3)).toBe('198.51.100.9');
  });

  it('falls back to the socket without a header, and names a missing socket', () => {
    expect(clientAddress('10.0.0.5', null, 1)).toBe('10.0.0.5');
    expect(clientAddress('10.0.0.5', ' , ', 1)).toBe('10.0.0.5');
    expect(clientAddress(undefined, null, 0)).toBe('unknown');
  });

  it('keeps garbage from a trusted position apart from real addresses, bounded in size', () => {
    expect(clientAddress('10.0.0.5', `1.2.3.4, ${'x'.repeat(5000)}`, 1)).toBe(`invalid:${'x'.repeat(64)}`);
  });

  it('property: without trusted proxies, no header value changes the answer', () => {
    fc.assert(fc.property(fc.string(), (header) => clientAddress('192.0.2.10', header, 0) === '192.0.2.10'));
  });
});

describe('normalizeAddress', () => {
  it.each([
    ['203.0.113.7', '203.0.113.7'],
    ['203.0.113.7:51234', '203.0.113.7'],
    ['::ffff:127.0.0.1', '127.0.0.1'],
    ['::FFFF:203.0.113.7', '203.0.113.7'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::99', '2001:db8:1:2::/64'],
    ['[2001:0db8:0001:0002::1]:443', '2001:db8:1:2::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['64:ff9b::192.0.2.1', '64:ff9b:0:0::/64'],
  ])('%s → %s', (raw, key) => {
    expect(normalizeAddress(raw)).toBe(key);
  });

  it('two addresses in one /64 share a key, different /64s do not', () => {
    expect(normalizeAddress('2001:db8:a:b::1')).toBe(normalizeAddress('2001:db8:a:b:ffff:ffff:ffff:ffff'));
    expect(normalizeAddress('2001:db8:a:b::1')).not.toBe(normalizeAddress('2001:db8:a:c::1'));
  });

  it.each(['', 'localhost', '1.2.3', '999.1.1.1', 'unknown', '1.2.3.4.5'])('%s is not an address', (raw) => {
    expect(normalizeAddress(raw)).toBeUndefined();
  });
});
