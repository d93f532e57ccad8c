/**
 * Latency histogram with log-linear buckets (the HDR histogram layout), in whole microseconds.
 *
 * Values below 2^subBucketBits are counted exactly, one bucket per microsecond. Above that, every
 * power-of-two range [2^k, 2^(k+1)) is split into 2^(subBucketBits-1) equal buckets, so a bucket is
 * never wider than value / 2^(subBucketBits-1): with the default 7 bits the relative error of any
 * reported percentile is below 1/64 (1.6 %). Memory is fixed (a few thousand counters) whatever
 * the number of samples, which is why each phase and each session can keep its own and merge them.
 *
 * Values above valueMaxMicros are counted in the last bucket and reported as the exact maximum;
 * `overflowCount` says how many there were.
 */
import { assert } from "@antler/base";

/** Default precision: 7 significant bits (relative bucket width ≤ 1/64). */
export const subBucketBitsDefault = 7;
/** Largest value tracked with the bucket precision: 2^36 µs ≈ 19 hours. */
export const valueBitsDefault = 36;

/** A histogram in a plain JSON shape, to cross a process boundary (sparse: index → count). */
export interface HistogramJson {
  subBucketBits: number;
  valueBits: number;
  counts: Array<[number, number]>;
  count: number;
  overflowCount: number;
  minMicros: number;
  maxMicros: number;
  sumMicros: number;
}

export class Histogram {
  readonly subBucketBits: number;
  readonly valueBits: number;
  readonly valueMaxMicros: number;
  private readonly counts: Float64Array;
  private readonly halfCount: number;
  count = 0;
  overflowCount = 0;
  minMicros = Number.POSITIVE_INFINITY;
  maxMicros = 0;
  sumMicros = 0;

  constructor(subBucketBits = subBucketBitsDefault, valueBits = valueBitsDefault) {
    assert(Number.isInteger(subBucketBits) && subBucketBits >= 2 && subBucketBits <= 16, "subBucketBits in 2..16");
    assert(Number.isInteger(valueBits) && valueBits > subBucketBits && valueBits <= 52, "valueBits in subBucketBits+1..52");
    this.subBucketBits = subBucketBits;
    this.valueBits = valueBits;
    this.valueMaxMicros = 2 ** valueBits - 1;
    this.halfCount = 2 ** (subBucketBits - 1);
    // Exact region [0, 2^s) plus (valueBits - s) octaves of halfCount buckets each.
    this.counts = new Float64Array(2 ** subBucketBits + (valueBits - subBucketBits) * this.halfCount);
  }

  /** Records one latency. Negative or fractional inputs are rounded into range (0 µs minimum). */
  record(micros: number): void {
    assert(Number.isFinite(micros), "latency must be finite");
    const value = Math.max(0, Math.round(micros));
    if (value > this.valueMaxMicros) this.overflowCount += 1;
    this.counts[this.indexOf(Math.min(value, this.valueMaxMicros))]! += 1;
    this.count += 1;
    this.sumMicros += value;
    if (value < this.minMicros) this.minMicros = value;
    if (value > this.maxMicros) this.maxMicros = value;
  }

  /** Bucket index of a value in [0, valueMaxMicros]. */
  indexOf(value: number): number {
    const exactLimit = 2 ** this.subBucketBits;
    if (value < exactLimit) return value;
    // octave k ≥ 0 covers [2^(s+k), 2^(s+k+1)); its buckets are 2^(k+1) wide.
    let k = Math.floor(Math.log2(value)) - this.subBucketBits;
    // Math.log2 may be off by one right at a power of two; correct it with exact comparisons.
    if (value >= 2 ** (k + this.subBucketBits + 1)) k += 1;
    else if (value < 2 ** (k + this.subBucketBits)) k -= 1;
    const width = 2 ** (k + 1);
    const offset = Math.floor((value - 2 ** (k + this.subBucketBits)) / width);
    return exactLimit + k * this.halfCount + offset;
  }

  /** Smallest and largest value that fall into bucket `index`. */
  bucketRange(index: number): { low: number; high: number } {
    const exactLimit = 2 ** this.subBucketBits;
    if (index < exactLimit) return { low: index, high: index };
    const k = Math.floor((index - exactLimit) / this.halfCount);
    const offset = (index - exactLimit) % this.halfCount;
    const width = 2 ** (k + 1);
    const low = 2 ** (k + this.subBucketBits) + offset * width;
    return { low, high: low + width - 1 };
  }

