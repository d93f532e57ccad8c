/**
 * `antler fsck --data DIR [--json]`: checks the whole namespace of a running cluster. Every
 * shard is read page by page (`fsckdump`, through the shard's request subject, as the coordinator
 * talks to shards), then fsck-check.ts checks what only the cluster as a whole can see. When the
 * first pass finds anything (a problem, a prepared transaction), the namespace is read again
 * fsckRecheckDelayMs later and only what both passes saw is reported: the cluster keeps serving
 * while it is read, so one pass can catch an operation half done.
 *
 * Exit status: 0 clean, 1 problems found, 2 bad usage, 3 the namespace could not be read.
 */
import { limits } from "@antler/base";
import type { NatsConnection } from "@antler/io-nats";
import {
  Status, decodeMessage, encodeMessage, shardRequestSubject, type Command, type Ctx, type FsckNode,
  type MetaRequest,
} from "@antler/ops";
import type { ShardMap } from "@antler/router-core";
import type { FsckCommand } from "./args.ts";
import { readClusterConfig } from "./cluster-file.ts";
import {
  ClusterUnreachable, connectToCluster, createPartsRequester, firstSlotOfShards, readShardMap,
  type PartsRequester,
} from "./cluster-link.ts";
import { layoutOf } from "./config.ts";
import { checkNamespace, confirmFindings, type FsckFindings, type NamespaceDump, type ShardDump } from "./fsck-check.ts";
import {
  fsckPageAttempts, fsckPageTimeoutMs, fsckProblemsShownMax, fsckProgressEveryPages, fsckRecheckDelayMs,
  fsckRetryPauseMs,
} from "./limits.ts";
import { insideNetns } from "./netns.ts";
import { sleep } from "./processes.ts";
import { statusView } from "./status.ts";

export const fsckExit = { clean: 0, problems: 1, usage: 2, unreadable: 3 } as const;

/** A shard's answer could not be had or made sense of; the check cannot be complete. */
export class FsckReadError extends Error {
  override name = "FsckReadError";
}

export interface FsckPage {
  readonly nodes: readonly FsckNode[];
  readonly problems: readonly string[];
  readonly next: number | null;
  readonly prepared: readonly string[];
}

const statusNames = new Map<number, string>(Object.entries(Status).map(([name, code]) => [code, name]));

function statusName(code: number): string {
  return statusNames.get(code) ?? `status ${code}`;
}

const isInode = (value: unknown): value is number => Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 0xffffffff;
const isStrings = (value: unknown): value is string[] => Array.isArray(value) && value.every((item) => typeof item === "string");

function isEdge(value: unknown): boolean {
  const edge = value as { parent?: unknown; name?: unknown } | null;
  return typeof edge === "object" && edge !== null && isInode(edge.parent) && typeof edge.name === "string";
}

function isEntry(value: unknown): boolean {
  const entry = value as { name?: unknown; inode?: unknown; type?: unknown; remote?: unknown } | null;
  return typeof entry === "object" && entry !== null && typeof entry.name === "string" && isInode(entry.inode) &&
    Number.isInteger(entry.type) && typeof entry.remote === "boolean";
}

function isFsckNode(value: unknown): value is FsckNode {
  const node = value as Record<string, unknown> | null;
  if (typeof node !== "object" || node === null) return false;
  if (!isInode(node["inode"]) || !Number.isInteger(node["type"]) || typeof node["detached"] !== "boolean") return false;
  const parents = node["parents"];
  if (!Array.isArray(parents) || !parents.every(isEdge)) return false;
  const entries = node["entries"];
  return entries === undefined || (Array.isArray(entries) && entries.every(isEntry));
}

/**
 * A decoded fsckdump reply, checked field by field; a failure status or anything malformed is a
 * FsckReadError naming the shard. Nodes must come in ascending inode order above `afterInode`
 * (paging relies on it).
 */
