/** schema/batched-load.ts: one load per turn of the event loop, nothing kept after it. */
import { describe, expect, it } from 'vitest';
import { batchedLoad } from '../../schema/batched-load.ts';

describe('batchedLoad', () => {
  it('loads the keys of one turn together, once each, and a later turn afresh', async () => {
    const calls: string[][] = [];
    let version = 1;
    const load = batchedLoad(async (keys) => {
      calls.push([...keys]);
      return new Map(keys.filter((k) => k !== 'none').map((k) => [k, `${k}${version}`]));
    }, 'absent');
    // Asked across several promise turns, as resolvers behind plugins' awaits are.
    const first = [load('a'), Promise.resolve().then(() => load('b')), load('a'), Promise.resolve().then(() => Promise.resolve()).then(() => load('none'))];
    expect(await Promise.all(first)).toEqual(['a1', 'b1', 'a1', 'absent']);
    expect(calls).toEqual([['a', 'b', 'none']]);
    version = 2;
    expect(await load('a')).toBe('a2');
    expect(calls).toEqual([['a', 'b', 'none'], ['a']]);
  });

  it("rejects every caller of a failed load, and the next turn loads again", async () => {
    let fail = true;
    const load = batchedLoad(async (keys) => {
      if (fail) throw new Error('database gone');
      return new Map(keys.map((k) => [k, 1]));
    }, 0);
    const results = await Promise.allSettled([load('a'), load('b')]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    fail = false;
    expect(await load('a')).toBe(1);
  });
});
