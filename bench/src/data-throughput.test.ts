import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { UsageError } from "./args.ts";
import { dataRunOrder, formatDataTable, median, parseDataBenchArgs, ratio, summarise, type DataMeasurement } from "./data-throughput-args.ts";

describe("data throughput options", () => {
  test("defaults: 1 GiB, 2 rounds, goal 2, 3 chunkservers, both masters", () => {
    assert.deepEqual(parseDataBenchArgs([]), { sizeMiB: 1024, rounds: 2, goal: 2, chunkservers: 3, only: null, resultsDir: null });
  });

  test("every option is read", () => {
    const options = parseDataBenchArgs(["--size-mib", "64", "--rounds", "3", "--goal", "1", "--chunkservers", "2", "--only", "antler", "--results", "/tmp/x"]);
    assert.deepEqual(options, { sizeMiB: 64, rounds: 3, goal: 1, chunkservers: 2, only: "antler", resultsDir: "/tmp/x" });
    assert.equal(parseDataBenchArgs(["--help"]), "help");
  });

  test("bad values are usage errors naming the option", () => {
    for (const [argv, pattern] of [
      [["--size-mib", "0"], /--size-mib 0: outside/],
      [["--rounds", "two"], /--rounds two: not a whole number/],
      [["--only", "ceph"], /--only ceph/],
      [["--goal", "3", "--chunkservers", "2"], /--goal 3 needs/],
      [["--rounds"], /--rounds needs a value/],
      [["--fast", "1"], /unknown option --fast/],
    ] as const) {
      assert.throws(() => parseDataBenchArgs(argv), (error: unknown) => error instanceof UsageError && pattern.test(error.message));
    }
  });
});

describe("data throughput report", () => {
  test("the masters alternate A B, B A", () => {
    assert.deepEqual(
      dataRunOrder(2, null).map(({ round, target }) => `${round}${target}`),
      ["1mfsmaster", "1antler", "2antler", "2mfsmaster"],
    );
    assert.deepEqual(dataRunOrder(2, "antler").map(({ target }) => target), ["antler", "antler"]);
  });

  test("medians ignore rounds without numbers; the ratio is Antler over mfsmaster", () => {
    assert.equal(median([]), null);
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 2, 3]), 2.5);
    const measurements: DataMeasurement[] = [
      { round: 1, target: "mfsmaster", writeMiBps: 100, readMiBps: 200, error: null },
      { round: 1, target: "antler", writeMiBps: 50, readMiBps: null, error: "no file data path: EIO" },
      { round: 2, target: "antler", writeMiBps: 70, readMiBps: 150, error: null },
      { round: 2, target: "mfsmaster", writeMiBps: 120, readMiBps: 220, error: null },
    ];
    assert.deepEqual(summarise(measurements, "antler"), { target: "antler", writeMiBps: 60, readMiBps: 150, rounds: 2 });
    assert.equal(ratio(60, 110), 60 / 110);
    assert.equal(ratio(null, 110), null);
    const table = formatDataTable(parseDataBenchArgs([]) as never, measurements);
    assert.match(table, /\| mfsmaster 3\.0\.117 \| 110\.0 \| 210\.0 \|/);
    assert.match(table, /\| Antler \/ mfsmaster \| 0\.55x \| 0\.71x \|/);
    assert.match(table, /\| 1 \| antler \| 50\.0 \| n\/a \| no file data path: EIO \|/);
  });
});