export function parseFsckPage(value: unknown, shardId: number, afterInode: number): FsckPage {
  const bad = (why: string): never => {
    throw new FsckReadError(`shard ${shardId}: fsckdump answer after inode ${afterInode}: ${why}`);
  };
  if (typeof value !== "object" || value === null) return bad("not an object");
  const reply = value as Record<string, unknown>;
  const status = reply["status"];
  if (status !== 0) {
    if (status === Status.MOVED) return bad("MOVED (the shard map changed while checking; run fsck again)");
    return bad(typeof status === "number" ? statusName(status) : "no status");
  }
  const { nodes, problems, next, prepared } = reply;
  if (!Array.isArray(nodes)) return bad("nodes is not a list");
  let previous = afterInode;
  for (const node of nodes) {
    if (!isFsckNode(node)) return bad(`malformed node ${JSON.stringify(node).slice(0, 200)}`);
    if (node.inode <= previous) return bad(`inode ${node.inode} out of order (after ${previous})`);
    previous = node.inode;
  }
  if (!isStrings(problems)) return bad("problems is not a list of strings");
  if (!isStrings(prepared)) return bad("prepared is not a list of strings");
  if (next !== null && (!Number.isInteger(next) || (next as number) < previous || (next as number) <= afterInode)) {
    return bad(`next ${String(next)} does not move forward`);
  }
  return { nodes: nodes as FsckNode[], problems, next: next as number | null, prepared };
}

/** The system's own identity: root, no session (as the coordinator's internal calls). */
function systemCtx(requestId: string): Ctx {
  return { sessionId: 0, uid: 0, gids: [0], sesflags: 0, rootInode: limits.rootInode, requestId };
}

interface ReadOptions {
  readonly pass: number;
  readonly progress: (line: string) => void;
}

async function readPage(requester: PartsRequester, shardId: number, slot: number, afterInode: number, requestId: string): Promise<FsckPage> {
  const cmd: Command = { kind: "fsckdump", slot, afterInode, max: limits.fsckPageNodesMax };
  const request: MetaRequest = { ctx: systemCtx(requestId), cmd };
  const body = encodeMessage(request);
  let lastError: unknown;
  for (let attempt = 1; attempt <= fsckPageAttempts; attempt++) {
    let data: Uint8Array;
    try {
      data = await requester.request(shardRequestSubject(shardId), body, fsckPageTimeoutMs);
    } catch (error) {
      lastError = error;
      if (attempt < fsckPageAttempts) await sleep(fsckRetryPauseMs);
      continue;
    }
    let decoded: unknown;
    try {
      decoded = decodeMessage(data);
    } catch (error) {
      throw new FsckReadError(`shard ${shardId}: undecodable fsckdump answer: ${String(error)}`, { cause: error });
    }
    return parseFsckPage(decoded, shardId, afterInode);
  }
  const why = lastError instanceof Error ? lastError.message : String(lastError);
  throw new FsckReadError(`shard ${shardId} did not answer fsckdump after ${fsckPageAttempts} attempts: ${why}`, { cause: lastError });
}

async function readShard(requester: PartsRequester, shardId: number, slot: number, options: ReadOptions): Promise<ShardDump> {
  const nodes: FsckNode[] = [];
  let problems: readonly string[] = [];
  let prepared: readonly string[] = [];
  let afterInode = 0;
  for (let page = 1; ; page++) {
    const answer = await readPage(requester, shardId, slot, afterInode, `fsck/${shardId}/${options.pass}.${page}`);
    // The shard reports its own problems and prepared transactions with the first page.
    if (page === 1) {
      problems = answer.problems;
      prepared = answer.prepared;
    }
    for (const node of answer.nodes) nodes.push(node);
    if (page % fsckProgressEveryPages === 0) {
      options.progress(`fsck: pass ${options.pass}: shard ${shardId}: ${page} pages, ${nodes.length} nodes read`);
    }
    if (answer.next === null) {
      if (page >= fsckProgressEveryPages) options.progress(`fsck: pass ${options.pass}: shard ${shardId}: done, ${nodes.length} nodes`);
      return { shardId, nodes, problems, prepared };
    }
    afterInode = answer.next;
  }
}

/** Every shard of the map, in parallel (each shard's pages in order). */
export async function readNamespace(nc: NatsConnection, map: ShardMap, options: ReadOptions): Promise<NamespaceDump> {
  const slots = firstSlotOfShards(map);
  const requester = createPartsRequester(nc);
  try {
    const shardIds = Array.from({ length: map.shardCount }, (_, shardId) => shardId);
    const withSlots = shardIds.filter((shardId) => slots.has(shardId));
    const shards = await Promise.all(withSlots.map((shardId) => readShard(requester, shardId, slots.get(shardId)!, options)));
    // A shard that owns no slot cannot be asked (requests name an owned slot) and holds nothing.
    return { slotOwners: map.slots, shards };
  } finally {
    requester.close();
  }
}

export interface FsckReport {
  readonly findings: FsckFindings;
  /** 1, or 2 when the first pass found something and was confirmed by a second. */
  readonly passes: number;
  /** Problems of the first pass the second did not see again (operations in flight): not reported. */
  readonly unconfirmed: number;
  readonly mapVersion: number;
}

