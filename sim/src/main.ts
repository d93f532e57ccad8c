/**
 * `npm run sim -- [--seed N] [--steps N] [--sweep K] [--variant NAME] [--direct] [--hostile] [--msgids per-thread|unique] [--model] [--trail]`
 * `npm run sim -- --sharded [--shards 2-4] [--routers 1-2] [--seed N] [--steps N] [--sweep K] [--variant NAME] [--direct] [--hostile] [--trail]`
 *
 * Runs the deterministic simulation. Without --seed it draws one and prints it first, so every
 * run can be replayed. --sweep K runs seeds N..N+K-1. A failure prints the seed, the reason and
 * the exact command that replays it, and the exit code is 1.
 */
import { parseArgs } from "node:util";
import { createPlacement } from "@antler/slots";
import { drawSeed, seedMax } from "./prng.ts";
import { runShardedSimulation } from "./sharded-simulation.ts";
import { hostileSwarm, runSimulation, type SimulationOptions } from "./simulation.ts";
import { shardedOnlyVariants, variants, type VariantName } from "./variants.ts";

const usage =
  `usage: npm run sim -- [--seed N] [--steps N] [--sweep K] [--variant ${Object.keys(variants).join("|")}] ` +
  "[--direct] [--hostile] [--msgids per-thread|unique] [--model] [--trail] [--sharded [--shards 2-4] [--routers 1-2]]\n" +
  "  --direct      clients send commands straight to the shard (no MooseFS codec, no gateway)\n" +
  "  --hostile     the hostile swarm (3 replicas, a fault every 0.5 s) where the variants are hunted\n" +
  "  --msgids      per-thread (default): mounts reuse one msgid per worker thread, as mfsmount does;\n" +
  "                unique: a new msgid per request\n" +
  "  --model       the reference model as the state machine (tests the harness itself)\n" +
  "  --trail       print the last events before a failure\n" +
  "  --sharded     2-4 shard groups (drawn from the seed, or --shards N) and 1-2 routers (or\n" +
  "                --routers N) coordinating cross-shard transactions under one lease; real BLAKE3\n" +
  "                placement and shard map";

function fail(message: string): never {
  process.stderr.write(`${message}\n${usage}\n`);
  process.exit(2);
}

function integer(text: string | undefined, name: string, fallback: number, min: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text)) fail(`--${name} must be a non-negative integer`);
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min || value > seedMax) fail(`--${name} out of range`);
  return value;
}

const options = {
  seed: { type: "string" },
  steps: { type: "string" },
  sweep: { type: "string" },
  variant: { type: "string" },
  model: { type: "boolean", default: false },
  direct: { type: "boolean", default: false },
  hostile: { type: "boolean", default: false },
  msgids: { type: "string" },
  trail: { type: "boolean", default: false },
  sharded: { type: "boolean", default: false },
  shards: { type: "string" },
  routers: { type: "string" },
  help: { type: "boolean", default: false },
} as const;