  /**
   * The value below or at which `percentile` % of the samples fall (nearest-rank definition):
   * the upper end of the bucket holding the sample of rank ceil(p/100 · count), never above the
   * exact maximum. 0 when empty.
   */
  percentile(percentile: number): number {
    assert(percentile >= 0 && percentile <= 100, "percentile in 0..100");
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil((percentile / 100) * this.count));
    let seen = 0;
    for (let index = 0; index < this.counts.length; index += 1) {
      seen += this.counts[index]!;
      if (seen >= rank) {
        const { high } = this.bucketRange(index);
        // The top bucket also holds the overflowed samples, so only the exact maximum is honest.
        return high >= this.valueMaxMicros ? this.maxMicros : Math.min(high, this.maxMicros);
      }
    }
    return this.maxMicros;
  }

  meanMicros(): number {
    return this.count === 0 ? 0 : this.sumMicros / this.count;
  }

  /** Adds every sample of `other` (same layout required) to this histogram. */
  merge(other: Histogram): void {
    assert(other.subBucketBits === this.subBucketBits && other.valueBits === this.valueBits, "histogram layouts differ");
    for (let index = 0; index < this.counts.length; index += 1) this.counts[index]! += other.counts[index]!;
    this.count += other.count;
    this.overflowCount += other.overflowCount;
    this.sumMicros += other.sumMicros;
    this.minMicros = Math.min(this.minMicros, other.minMicros);
    this.maxMicros = Math.max(this.maxMicros, other.maxMicros);
  }

  toJson(): HistogramJson {
    const counts: Array<[number, number]> = [];
    for (let index = 0; index < this.counts.length; index += 1) {
      const bucketCount = this.counts[index]!;
      if (bucketCount > 0) counts.push([index, bucketCount]);
    }
    return {
      subBucketBits: this.subBucketBits,
      valueBits: this.valueBits,
      counts,
      count: this.count,
      overflowCount: this.overflowCount,
      minMicros: this.count === 0 ? 0 : this.minMicros,
      maxMicros: this.maxMicros,
      sumMicros: this.sumMicros,
    };
  }

  /** Rebuilds a histogram from `toJson` output; throws HistogramFormatError on malformed input. */
  static fromJson(json: unknown): Histogram {
    const value = json as Partial<HistogramJson> | null;
    if (value === null || typeof value !== "object") throw new HistogramFormatError("not an object");
    const { subBucketBits, valueBits, counts } = value;
    if (!Number.isInteger(subBucketBits) || !Number.isInteger(valueBits) || !Array.isArray(counts)) {
      throw new HistogramFormatError("missing layout or counts");
    }
    const histogram = new Histogram(subBucketBits, valueBits);
    let total = 0;
    for (const entry of counts) {
      if (!Array.isArray(entry) || entry.length !== 2) throw new HistogramFormatError("bad count entry");
      const [index, bucketCount] = entry as [unknown, unknown];
      if (!Number.isInteger(index) || (index as number) < 0 || (index as number) >= histogram.counts.length) {
        throw new HistogramFormatError(`bucket index out of range: ${String(index)}`);
      }
      if (!Number.isInteger(bucketCount) || (bucketCount as number) < 0) throw new HistogramFormatError("bad bucket count");
      histogram.counts[index as number] = bucketCount as number;
      total += bucketCount as number;
    }
    if (total !== value.count) throw new HistogramFormatError("bucket counts do not add up to count");
    histogram.count = total;
    histogram.overflowCount = numberOr(value.overflowCount, 0);
    histogram.minMicros = total === 0 ? Number.POSITIVE_INFINITY : numberOr(value.minMicros, 0);
    histogram.maxMicros = numberOr(value.maxMicros, 0);
    histogram.sumMicros = numberOr(value.sumMicros, 0);
    return histogram;
  }
}

export class HistogramFormatError extends Error {
  override name = "HistogramFormatError";
}

function numberOr(value: unknown, fallback: number): number {
  return typeof value === "number" && Number.isFinite(value) ? value : fallback;
}
