// What the sharded-metadata suites (sharded-*.e2e.ts) share: their switches from the environment,
// an Antler cluster with its metadata over several shards plus real mounts in a fresh namespace,
// and where things landed: the shard of an inode (its slot, inode >>> limits.localBits, looked
// up in the cluster's shard map) and the per-shard counts the cluster itself reports
// (`antler status --json`, or `antler fsck --json`).

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { limits } from "@antler/base";
import { antlerBin } from "./antler.ts";
import { saveLogs } from "./artifacts.ts";
import { FaultAntler, type Profile } from "./fault-antler.ts";
import { mountMfs, type MfsMount } from "./mount.ts";
import { createNetns, type Netns } from "./netns.ts";
import { waitFor } from "./proc.ts";
import { makeTempDir } from "./tempdir.ts";

/** The slow sharded suites run only with ANTLER_E2E_SHARDED=1 (they do not fit CI's time). */
export const shardedSuitesEnabled = process.env["ANTLER_E2E_SHARDED"] === "1";
export const shardedSkipReason = shardedSuitesEnabled ? false : "set ANTLER_E2E_SHARDED=1 to run the sharded suites";

/** KV bucket and key of the shard map (`clusterBucket`, `shardMapKey` in @antler/ops). */
const clusterBucket = "antler-cluster";
const shardMapKey = "shardmap";
const statusTimeoutMs = 20_000;

export function positiveIntegerFromEnv(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === "") return fallback;
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new Error(`${name} must be a positive whole number, not ${JSON.stringify(text)}`);
  return Number(text);
}

/** A seed from `name`, else a fresh one (printed by the caller so the run can be replayed). */
export function seedFromEnv(name: string): number {
  const text = process.env[name];
  if (text === undefined || text === "") return Math.floor(Math.random() * 2 ** 31);
  if (!/^\d+$/.test(text)) throw new Error(`${name} must be a whole number, not ${JSON.stringify(text)}`);
  return Number(text);
}

export function progressTo(label: string): (message: string) => void {
  return (message) => process.stderr.write(`  [${label}] ${new Date().toISOString().slice(11, 23)} ${message}\n`);
}

/** An Antler cluster with several shards and N mounts in a fresh namespace. */
export interface ShardedCluster {
  readonly antler: FaultAntler;
  readonly netns: Netns;
  /** The test's temp dir (cluster data, logs, mount points). */
  readonly dir: string;
  readonly mounts: readonly MfsMount[];
  /** Copies the cluster's and the mounts' logs into the artifacts as `<name>-*`. */
  saveLogs(name: string): void;
  /** Unmounts, stops the cluster, removes the namespace (the temp dir goes at cleanup). */
  teardown(): void;
}

export interface ShardedClusterOptions {
  readonly label: string;
  readonly shards: number;
  readonly mounts: number;
  /** Launcher profile (default "minimal"). `--chunkservers` is always 1: file data needs one. */
  readonly profile?: Profile;
  readonly shardReplicas?: number;
}

export async function startShardedCluster(options: ShardedClusterOptions): Promise<ShardedCluster> {
  const dir = makeTempDir(options.label);
  const logs = join(dir, "logs");
  mkdirSync(logs);
  const netns = createNetns();
  const antler = new FaultAntler(netns, join(dir, "antler-data"), options.profile ?? "minimal", options.shardReplicas, options.shards);
  const mounts: MfsMount[] = [];
  const save = (name: string): void => {
    saveLogs(`${name}-antler-logs`, join(dir, "antler-data", "logs"));
    saveLogs(`${name}-mfsmount-logs`, logs);
  };
  const teardown = (): void => {
    while (mounts.length > 0) mounts.pop()!.unmount();
    antler.down();
    netns.remove();
  };
  try {
    await antler.up();
    for (let index = 0; index < options.mounts; index++) {
      mounts.push(await mountMfs(netns, join(dir, `mnt${index}`), join(logs, `mfsmount${index}.log`)));
    }
  } catch (error) {
    save(`${options.label}-start-failure`);
    try {
      teardown();
    } catch (cleanupError) {
      // The start failure is the news; the cleanup registry retries the rest at exit.
      process.stderr.write(`  teardown after a failed start: ${String(cleanupError)}\n`);
    }
    throw error;
  }
  return { antler, netns, dir, mounts, saveLogs: save, teardown };
}

