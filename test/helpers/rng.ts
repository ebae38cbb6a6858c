/**
 * A small seeded random generator (mulberry32) for tests, so every run sends the same random cases and a
 * failing one can be replayed from its seed. Not for anything that needs real randomness.
 */

/** 32-bit unsigned integers, from a 32-bit seed. */
export function rngU32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** Numbers in [0, 1), as Math.random gives them: the same sequence as rngU32 divided by 2^32. */
export function rng(seed: number): () => number {
  const next = rngU32(seed);
  return () => next() / 4294967296;
}
