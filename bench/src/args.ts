/**
 * Command line of `npm run bench`: argv in, typed options or a UsageError (one line) out. No I/O,
 * so every accepted and refused form is unit-tested.
 */
import { type Profile, profiles } from "./antler-target.ts";
import * as benchLimits from "./limits.ts";
import { type TargetName, targetNames } from "./target.ts";

export const modes = ["protocol", "mount"] as const;
export type Mode = (typeof modes)[number];

/** `--profile all` runs every profile, one after the other, in one command. */
export const profileChoices = [...profiles, "all"] as const;
export type ProfileChoice = (typeof profileChoices)[number];

export interface BenchOptions {
  mode: Mode;
  profile: ProfileChoice;
  shards: number;
  rounds: number;
  ops: number;
  sessions: number;
  inflight: number;
  workers: number;
  entriesPerDir: number;
  phaseSeconds: number;
  only: TargetName | null;
  jsonPath: string | null;
  keep: boolean;
  /** After the measured rounds, one traced round per profile for the per-hop breakdown. */
  breakdown: boolean;
  /** Operations per phase of the traced round (1 session, 1 request in flight). */
  breakdownOps: number;
  /** After the measured rounds, one round per profile with the services under `node --cpu-prof`. */
  cpuProf: boolean;
}

/** The profiles a choice stands for, in the order they run. */
export function profilesOf(choice: ProfileChoice): Profile[] {
  return choice === "all" ? [...profiles] : [choice];
}

export class UsageError extends Error {
  override name = "UsageError";
}

export const usageText = `usage: npm run bench -- [options]

Runs the same metadata workload against Antler and the real mfsmaster 3.0.117, alternating
(A B A B ...), each server in its own network namespace, and prints one comparison table.

  --mode protocol|mount   protocol: speak the MooseFS client protocol directly (default);
                          mount: time file-system calls through a real mfsmount
  --profile NAME          Antler layout: minimal (default; 1 shard, 1 replica, 1 NATS node),
                          ha (3 replicas, 3 NATS nodes, 2 gateways, 2 routers),
                          sharded (ha with --shards shards), or all (the three in a row,
                          one table each)
  --shards N              shards of the sharded profile (default ${benchLimits.shardedShardsDefault})
  --rounds R              rounds per server (default 2)
  --ops N                 operations per phase (default 10000, with --profile all
                          ${benchLimits.opsAllProfilesDefault}; mount mode 1000)
  --sessions S            protocol sessions (default 4)
  --inflight K            requests in flight per session (default 16)
  --workers W             parallel workers of mount mode's second pass (default 4)
  --entries-per-dir E     files per bucket directory (default ${benchLimits.entriesPerDirDefault})
  --phase-seconds T       time budget of one phase (default ${benchLimits.phaseSecondsDefault})
  --only antler|mfsmaster run against one server only
  --json PATH             also write the JSON result to PATH
  --keep                  keep the work directory (server data and logs) under /tmp
  --breakdown             after each profile's rounds, restart Antler with span files on and
                          run one traced round (1 session, 1 in flight): prints where the time
                          of one operation goes, hop by hop (not part of the measured rounds)
  --breakdown-ops N       operations per phase of the traced round (default ${benchLimits.breakdownOpsDefault})
  --cpu-prof              after each profile's rounds, restart Antler with its services under
                          node --cpu-prof and run one more round (same load as the measured
                          ones): prints the functions each service spends its CPU in
  --help                  show this text

Results are also written to bench/results/<timestamp>/ (result.json, result.md).`;

const valueFlags = new Set([
  "--mode", "--profile", "--shards", "--rounds", "--ops", "--sessions", "--inflight", "--workers",
  "--entries-per-dir", "--phase-seconds", "--only", "--json", "--breakdown-ops",
]);
const booleanFlags = new Set(["--keep", "--help", "--breakdown", "--cpu-prof"]);

