/**
 * The one seeded PRNG of the tests (mulberry32): 32-bit state, uniform numbers in [0, 1).
 * Fast, tiny and reproducible: every random test draws only from it and prints its seed.
 * (The simulation has its own forkable generator in sim/src/prng.ts.)
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
