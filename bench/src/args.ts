/**
 * Command line of `npm run bench`: argv in, typed options or a UsageError (one line) out. No I/O,
 * so every accepted and refused form is unit-tested.
 */
import { type Profile, profiles } from "./antler-target.ts";
import * as benchLimits from "./limits.ts";
import { type TargetName, targetNames } from "./target.ts";

export const modes = ["protocol", "mount"] as const;
export type Mode = (typeof modes)[number];

export interface BenchOptions {
  mode: Mode;
  profile: Profile;
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
}

export class UsageError extends Error {
  override name = "UsageError";
}

export const usageText = `usage: npm run bench -- [options]

Runs the same metadata workload against Antler and the real mfsmaster 3.0.117, alternating
(A B A B ...), each server in its own network namespace, and prints one comparison table.

  --mode protocol|mount   protocol: speak the MooseFS client protocol directly (default);
                          mount: time file-system calls through a real mfsmount
  --profile NAME          Antler layout: minimal (default), ha, sharded
  --shards N              shards of the sharded profile (default 2)
  --rounds R              rounds per server (default 2)
  --ops N                 operations per phase (default 10000; mount mode 1000)
  --sessions S            protocol sessions (default 4)
  --inflight K            requests in flight per session (default 16)
  --workers W             parallel workers of mount mode's second pass (default 4)
  --entries-per-dir E     files per bucket directory (default ${benchLimits.entriesPerDirDefault})
  --phase-seconds T       time budget of one phase (default ${benchLimits.phaseSecondsDefault})
  --only antler|mfsmaster run against one server only
  --json PATH             also write the JSON result to PATH
  --keep                  keep the work directory (server data and logs) under /tmp
  --help                  show this text

Results are also written to bench/results/<timestamp>/ (result.json, result.md).`;

const valueFlags = new Set([
  "--mode", "--profile", "--shards", "--rounds", "--ops", "--sessions", "--inflight", "--workers",
  "--entries-per-dir", "--phase-seconds", "--only", "--json",
]);
const booleanFlags = new Set(["--keep", "--help"]);

/** Parses argv; returns "help" for --help. */
export function parseBenchArgs(argv: readonly string[]): BenchOptions | "help" {
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
  if (switches.has("--help")) return "help";

  const mode = oneOf(modes, values.get("--mode") ?? "protocol", "--mode");
  const only = values.has("--only") ? oneOf(targetNames, values.get("--only")!, "--only") : null;
  return {
    mode,
    profile: oneOf(profiles, values.get("--profile") ?? "minimal", "--profile"),
    shards: integer(values, "--shards", 2, 1, 64),
    rounds: integer(values, "--rounds", 2, 1, benchLimits.roundsMax),
    ops: integer(values, "--ops", mode === "mount" ? 1000 : 10_000, 1, benchLimits.opsMax),
    sessions: integer(values, "--sessions", 4, 1, benchLimits.sessionsMax),
    inflight: integer(values, "--inflight", 16, 1, benchLimits.inflightPerSessionMax),
    workers: integer(values, "--workers", 4, 1, 64),
    entriesPerDir: integer(values, "--entries-per-dir", benchLimits.entriesPerDirDefault, 1, benchLimits.entriesPerDirMax),
    phaseSeconds: integer(values, "--phase-seconds", benchLimits.phaseSecondsDefault, 1, benchLimits.phaseSecondsMax),
    only,
    jsonPath: values.get("--json") ?? null,
    keep: switches.has("--keep"),
  };
}

function integer(values: Map<string, string>, flag: string, fallback: number, min: number, max: number): number {
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
