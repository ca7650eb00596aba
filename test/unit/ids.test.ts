import { describe, expect, it } from 'vitest';
import { RANDOM_TOKEN_PATTERN, randomSlice, randomToken, uuidv7 } from '../../server/ids.ts';

/** The longest run of zero bytes: random draws have none longer than a few (9 in a row: about 2⁻⁶⁴ per position). */
function longestZeroRun(bytes: Uint8Array): number {
  let longest = 0;
  let run = 0;
  for (const b of bytes) {
    run = b === 0 ? run + 1 : 0;
    longest = Math.max(longest, run);
  }
  return longest;
}

describe('random ids', () => {
  it('never hands out the same bytes twice, across many pool refills', () => {
    const seen = new Set<string>();
    // 2,000 × 32 bytes = about 16 refills of the 4 KiB pool.
    for (let i = 0; i < 2000; i++) {
      const token = randomToken();
      expect(token).toMatch(RANDOM_TOKEN_PATTERN);
      seen.add(token);
    }
    expect(seen.size).toBe(2000);
  });

  it('returns a copy: changing it does not change later draws, and draws are not all zero', () => {
    const a = randomSlice(32);
    a.fill(0xff);
    const b = randomSlice(32);
    expect(b.equals(Buffer.alloc(32, 0xff))).toBe(false);
    expect(longestZeroRun(b)).toBeLessThan(9);
  });

  it('serves sizes that do not divide the pool, and sizes larger than it', () => {
    const sizes = [16, 32, 7, 4095, 4096, 5000];
    for (const n of sizes) expect(randomSlice(n)).toHaveLength(n);
    // A draw that straddles the end of the pool comes from one fresh pool, not two halves.
    // (Two halves would leave a stretch of unfilled, zeroed bytes in it.)
    const big = randomSlice(4000);
    const straddling = randomSlice(200);
    expect(longestZeroRun(big)).toBeLessThan(9);
    expect(longestZeroRun(straddling)).toBeLessThan(9);
  });

  it('uuidv7 carries the time, version 7 and the RFC 9562 variant', () => {
    const now = Date.UTC(2026, 10, 27, 9, 0, 0);
    const ids = Array.from({ length: 300 }, () => uuidv7(now));
    expect(new Set(ids).size).toBe(300);
    for (const id of ids) {
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(Number.parseInt(id.replace(/-/g, '').slice(0, 12), 16)).toBe(now);
    }
  });
});
