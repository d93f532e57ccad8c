/**
 * The quorum-journal simulation's randomness (quorum-sim.ts): sfc32 with 32-bit integer math only,
 * so a seed replays the same run on every machine. Independent streams are forked by name (the
 * fault schedule does not shift when the workload draws one more number).
 */

export class SimRandom {
  #a: number;
  #b: number;
  #c: number;
  #d = 1;
  readonly #seed: number;

  constructor(seed: number, label = "") {
    this.#seed = seed;
    let h = mix32((seed >>> 0) ^ 0x2545f491);
    h = mix32(h ^ Math.floor(seed / 0x1_0000_0000));
    for (let i = 0; i < label.length; i++) h = mix32(h ^ label.charCodeAt(i));
    this.#a = h;
    this.#b = mix32(h ^ 0x9e3779b9);
    this.#c = mix32(h + 0x7f4a7c15);
    // The first outputs of a fresh sfc32 state are poorly mixed.
    for (let i = 0; i < 12; i++) this.#next();
  }

  /** An independent stream: a function of the seed and `label` only. */
  fork(label: string): SimRandom {
    return new SimRandom(this.#seed, label);
  }

  #next(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.#next() / 0x1_0000_0000;
  }

  /** Uniform integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.float() * (max - min + 1));
  }

  chance(p: number): boolean {
    return p > 0 && this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)]!;
  }

  /** Exponentially distributed, rounded to whole milliseconds. */
  exponentialMs(meanMs: number): number {
    return Math.round(-Math.log(1 - this.float()) * meanMs);
  }
}

/** murmur3's 32-bit finaliser. */
function mix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