function parseArgsOrExit(): ReturnType<typeof parseArgs<{ options: typeof options; strict: true }>> {
  try {
    return parseArgs({ options, strict: true });
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
}

async function main(): Promise<number> {
  const { values } = parseArgsOrExit();
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const seedGiven = values.seed !== undefined;
  const first = seedGiven ? integer(values.seed, "seed", 0, 0) : drawSeed();
  if (!seedGiven) process.stdout.write(`seed ${first}\n`);
  const steps = integer(values.steps, "steps", 1_000, 1);
  const sweep = integer(values.sweep, "sweep", 1, 1);
  if (values.variant !== undefined && !(values.variant in variants)) fail(`unknown variant ${values.variant}`);
  const variantName = values.variant as VariantName | undefined;
  if (values.msgids !== undefined && values.msgids !== "per-thread" && values.msgids !== "unique") fail(`unknown --msgids ${values.msgids}`);
  const msgids = (values.msgids ?? "per-thread") as "per-thread" | "unique";
  const sharded = values.sharded || values.shards !== undefined || values.routers !== undefined;
  const shards = values.shards === undefined ? undefined : integer(values.shards, "shards", 2, 2);
  if (shards !== undefined && shards > 4) fail("--shards must be 2..4");
  const routers = values.routers === undefined ? undefined : integer(values.routers, "routers", 1, 1);
  if (routers !== undefined && routers > 2) fail("--routers must be 1..2");
  if (variantName !== undefined && shardedOnlyVariants.has(variantName) && !sharded) fail(`variant ${variantName} needs --sharded`);
  if (sharded && values.model) fail("--model runs one shard only");
  const placement = await createPlacement();
  const extra = [
    values.steps !== undefined ? ` --steps ${steps}` : "",
    variantName !== undefined ? ` --variant ${variantName}` : "",
    values.model ? " --model" : "",
    values.direct ? " --direct" : "",
    values.hostile ? " --hostile" : "",
    values.msgids !== undefined ? ` --msgids ${msgids}` : "",
    sharded ? " --sharded" : "",
    shards !== undefined ? ` --shards ${shards}` : "",
    routers !== undefined ? ` --routers ${routers}` : "",
  ].join("");

  let failures = 0;
  const started = Date.now();
  for (let seed = first; seed < first + sweep; seed++) {
    if (sharded) {
      const result = await runShardedSimulation({
        seed,
        steps,
        placement,
        ...(shards !== undefined ? { shards } : {}),
        ...(routers !== undefined ? { routers } : {}),
        ...(variantName !== undefined ? { variant: variants[variantName] } : {}),
        ...(values.hostile ? { swarm: hostileSwarm } : {}),
        path: values.direct ? "direct" : "gateway",
      });
      const { stats } = result;
      const summary =
        `${stats.shards} shards, ${stats.opsAnswered}/${stats.opsIssued} ops answered (${stats.coordinated} by a coordinator; ${stats.coordinatorOverlaps} lease overlaps), ` +
        `transactions: ${stats.txCommitted} committed, ${stats.txAborted} aborted, ` +
        `${stats.resolvedCommit + stats.resolvedAbort} resolved by shards; ${stats.logRecords} log records, ${stats.events} events, ` +
        `${(stats.simulatedMs / 1000).toFixed(1)}s simulated; faults: ${stats.crashes} crashes, ${stats.partitions} partitions, ` +
        `${stats.pauses} pauses, ${stats.outages} JetStream outages; ${stats.swarm.replicas} replicas per shard, ${stats.swarm.clients} clients`;
      if (result.failure === null) {
        process.stdout.write(`ok seed=${seed}: ${summary}\n`);
        continue;
      }
      failures++;
      if (values.trail) process.stdout.write(`${result.trail.join("\n")}\n`);
      process.stdout.write(`FAIL seed=${seed}: ${result.failure}\n  (${summary})\nreplay: npm run sim -- --seed ${seed}${extra}\n`);
      continue;
    }
    const options: SimulationOptions = {
      seed,
      steps,
      variant: variantName === undefined ? undefined : variants[variantName],
      stateMachine: values.model ? "model" : "real",
      path: values.direct ? "direct" : "gateway",
      ...(values.hostile ? { swarm: hostileSwarm } : {}),
      msgids,
      directorySlot: (parent, name) => placement.directorySlot(parent, name),
    };
    const result = runSimulation(options);
    const { stats } = result;
    const summary =
      `${stats.opsAnswered}/${stats.opsIssued} ops answered${stats.resendsOfApplied > 0 ? ` (${stats.resendsOfApplied} re-sent after being applied, ${stats.doubleExecutions} applied twice, ${stats.phantomApplies} failed yet applied by a retry)` : ""}, ` +
      `${stats.logRecords} log records, ${stats.events} events, ` +
      `${(stats.simulatedMs / 1000).toFixed(1)}s simulated; faults: ${stats.crashes} crashes, ${stats.partitions} partitions, ` +
      `${stats.pauses} pauses, ${stats.outages} JetStream outages; ${stats.swarm.replicas} replicas, ${stats.swarm.clients} clients`;
    if (result.failure === null) {
      process.stdout.write(`ok seed=${seed}: ${summary}\n`);
      continue;
    }
    failures++;
    if (values.trail) process.stdout.write(`${result.trail.join("\n")}\n`);
    process.stdout.write(`FAIL seed=${seed}: ${result.failure}\n  (${summary})\nreplay: npm run sim -- --seed ${seed}${extra}\n`);
  }
  if (sweep > 1) process.stdout.write(`${sweep - failures}/${sweep} seeds passed in ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
  return failures === 0 ? 0 : 1;
}

process.exitCode = await main();
