/**
 * The simulation's only source of randomness: sfc32 (Chris Doty-Humphrey's Small Fast Counting
 * generator), 32-bit integer math only, so a seed gives the same run on every machine and Node
 * version.
 *
 * Streams are forked by *name* from the root seed, not drawn from the root stream: the workload
 * stream depends only on (seed, "workload"), so adding a fault stream or drawing one more network
 * delay never reshuffles the operations the clients issue.
 */
import { assert } from "@antler/base";

/** Largest seed accepted: seeds are printed and typed by humans, keep them exact in a double. */
export const seedMax = Number.MAX_SAFE_INTEGER;

export class Prng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;
  /** The words this stream was created from; forks derive from them, not from the state. */
  readonly #origin: readonly [number, number];

  private constructor(hi: number, lo: number) {
    this.#origin = [hi >>> 0, lo >>> 0];
    this.#a = hi >>> 0;
    this.#b = lo >>> 0;
    this.#c = (hi ^ 0x9e3779b9) >>> 0;
    this.#d = 1;
    // sfc32's recommended warm-up: the first outputs of a fresh state are poorly mixed.
    for (let i = 0; i < 15; i++) this.nextU32();
  }

  static fromSeed(seed: number): Prng {
    assert(Number.isSafeInteger(seed) && seed >= 0, `seed must be an integer in 0..${seedMax}`);
    const hi = Math.floor(seed / 0x1_0000_0000);
    const lo = seed >>> 0;
    return new Prng(mix32(hi ^ 0x243f6a88), mix32(lo ^ 0x85a308d3));
  }

  /** An independent stream named `label`, a pure function of this stream's origin and label. */
  fork(label: string): Prng {
    let h = mix32(this.#origin[0] ^ 0x13198a2e);
    for (let i = 0; i < label.length; i++) h = mix32(h ^ label.charCodeAt(i));
    return new Prng(mix32(h ^ this.#origin[1]), mix32(h + 0x03707344));
  }

  nextU32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** Uniform integer in [min, max] (inclusive), without modulo bias. */
  int(min: number, max: number): number {
    assert(Number.isInteger(min) && Number.isInteger(max) && min <= max, "int: bad range");
    const span = max - min + 1;
    assert(span <= 0x1_0000_0000, "int: range wider than 32 bits");
    if (span === 0x1_0000_0000) return min + this.nextU32();
    // Rejection sampling: drop the top partial bucket so every value is equally likely.
    const limit = 0x1_0000_0000 - (0x1_0000_0000 % span);
    let x = this.nextU32();
    while (x >= limit) x = this.nextU32();
    return min + (x % span);
  }

  /** Uniform in [0, 1) with 32 bits of precision. */
  float(): number {
    return this.nextU32() / 0x1_0000_0000;
  }

  /** True with probability p (0 never, 1 always). */
  chance(p: number): boolean {
    if (p <= 0) return false;
    if (p >= 1) return true;
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    assert(items.length > 0, "pick from an empty list");
    return items[this.int(0, items.length - 1)]!;
  }

  /** Picks a key with probability proportional to its weight. */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K {
    const entries = Object.entries(weights) as [K, number][];
    const total = entries.reduce((sum, [, w]) => sum + w, 0);
    assert(total > 0, "weighted: all weights are zero");
    let x = this.float() * total;
    for (const [key, w] of entries) {
      if (x < w) return key;
      x -= w;
    }
    return entries[entries.length - 1]![0];
  }

  /** Exponentially distributed with the given mean, rounded to whole milliseconds. */
  exponentialMs(meanMs: number): number {
    return Math.round(-Math.log(1 - this.float()) * meanMs);
  }
}

/** A 32-bit integer finaliser (murmur3's fmix32): spreads every input bit over the output. */
function mix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A fresh seed for a run started without --seed (the only non-deterministic call in sim/). */
export function drawSeed(): number {
  const words = new Uint32Array(2);
  crypto.getRandomValues(words);
  // 48 bits: short enough to type, plenty to never repeat by accident.
  return (words[0]! & 0xffff) * 0x1_0000_0000 + words[1]!;
}