/** The cluster's shard map: slots[slot] = the shard owning it. */
export async function readShardMap(antler: FaultAntler): Promise<{ readonly shardCount: number; readonly slots: readonly number[] }> {
  const text = await antler.kvValue(clusterBucket, shardMapKey);
  if (text === null) throw new Error(`no shard map in KV ${clusterBucket}/${shardMapKey}`);
  const value = JSON.parse(text) as { shardCount?: unknown; slots?: unknown };
  if (typeof value.shardCount !== "number" || !Array.isArray(value.slots) || value.slots.length !== limits.slotCount) {
    throw new Error(`malformed shard map: ${text.slice(0, 200)}`);
  }
  return { shardCount: value.shardCount, slots: value.slots.map(Number) };
}

export function slotOfInode(inode: number): number {
  return inode >>> limits.localBits;
}

/** Counts of one shard: directories, files (everything not a directory) and both together. */
export interface ShardCounts {
  readonly shardId: number;
  readonly dirs: number;
  readonly files: number;
  readonly inodes: number;
}

/** Where each inode of `nodes` lives by the shard map (each inode counted once). */
export function countByShard(
  nodes: Iterable<{ readonly inode: number; readonly isDir: boolean }>,
  map: { readonly shardCount: number; readonly slots: readonly number[] },
): ShardCounts[] {
  const counts = Array.from({ length: map.shardCount }, (_, shardId) => ({ shardId, dirs: 0, files: 0, inodes: 0 }));
  const seen = new Set<number>();
  for (const node of nodes) {
    if (seen.has(node.inode)) continue;
    seen.add(node.inode);
    const shard = map.slots[slotOfInode(node.inode)];
    if (shard === undefined || counts[shard] === undefined) throw new Error(`inode ${node.inode} has slot ${slotOfInode(node.inode)}, owned by no shard`);
    const entry = counts[shard];
    entry.inodes++;
    if (node.isDir) entry.dirs++;
    else entry.files++;
  }
  return counts;
}

/**
 * Per-shard counts as the cluster reports them: any objects with a numeric `shardId` and numeric
 * `dirs` and `files` anywhere in `json` (`antler status --json` shows the shards' live stats;
 * `antler fsck --json` may too). Undefined when there are none.
 */
export function reportedShardCounts(json: unknown): ShardCounts[] | undefined {
  const found = new Map<number, ShardCounts>();
  const walk = (node: unknown, depth: number): void => {
    if (depth > 8 || node === null || typeof node !== "object") return;
    if (Array.isArray(node)) {
      for (const item of node) walk(item, depth + 1);
      return;
    }
    const record = node as Record<string, unknown>;
    const { shardId, dirs, files, inodes } = record;
    if (typeof shardId === "number" && typeof dirs === "number" && typeof files === "number") {
      found.set(shardId, { shardId, dirs, files, inodes: typeof inodes === "number" ? inodes : dirs + files });
      return;
    }
    for (const child of Object.values(record)) walk(child, depth + 1);
  };
  walk(json, 0);
  return found.size === 0 ? undefined : [...found.values()].sort((a, b) => a.shardId - b.shardId);
}

/**
 * `antler status --data DIR --json` inside the cluster's namespace (the shards' live figures come
 * from the cluster's NATS there), parsed: the raw object, the suites look for per-shard stats.
 */
export async function statusJson(netns: Netns, dataDir: string): Promise<unknown> {
  const result = await netns.run([antlerBin, "status", "--data", dataDir, "--json"], { timeoutMs: statusTimeoutMs });
  if (result.code !== 0) throw new Error(`antler status failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as unknown;
}

export function formatShardCounts(title: string, counts: readonly ShardCounts[]): string {
  const rows = counts.map((entry) => `    shard ${entry.shardId}: ${String(entry.dirs).padStart(7)} dirs ${String(entry.files).padStart(8)} files ${String(entry.inodes).padStart(8)} inodes`);
  return `  ${title}\n${rows.join("\n")}`;
}

/** Waits until every process runs and every shard has a live leader. */
export async function waitShardsServing(antler: FaultAntler, shards: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let shardId = 0; shardId < shards; shardId++) {
    await antler.waitWhole(Math.max(1_000, deadline - Date.now()), shardId);
  }
  await waitFor(async () => (await antler.processes()).every((entry) => entry.alive && entry.status === "running"), Math.max(1_000, deadline - Date.now()), () => "not every process runs", 200);
}
