/**
 * link/rate.ts's per-peer token buckets, on a clock the test moves: a burst, then the steady rate; one
 * key's flood never spends another's tokens; the keys kept are bounded, the quiet ones forgotten first.
 */
import { describe, expect, it } from 'vitest';
import { PeerRateLimiter } from '../../link/rate.js';

const takes = (l: PeerRateLimiter, key: string, n: number, now: number): number => {
  let ok = 0;
  for (let i = 0; i < n; i++) if (l.take(key, now)) ok++;
  return ok;
};

describe('PeerRateLimiter', () => {
  it('allows the burst at once, then perSecond a second, and never more than the burst after a pause', () => {
    const l = new PeerRateLimiter({ burst: 10, perSecond: 2 });
    expect(takes(l, 'a', 50, 0)).toBe(10);
    expect(takes(l, 'a', 50, 500)).toBe(1);
    expect(takes(l, 'a', 50, 3500)).toBe(6);
    expect(takes(l, 'a', 50, 1_000_000)).toBe(10);
    expect(takes(l, 'a', 1, 999_000)).toBe(0); // a clock going back adds nothing
  });

  it("keeps each key's tokens apart: a flooding key leaves the others theirs", () => {
    const l = new PeerRateLimiter({ burst: 3, perSecond: 1 });
    expect(takes(l, 'flood', 1000, 0)).toBe(3);
    expect(takes(l, 'honest', 3, 0)).toBe(3);
  });

  it('keeps at most maxKeys buckets, dropping the one untouched longest', () => {
    const l = new PeerRateLimiter({ burst: 2, perSecond: 0.001 }, 3);
    takes(l, 'a', 2, 0);
    takes(l, 'b', 2, 0);
    takes(l, 'c', 2, 0);
    takes(l, 'a', 1, 1); // a is the most recent now; b the oldest
    takes(l, 'd', 1, 2);
    expect(l.size).toBe(3);
    expect(takes(l, 'a', 1, 3)).toBe(0); // a was kept, still empty
    expect(takes(l, 'b', 2, 4)).toBe(2); // b was forgotten: full again
  });

  it.each([
    [{ burst: 0, perSecond: 1 }, 1],
    [{ burst: 1, perSecond: 0 }, 1],
    [{ burst: 1, perSecond: 1 }, 0],
  ])('refuses limits that admit nothing: %j, maxKeys %i', (limit, maxKeys) => {
    expect(() => new PeerRateLimiter(limit, maxKeys)).toThrow(RangeError);
  });
});
