/**
 * Command line of the shard-scaling benchmark (`npm run bench:shards -w @antler/bench -- ...`):
 * argv in, typed options or a UsageError (one line) out, plus the order in which the clusters take
 * their turns. No I/O, so every accepted and refused form is unit-tested.
 */
import { integer, splitFlags, UsageError } from "./args.ts";
import * as benchLimits from "./limits.ts";

export interface ShardScalingOptions {
  /** Shard counts to compare, ascending, the first one is the baseline of the ratios (default 1, 2, 4). */
  shardCounts: number[];
  rounds: number;
  /** Files created, stat'ed and unlinked per phase (split evenly over the sessions). */
  files: number;
  /** Directories of the tree (mkdir and rmdir phases), split evenly over the sessions. */
  dirs: number;
  sessions: number;
  inflight: number;
  phaseSeconds: number;
  keep: boolean;
  jsonPath: string | null;
}

export const shardScalingUsageText = `usage: npm run bench:shards -w @antler/bench -- [options]

Starts one minimal Antler cluster per shard count (bin/antler up --shards N: 1 NATS node, one
process per shard, 1 gateway, 1 router), each in its own network namespace, all at once, and runs
the same protocol-level workload against each in turn (rounds alternate 1 2 4, 4 2 1, ...):
a tree of directories is made (mkdir; a directory whose slot lands on another shard than its
parent's is a cross-shard transaction), files are created in it, stat'ed (GETATTR) and unlinked,
then the tree is removed (rmdir). Prints ops/s, p50, p99 and the ratio to the first shard count
per phase, the share of operations that needed the coordinator, and the CPU each process used.

  --shards LIST           shard counts, comma-separated, ascending (default 1,2,4)
  --rounds R              rounds per cluster (default 2)
  --files N               files per phase: create, stat, unlink (default ${benchLimits.shardScalingFilesDefault})
  --dirs D                directories of the tree: mkdir, rmdir (default ${benchLimits.shardScalingDirsDefault})
  --sessions S            protocol sessions (default 4)
  --inflight K            requests in flight per session (default 16)
  --phase-seconds T       time budget of one phase (default ${benchLimits.phaseSecondsDefault})
  --json PATH             also write the JSON result to PATH
  --keep                  keep the work directory (cluster data and logs) under /tmp
  --help                  show this text

Results are also written to bench/results/<timestamp>-shards/ (result.json, result.md).`;

const valueFlags = new Set(["--shards", "--rounds", "--files", "--dirs", "--sessions", "--inflight", "--phase-seconds", "--json"]);
const booleanFlags = new Set(["--keep", "--help"]);

/** Parses argv; returns "help" for --help. */
export function parseShardScalingArgs(argv: readonly string[]): ShardScalingOptions | "help" {
  const { values, switches } = splitFlags(argv, valueFlags, booleanFlags);
  if (switches.has("--help")) return "help";

  const sessions = integer(values, "--sessions", 4, 1, benchLimits.sessionsMax);
  const dirs = integer(values, "--dirs", benchLimits.shardScalingDirsDefault, 1, benchLimits.opsMax);
  // Every session makes its files in its own directories: it needs at least one.
  if (dirs < sessions) throw new UsageError(`--dirs ${dirs} must be at least --sessions ${sessions} (every session needs a directory)`);
  return {
    shardCounts: shardList(values.get("--shards") ?? "1,2,4"),
    rounds: integer(values, "--rounds", 2, 1, benchLimits.roundsMax),
    files: integer(values, "--files", benchLimits.shardScalingFilesDefault, 1, benchLimits.opsMax),
    dirs,
    sessions,
    inflight: integer(values, "--inflight", 16, 1, benchLimits.inflightPerSessionMax),
    phaseSeconds: integer(values, "--phase-seconds", benchLimits.phaseSecondsDefault, 1, benchLimits.phaseSecondsMax),
    keep: switches.has("--keep"),
    jsonPath: values.get("--json") ?? null,
  };
}

function shardList(text: string): number[] {
  const parts = text.split(",");
  const counts = parts.map((part) => {
    if (!/^[0-9]+$/.test(part)) throw new UsageError(`--shards must be whole numbers separated by commas, not '${text}'`);
    const count = Number(part);
    if (count < 1 || count > benchLimits.shardsMax) throw new UsageError(`--shards: ${count} is not between 1 and ${benchLimits.shardsMax}`);
    return count;
  });
  for (let index = 1; index < counts.length; index += 1) {
    if (counts[index]! <= counts[index - 1]!) throw new UsageError(`--shards must be ascending without repeats, not '${text}'`);
  }
  if (counts.length > benchLimits.shardScalingClustersMax) {
    throw new UsageError(`--shards: at most ${benchLimits.shardScalingClustersMax} shard counts (the clusters all run at once)`);
  }
  return counts;
}


/**
 * The turns of the clusters: forward in odd rounds, backward in even ones (1 2 4, 4 2 1, …), so
 * that a slow drift of the machine (other load, heat) favours no shard count over the rounds.
 */
export function shardRunOrder(shardCounts: readonly number[], rounds: number): Array<{ round: number; shards: number }> {
  const order: Array<{ round: number; shards: number }> = [];
  for (let round = 1; round <= rounds; round += 1) {
    const turn = round % 2 === 1 ? shardCounts : [...shardCounts].reverse();
    for (const shards of turn) order.push({ round, shards });
  }
  return order;
}