export function formatFsckReport(report: FsckReport): string[] {
  const { findings } = report;
  const lines: string[] = [];
  const header = ["SHARD", "NODES", "DIRS", "FILES", "OTHER", "DETACHED"];
  const rows = findings.shards.map((shard) => [shard.shardId, shard.nodes, shard.dirs, shard.files, shard.others, shard.detached].map(String));
  const total = (pick: (shard: FsckFindings["shards"][number]) => number): string =>
    String(findings.shards.reduce((sum, shard) => sum + pick(shard), 0));
  rows.push(["all", total((s) => s.nodes), total((s) => s.dirs), total((s) => s.files), total((s) => s.others), total((s) => s.detached)]);
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? "").length)));
  for (const row of [header, ...rows]) lines.push(row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join("  ").trimEnd());
  const passes = report.passes === 1
    ? "one pass"
    : `two passes (problems must appear in both; ${report.unconfirmed} seen only in the first were operations in flight)`;
  lines.push(`shard map version ${report.mapVersion}; ${passes}`);
  for (const txn of findings.pending) lines.push(`pending: shard ${txn.shardId}: transaction ${JSON.stringify(txn.txid)} (being decided)`);
  const shown = findings.problems.slice(0, fsckProblemsShownMax);
  for (const problem of shown) lines.push(`problem: ${problem}`);
  if (findings.problems.length > shown.length) {
    lines.push(`... and ${findings.problems.length - shown.length} more problems (all of them with --json)`);
  }
  lines.push(findings.problems.length === 0 ? "fsck: clean" : `fsck: ${findings.problems.length} problems`);
  return lines;
}

/** Reads and checks the namespace; a second pass confirms whatever the first one found. */
export async function checkCluster(nc: NatsConnection, progress: (line: string) => void): Promise<FsckReport> {
  const map = await readShardMap(nc);
  const first = checkNamespace(await readNamespace(nc, map, { pass: 1, progress }));
  if (first.problems.length === 0 && first.pending.length === 0) {
    return { findings: first, passes: 1, unconfirmed: 0, mapVersion: map.version };
  }
  progress(`fsck: pass 1 found ${first.problems.length} problems and ${first.pending.length} prepared transactions; ` +
    `reading again in ${fsckRecheckDelayMs / 1000} s to confirm`);
  await sleep(fsckRecheckDelayMs);
  const secondMap = await readShardMap(nc);
  if (secondMap.version !== map.version) {
    throw new FsckReadError(`the shard map changed during the check (version ${map.version} → ${secondMap.version}); run fsck again`);
  }
  const second = checkNamespace(await readNamespace(nc, map, { pass: 2, progress }));
  const again = new Set(second.problems);
  const unconfirmed = first.problems.filter((line) => !again.has(line)).length;
  return { findings: confirmFindings(first, second, fsckRecheckDelayMs), passes: 2, unconfirmed, mapVersion: map.version };
}

export async function fsck(command: FsckCommand, out: (line: string) => void, progress: (line: string) => void): Promise<number> {
  const layout = layoutOf(command.dataDir);
  const config = readClusterConfig(layout);
  const fail = (message: string): number => {
    progress(`antler: fsck: ${message}`);
    return fsckExit.unreadable;
  };
  if (config === undefined) return fail(`no cluster in ${command.dataDir}`);
  const view = statusView(command.dataDir);
  if (view.status !== "running") return fail(`the cluster is ${view.status}; fsck needs it running`);
  if (config.network.mode === "netns" && !insideNetns(config.network.netns)) {
    return fail(`the cluster's NATS is inside namespace ${config.network.netns}; run antler fsck as root to enter it`);
  }
  let nc: NatsConnection | undefined;
  try {
    nc = await connectToCluster(config, "antler-fsck");
    const report = await checkCluster(nc, progress);
    if (command.json) {
      out(JSON.stringify({
        clean: report.findings.problems.length === 0, passes: report.passes, unconfirmed: report.unconfirmed,
        mapVersion: report.mapVersion,
        shards: report.findings.shards, pending: report.findings.pending, problems: report.findings.problems,
      }, null, 2));
    } else {
      for (const line of formatFsckReport(report)) out(line);
    }
    return report.findings.problems.length === 0 ? fsckExit.clean : fsckExit.problems;
  } catch (error) {
    if (error instanceof FsckReadError || error instanceof ClusterUnreachable) return fail(error.message);
    if (error instanceof Error && error.name === "ShardMapError") return fail(`the stored shard map is invalid: ${error.message}`);
    throw error;
  } finally {
    await nc?.close();
  }
}
