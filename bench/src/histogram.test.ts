/**
 * The histogram against a naive model: every sample kept in a sorted array, percentiles by the
 * nearest-rank rule. The histogram may only differ by its bucket width — the reported value must lie
 * in the bucket of the true sample, i.e. within [true, true · (1 + 2^-(s-1))]. Data comes from one
 * seeded PRNG; a failure prints the seed to replay it (BENCH_TEST_SEED=<n>).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Histogram, HistogramFormatError } from "./histogram.ts";
import { seededRandom } from "@antler/testkit";

const seed = Number(process.env.BENCH_TEST_SEED ?? 0x5eed_2026);
const percentiles = [0, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99, 100];

function naivePercentile(sorted: number[], percentile: number): number {
  const rank = Math.max(1, Math.ceil((percentile / 100) * sorted.length));
  return sorted[rank - 1]!;
}

function checkAgainstModel(samples: number[], label: string): void {
  const histogram = new Histogram();
  for (const sample of samples) histogram.record(sample);
  const sorted = [...samples].sort((a, b) => a - b);
  const relativeWidth = 2 ** -(histogram.subBucketBits - 1);
  for (const percentile of percentiles) {
    const expected = naivePercentile(sorted, percentile);
    const actual = histogram.percentile(percentile);
    const context = `${label} p${percentile} (seed ${seed}: BENCH_TEST_SEED=${seed})`;
    assert.ok(actual >= expected, `${context}: ${actual} < true ${expected}`);
    assert.ok(actual <= expected + Math.max(0, expected * relativeWidth), `${context}: ${actual} too far above true ${expected}`);
    assert.equal(histogram.indexOf(actual), histogram.indexOf(expected), `${context}: not in the true sample's bucket`);
  }
  assert.equal(histogram.count, samples.length);
  assert.equal(histogram.minMicros, sorted[0]);
  assert.equal(histogram.maxMicros, sorted[sorted.length - 1]);
  assert.equal(histogram.percentile(100), sorted[sorted.length - 1], "p100 is the exact maximum");
}

test("percentiles match a sorted-array model on log-normal latencies", () => {
  const random = seededRandom(seed);
  for (let round = 0; round < 20; round += 1) {
    const samples: number[] = [];
    const size = 1 + Math.floor(random() * 5000);
    const median = 50 + random() * 5000;
    for (let i = 0; i < size; i += 1) {
      // Box–Muller: log-normal around `median` with a long tail, like request latencies.
      const normal = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
      samples.push(Math.round(median * Math.exp(normal)));
    }
    checkAgainstModel(samples, `round ${round} (n=${size})`);
  }
});

test("percentiles match the model on uniform values across the whole range", () => {
  const random = seededRandom(seed + 1);
  const samples: number[] = [];
  for (let i = 0; i < 20_000; i += 1) samples.push(Math.floor(2 ** (random() * 34)));
  checkAgainstModel(samples, "uniform exponent");
});

test("small values are exact and powers of two land in the right bucket", () => {
  const histogram = new Histogram();
  for (let value = 0; value < 128; value += 1) assert.equal(histogram.bucketRange(histogram.indexOf(value)).low, value);
  for (let bit = 7; bit < 36; bit += 1) {
    for (const value of [2 ** bit - 1, 2 ** bit, 2 ** bit + 1]) {
      const { low, high } = histogram.bucketRange(histogram.indexOf(value));
      assert.ok(low <= value && value <= high, `${value} outside [${low}, ${high}]`);
    }
  }
  // Buckets tile the range without gaps or overlaps.
  let previousHigh = -1;
  for (let index = 0; index <= histogram.indexOf(histogram.valueMaxMicros); index += 1) {
    const { low, high } = histogram.bucketRange(index);
    assert.equal(low, previousHigh + 1, `gap before bucket ${index}`);
    previousHigh = high;
  }
  assert.equal(previousHigh, histogram.valueMaxMicros);
});

test("merging equals recording everything in one histogram; JSON round-trips", () => {
  const random = seededRandom(seed + 2);
  const all = new Histogram();
  const parts = [new Histogram(), new Histogram(), new Histogram()];
  for (let i = 0; i < 3000; i += 1) {
    const value = Math.floor(random() * 100_000);
    all.record(value);
    parts[i % 3]!.record(value);
  }
  const merged = new Histogram();
  for (const part of parts) merged.merge(Histogram.fromJson(JSON.parse(JSON.stringify(part.toJson()))));
  assert.deepEqual(merged.toJson(), all.toJson());
  for (const percentile of percentiles) assert.equal(merged.percentile(percentile), all.percentile(percentile));
});

test("empty histograms, overflow and malformed JSON", () => {
  const empty = new Histogram();
  assert.equal(empty.percentile(50), 0);
  assert.equal(empty.meanMicros(), 0);
  assert.equal(Histogram.fromJson(empty.toJson()).count, 0);

  const histogram = new Histogram(7, 20);
  histogram.record(5);
  histogram.record(2 ** 30);
  assert.equal(histogram.overflowCount, 1);
  assert.equal(histogram.percentile(100), 2 ** 30, "the overflowed maximum is still exact");

  assert.throws(() => Histogram.fromJson(null), HistogramFormatError);
  assert.throws(() => Histogram.fromJson({ subBucketBits: 7, valueBits: 36, counts: [[1e9, 1]], count: 1 }), HistogramFormatError);
  assert.throws(() => Histogram.fromJson({ subBucketBits: 7, valueBits: 36, counts: [[3, 2]], count: 1 }), HistogramFormatError);
});
