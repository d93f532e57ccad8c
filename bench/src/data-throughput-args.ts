/**
 * Options of the file-data throughput benchmark (`npm run bench:data -w @antler/bench -- ...`),
 * and the arithmetic of its report. Pure: no I/O, so it is unit-tested in data-throughput.test.ts.
 */
import { UsageError } from "./args.ts";

export const dataTargets = ["mfsmaster", "antler"] as const;
export type DataTarget = (typeof dataTargets)[number];

export interface DataBenchOptions {
  /** Size of the one file written then read, in MiB. */
  sizeMiB: number;
  /** Rounds per master; the masters alternate (A B, then B A, ...). */
  rounds: number;
  /** Copies of each chunk (mfssetgoal on the mount root). */
  goal: number;
  chunkservers: number;
  /** Run one master only. */
  only: DataTarget | null;
  /** Write result.json / result.md here instead of bench/results/<timestamp>-data/. */
  resultsDir: string | null;
}

export const dataUsageText = `usage: npm run bench:data -w @antler/bench -- [options]

Sequential write, then read, of one file through a real mfsmount, against Antler and against
mfsmaster 3.0.117 in the same run (alternating), each with the same real mfschunkservers.
Between the write and the read the page cache is dropped and the file is read through a fresh
mount. Prints MiB/s side by side and the ratio Antler / mfsmaster.

  --size-mib N       file size in MiB (default 1024)
  --rounds R         rounds per master (default 2)
  --goal G           copies of each chunk (default 2)
  --chunkservers N   real mfschunkservers per cluster (default 3)
  --only M           mfsmaster or antler
  --results DIR      where result.json and result.md go (default bench/results/<timestamp>-data)
  --help`;

const bounds = {
  sizeMiB: [1, 65_536],
  rounds: [1, 20],
  goal: [1, 9],
  chunkservers: [1, 16],
} as const;

export function parseDataBenchArgs(argv: readonly string[]): DataBenchOptions | "help" {
  const options: DataBenchOptions = { sizeMiB: 1024, rounds: 2, goal: 2, chunkservers: 3, only: null, resultsDir: null };
  for (let index = 0; index < argv.length; index++) {
    const flag = argv[index]!;
    if (flag === "--help" || flag === "-h") return "help";
    const value = argv[index + 1];
    if (value === undefined || value.startsWith("--")) throw new UsageError(`${flag} needs a value`);
    index++;
    switch (flag) {
      case "--size-mib":
        options.sizeMiB = integerIn(flag, value, bounds.sizeMiB);
        break;
      case "--rounds":
        options.rounds = integerIn(flag, value, bounds.rounds);
        break;
      case "--goal":
        options.goal = integerIn(flag, value, bounds.goal);
        break;
      case "--chunkservers":
        options.chunkservers = integerIn(flag, value, bounds.chunkservers);
        break;
      case "--only":
        if (value !== "mfsmaster" && value !== "antler") throw new UsageError(`--only ${value}: expected mfsmaster or antler`);
        options.only = value;
        break;
      case "--results":
        options.resultsDir = value;
        break;
      default:
        throw new UsageError(`unknown option ${flag}`);
    }
  }
  if (options.goal > options.chunkservers) throw new UsageError(`--goal ${options.goal} needs at least as many chunkservers (--chunkservers ${options.chunkservers})`);
  return options;
}

function integerIn(flag: string, text: string, [min, max]: readonly [number, number]): number {
  if (!/^[0-9]+$/.test(text)) throw new UsageError(`${flag} ${text}: not a whole number`);
  const value = Number(text);
  if (value < min || value > max) throw new UsageError(`${flag} ${value}: outside ${min}..${max}`);
  return value;
}

/** Which master runs in which slot: round r runs A B when r is even, B A when odd. */
export function dataRunOrder(rounds: number, only: DataTarget | null): { round: number; target: DataTarget }[] {
  const order: { round: number; target: DataTarget }[] = [];
  for (let round = 0; round < rounds; round++) {
    const pair: DataTarget[] = round % 2 === 0 ? ["mfsmaster", "antler"] : ["antler", "mfsmaster"];
    for (const target of pair) if (only === null || only === target) order.push({ round: round + 1, target });
  }
  return order;
}

/** One measured round of one master. */
export interface DataMeasurement {
  round: number;
  target: DataTarget;
  writeMiBps: number | null;
  readMiBps: number | null;
  /** Why this round has no numbers (start failed, no data path, ...). */
  error: string | null;
}

export interface DataSummary {
  target: DataTarget;
  /** Medians over the rounds that produced numbers. */
  writeMiBps: number | null;
  readMiBps: number | null;
  rounds: number;
}

export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export function summarise(measurements: readonly DataMeasurement[], target: DataTarget): DataSummary {
  const mine = measurements.filter((measurement) => measurement.target === target);
  const writes = mine.flatMap((measurement) => (measurement.writeMiBps === null ? [] : [measurement.writeMiBps]));
  const reads = mine.flatMap((measurement) => (measurement.readMiBps === null ? [] : [measurement.readMiBps]));
  return { target, writeMiBps: median(writes), readMiBps: median(reads), rounds: mine.length };
}

/** Antler / mfsmaster, or null when either is missing. */
export function ratio(antler: number | null, mfsmaster: number | null): number | null {
  if (antler === null || mfsmaster === null || mfsmaster === 0) return null;
  return antler / mfsmaster;
}

/** The side-by-side table (plain text, also valid Markdown). */
export function formatDataTable(options: DataBenchOptions, measurements: readonly DataMeasurement[]): string {
  const reference = summarise(measurements, "mfsmaster");
  const antler = summarise(measurements, "antler");
  const number = (value: number | null): string => (value === null ? "n/a" : value.toFixed(1));
  const times = (value: number | null): string => (value === null ? "n/a" : `${value.toFixed(2)}x`);
  const lines = [
    `File data throughput: one ${options.sizeMiB} MiB file, goal ${options.goal}, ${options.chunkservers} chunkservers, medians of ${options.rounds} round(s)`,
    "",
    "| | write MiB/s | read MiB/s |",
    "|---|---:|---:|",
    `| mfsmaster 3.0.117 | ${number(reference.writeMiBps)} | ${number(reference.readMiBps)} |`,
    `| Antler | ${number(antler.writeMiBps)} | ${number(antler.readMiBps)} |`,
    `| Antler / mfsmaster | ${times(ratio(antler.writeMiBps, reference.writeMiBps))} | ${times(ratio(antler.readMiBps, reference.readMiBps))} |`,
    "",
    "| round | master | write MiB/s | read MiB/s | note |",
    "|---:|---|---:|---:|---|",
    ...measurements.map(
      (measurement) =>
        `| ${measurement.round} | ${measurement.target} | ${number(measurement.writeMiBps)} | ${number(measurement.readMiBps)} | ${measurement.error ?? ""} |`,
    ),
  ];
  return `${lines.join("\n")}\n`;
}