/** Parses argv; returns "help" for --help. */
export function parseBenchArgs(argv: readonly string[]): BenchOptions | "help" {
  const { values, switches } = splitFlags(argv, valueFlags, booleanFlags);
  if (switches.has("--help")) return "help";

  const mode = oneOf(modes, values.get("--mode") ?? "protocol", "--mode");
  const only = values.has("--only") ? oneOf(targetNames, values.get("--only")!, "--only") : null;
  const profile = oneOf(profileChoices, values.get("--profile") ?? "minimal", "--profile");
  if (switches.has("--breakdown") && only === "mfsmaster") throw new UsageError("--breakdown traces Antler; it cannot go with --only mfsmaster");
  if (values.has("--breakdown-ops") && !switches.has("--breakdown")) throw new UsageError("--breakdown-ops needs --breakdown");
  if (switches.has("--cpu-prof") && only === "mfsmaster") throw new UsageError("--cpu-prof profiles Antler; it cannot go with --only mfsmaster");
  if (switches.has("--cpu-prof") && mode === "mount") throw new UsageError("--cpu-prof runs a protocol round; it cannot go with --mode mount");
  const opsDefault = mode === "mount" ? 1000 : profile === "all" ? benchLimits.opsAllProfilesDefault : 10_000;
  return {
    mode,
    profile,
    shards: integer(values, "--shards", benchLimits.shardedShardsDefault, 1, benchLimits.shardsMax),
    rounds: integer(values, "--rounds", 2, 1, benchLimits.roundsMax),
    ops: integer(values, "--ops", opsDefault, 1, benchLimits.opsMax),
    sessions: integer(values, "--sessions", 4, 1, benchLimits.sessionsMax),
    inflight: integer(values, "--inflight", 16, 1, benchLimits.inflightPerSessionMax),
    workers: integer(values, "--workers", 4, 1, 64),
    entriesPerDir: integer(values, "--entries-per-dir", benchLimits.entriesPerDirDefault, 1, benchLimits.entriesPerDirMax),
    phaseSeconds: integer(values, "--phase-seconds", benchLimits.phaseSecondsDefault, 1, benchLimits.phaseSecondsMax),
    only,
    jsonPath: values.get("--json") ?? null,
    keep: switches.has("--keep"),
    breakdown: switches.has("--breakdown"),
    breakdownOps: integer(values, "--breakdown-ops", benchLimits.breakdownOpsDefault, 1, benchLimits.opsMax),
    cpuProf: switches.has("--cpu-prof"),
  };
}

/**
 * argv split into `--flag value` / `--flag=value` pairs and switches; an unknown flag, a repeated
 * one, a switch with a value or a flag without one is a UsageError.
 */
export function splitFlags(
  argv: readonly string[],
  valueFlags: ReadonlySet<string>,
  booleanFlags: ReadonlySet<string>,
): { readonly values: Map<string, string>; readonly switches: Set<string> } {
  const values = new Map<string, string>();
  const switches = new Set<string>();
  for (let index = 0; index < argv.length; index += 1) {
    const argument = argv[index]!;
    const equals = argument.indexOf("=");
    const flag = argument.startsWith("--") && equals > 0 ? argument.slice(0, equals) : argument;
    if (booleanFlags.has(flag)) {
      if (flag !== argument) throw new UsageError(`${flag} takes no value`);
      switches.add(flag);
      continue;
    }
    if (!valueFlags.has(flag)) throw new UsageError(`unknown option '${argument}' (see --help)`);
    if (values.has(flag)) throw new UsageError(`${flag} given twice`);
    const value = flag !== argument ? argument.slice(equals + 1) : argv[++index];
    if (value === undefined || value === "" || value.startsWith("--")) throw new UsageError(`${flag} needs a value`);
    values.set(flag, value);
  }
  return { values, switches };
}

/** The whole number given for `flag` (min..max), or `fallback` when absent. */
export function integer(values: Map<string, string>, flag: string, fallback: number, min: number, max: number): number {
  const text = values.get(flag);
  if (text === undefined) return fallback;
  if (!/^[0-9]+$/.test(text)) throw new UsageError(`${flag} must be a whole number, not '${text}'`);
  const value = Number(text);
  if (value < min || value > max) throw new UsageError(`${flag} must be between ${min} and ${max}, not ${text}`);
  return value;
}

function oneOf<T extends string>(choices: readonly T[], value: string, flag: string): T {
  const found = choices.find((choice) => choice === value);
  if (found === undefined) throw new UsageError(`${flag} must be one of ${choices.join(", ")}, not '${value}'`);
  return found;
}
