/**
 * The shard-scaling workload at the protocol level (`npm run bench:shards`): S sessions registered
 * like mfsmount, K requests in flight per session, against one cluster.
 *
 * Layout (a fresh run directory in the root, so runs never collide):
 *   bench-<tag>/s<i>/d<k>      the tree: D directories, split evenly over the sessions
 *   bench-<tag>/s<i>/d<k>/f<j> file j of session i goes into its directory k = j mod (its D)
 * A directory's slot is BLAKE3(parent‖name) mod 2048 and its shard the slot's owner, so the tree
 * spreads over the shards and so do the files (a file lives in its parent's shard). A directory
 * whose shard differs from its parent's (s<i>) needs the coordinator: its mkdir and rmdir are
 * cross-shard transactions; creates, stats and unlinks stay on one shard.
 *
 * Phases, in order: mkdir (the tree), create, stat (GETATTR of the inode CREATE returned), unlink,
 * rmdir (the tree). Each phase reports, besides latency and throughput, how many of its operations
 * crossed shards: measured (the shards' `forwarded` counters before and after the phase) and
 * computed (the shard map applied to the names' slots and the inodes the replies returned).
 */
import { Status } from "@antler/ops";
import { slotOfInode } from "@antler/slots";
import { type Lane, type OpOutcome, runPhase } from "./phase-runner.ts";
import { instanceName, namespaceInode } from "./process-cpu.ts";
import { type Credentials, type MetaRequest, rootInode, statusOk } from "./protocol.ts";
import type { LoadResult, PhaseResult } from "./result.ts";
import { Session, SessionClosedError } from "./session.ts";
import { ShardProbe, type ShardMapSource } from "./shard-probe.ts";

export const shardPhases = ["mkdir", "create", "stat", "unlink", "rmdir"] as const;
export type ShardPhase = (typeof shardPhases)[number];

export interface ShardWorkloadConfig {
  mode: "shards";
  label: string;
  host: string;
  port: number;
  sessions: number;
  inflight: number;
  /** Files per phase (create, stat, unlink). */
  files: number;
  /** Directories of the tree (mkdir, rmdir). */
  dirs: number;
  phaseSeconds: number;
  /** Unique per run: names the run directory. */
  tag: string;
  /** The cluster's NATS, as reachable inside its namespace; null: cross-shard counts are computed only. */
  natsUrl: string | null;
  /** Shards the cluster was started with (the initial map's size when the stored map is unreadable). */
  shards: number;
}

/** How many of a phase's successful operations needed a cross-shard transaction. */
export interface CrossShardCount {
  /** Σ over the shards of `forwarded` after − before the phase (retries included); null when unreadable. */
  forwarded: number | null;
  /** By placement: the shard map applied to the new directory's slot or the inodes the replies named. */
  computed: number;
}

export interface ShardPhaseResult extends PhaseResult {
  crossShard: CrossShardCount;
}

export interface PlacementReport {
  mapSource: ShardMapSource;
  mapVersion: number;
  /** Tree directories per shard id, as made. */
  dirsPerShard: number[];
  /** Files per shard id, by the inode CREATE returned. */
  filesPerShard: number[];
  /** Directories whose inode's slot is not BLAKE3(parent‖name): the placement rule was not followed. */
  slotMismatches: number;
  /** Why `forwarded` is missing (null when every phase has it). */
  statsUnavailable: string | null;
}

export interface ShardLoadResult extends LoadResult {
  phases: ShardPhaseResult[];
  placement: PlacementReport | null;
}

const credentials: Credentials = { uid: 0, gids: [0] };
const dirMode = 0o755;
const fileMode = 0o644;
const encoder = new TextEncoder();
const nameOf = (text: string) => encoder.encode(text);

/** MooseFS status number → its name (MFS_ERROR_*), for error messages. */
const statusNames = new Map<number, string>(Object.entries(Status).map(([name, value]) => [value, name]));

function describeStatus(status: number): string {
  return statusNames.get(status) ?? `status ${status}`;
}

/** One session's share of the tree and the files, carried from phase to phase. */
interface SessionPlan {
  session: Session;
  index: number;
  /** Inode of s<i>, the parent of the session's tree directories. */
  parent: number;
  dirInodes: Uint32Array;
  fileInodes: Uint32Array;
}

/** Splits `total` over `parts`, the first ones getting one more. */
export function shareOf(total: number, parts: number, index: number): number {
  return Math.floor(total / parts) + (index < total % parts ? 1 : 0);
}

export async function runShardWorkload(config: ShardWorkloadConfig, progress: (line: string) => void): Promise<ShardLoadResult> {
  const notes: string[] = [];
  const phases: ShardPhaseResult[] = [];
  let setupErrors = 0;
  let cleanupErrors = 0;
  let placement: PlacementReport | null = null;
  const sessions: Session[] = [];
  const probe = await ShardProbe.open(config.natsUrl, config.shards);
  notes.push(...probe.notes);
  const fail = (what: string, status: number) => new Error(`${what}: ${describeStatus(status)}`);

  try {
    for (let index = 0; index < config.sessions; index += 1) {
      sessions.push(await Session.open({ host: config.host, port: config.port, info: `/antler-bench/${config.label}/${index}`, credentials }));
    }
    const first = sessions[0]!;
    const runDir = await first.request({ kind: "mkdir", parent: rootInode, name: nameOf(`bench-${config.tag}`), mode: dirMode, umask: 0 });
    if (runDir.reply.status !== statusOk) throw fail("mkdir of the run directory", runDir.reply.status);
    const runInode = runDir.reply.inode;
    const plans = await Promise.all(
      sessions.map(async (session, index): Promise<SessionPlan> => {
        const made = await session.request({ kind: "mkdir", parent: runInode, name: nameOf(`s${index}`), mode: dirMode, umask: 0 });
        if (made.reply.status !== statusOk) throw fail(`mkdir of session directory s${index}`, made.reply.status);
        return {
          session, index, parent: made.reply.inode,
          dirInodes: new Uint32Array(shareOf(config.dirs, config.sessions, index)),
          fileInodes: new Uint32Array(shareOf(config.files, config.sessions, index)),
        };
      }),
    );

    const tally = { cross: 0, slotMismatches: 0 };
    const serverNetnsInode = namespaceInode("/proc/self/ns/net");
    let statsUnavailable: string | null = null;
    /** Each shard's `forwarded` counter now, or null (the reason goes to statsUnavailable). */
    const forwardedNow = async (): Promise<number[] | null> => {
      const stats = await probe.stats();
      if (typeof stats === "string") {
        statsUnavailable ??= stats;
        return null;
      }
      return stats.map((shard) => shard.forwarded);
    };
    for (const phase of shardPhases) {
      tally.cross = 0;
      const before = await forwardedNow();
      const lanes = plans.map((plan) => laneFor(phase, plan, config, probe, tally));
      const result = await runPhase(lanes, {
        label: config.label, phase, budgetMs: config.phaseSeconds * 1000, progress, serverNetnsInode, processName: instanceName,
      });
      const after = before === null ? null : await forwardedNow();
      const forwarded = before === null || after === null ? null : forwardedDelta(before, after);
      if (typeof forwarded === "string") notes.push(`${phase}: ${forwarded}; its measured cross-shard count is unknown`);
      phases.push({ ...result, crossShard: { forwarded: typeof forwarded === "string" ? null : forwarded, computed: tally.cross } });
      if (phase === "create") placement = placementOf(probe, plans, tally.slotMismatches, statsUnavailable);
    }
    if (placement !== null) placement.statsUnavailable = statsUnavailable;

    // Cleanup: whatever a truncated or failed phase left behind stays; it is a throwaway tree.
    for (const plan of plans) cleanupErrors += await statusOf(plan.session, { kind: "rmdir", parent: runInode, name: nameOf(`s${plan.index}`) });
    cleanupErrors += await statusOf(first, { kind: "rmdir", parent: rootInode, name: nameOf(`bench-${config.tag}`) });
    if (cleanupErrors > 0) notes.push(`${cleanupErrors} cleanup operations failed (left-over directories under bench-${config.tag})`);
  } catch (error) {
    setupErrors += 1;
    notes.push(`aborted: ${(error as Error).message}`);
  } finally {
    for (const session of sessions) session.close();
    await probe.close();
  }
  return { label: config.label, phases, setupErrors, cleanupErrors, notes, placement };
}

/**
 * Σ over the shards of after − before. A counter lives in the serving leader's memory, so one that
 * went back means that shard got a new leader term meanwhile (a restart, a lost and retaken
 * lease): the phase's count is then unknown, said as a string.
 */
export function forwardedDelta(before: readonly number[], after: readonly number[]): number | string {
  let sum = 0;
  for (const [shard, value] of after.entries()) {
    const earlier = before[shard] ?? 0;
    if (value < earlier) return `shard ${shard}'s forwarded counter went back from ${earlier} to ${value} (a new leader term)`;
    sum += value - earlier;
  }
  return sum;
}

/** Where the tree and the files landed (after the create phase; dirs that failed are left out). */
function placementOf(probe: ShardProbe, plans: readonly SessionPlan[], slotMismatches: number, statsUnavailable: string | null): PlacementReport {
  const dirsPerShard = new Array<number>(probe.map.shardCount).fill(0);
  const filesPerShard = new Array<number>(probe.map.shardCount).fill(0);
  for (const plan of plans) {
    for (const inode of plan.dirInodes) if (inode !== 0) dirsPerShard[probe.shardOfInode(inode)]! += 1;
    for (const inode of plan.fileInodes) if (inode !== 0) filesPerShard[probe.shardOfInode(inode)]! += 1;
  }
  return { mapSource: probe.mapSource, mapVersion: probe.map.version, dirsPerShard, filesPerShard, slotMismatches, statsUnavailable };
}

async function statusOf(session: Session, request: MetaRequest): Promise<number> {
  try {
    return (await session.request(request)).reply.status === statusOk ? 0 : 1;
  } catch {
    return 1;
  }
}

/**
 * One session's lane of a phase. `tally.cross` counts the successful operations that cross shards
 * by placement: for mkdir the new directory's hashed slot against its parent's shard, for the
 * others the inodes the replies returned (a file on another shard than its directory was a
 * spilled create; its unlink is then cross-shard too).
 */
function laneFor(phase: ShardPhase, plan: SessionPlan, config: ShardWorkloadConfig, probe: ShardProbe, tally: { cross: number; slotMismatches: number }): Lane {
  const dirs = plan.dirInodes.length;
  const dirOfFile = (file: number) => plan.dirInodes[file % dirs]!;
  const parentShard = probe.shardOfInode(plan.parent);
  /** `request` builds the item's request (or says why it cannot); `done` validates a success. */
  const lane = (count: number, request: (item: number) => MetaRequest | string, done: (item: number, inode: number) => string | null): Lane => ({
    count,
    concurrency: config.inflight,
    run: async (item) => {
      const built = request(item);
      if (typeof built === "string") return { ok: false, error: built, fatal: false };
      return send(plan.session, built, (inode) => done(item, inode));
    },
  });
  const crossIf = (crossing: boolean) => {
    if (crossing) tally.cross += 1;
    return null;
  };

  switch (phase) {
    case "mkdir":
      return lane(
        dirs,
        (dir) => ({ kind: "mkdir", parent: plan.parent, name: nameOf(`d${dir}`), mode: dirMode, umask: 0 }),
        (dir, inode) => {
          if (inode === 0) return "mkdir returned inode 0";
          plan.dirInodes[dir] = inode;
          if (slotOfInode(inode) !== probe.placement.directorySlot(plan.parent, `d${dir}`)) tally.slotMismatches += 1;
          return crossIf(probe.shardOfNewDirectory(plan.parent, `d${dir}`) !== parentShard);
        },
      );
    case "create":
      return lane(
        plan.fileInodes.length,
        (file) => (dirOfFile(file) === 0 ? "create skipped: its directory was not made" : { kind: "create", parent: dirOfFile(file), name: nameOf(`f${file}`), mode: fileMode, umask: 0 }),
        (file, inode) => {
          if (inode === 0) return "create returned inode 0";
          plan.fileInodes[file] = inode;
          return crossIf(probe.shardOfInode(inode) !== probe.shardOfInode(dirOfFile(file)));
        },
      );
    case "stat":
      // A GETATTR goes to the inode's own shard: never cross-shard.
      return lane(
        plan.fileInodes.length,
        (file) => (plan.fileInodes[file] === 0 ? "stat skipped: the file was not created" : { kind: "getattr", inode: plan.fileInodes[file]! }),
        () => null,
      );
    case "unlink":
      return lane(
        plan.fileInodes.length,
        (file) => (plan.fileInodes[file] === 0 ? "unlink skipped: the file was not created" : { kind: "unlink", parent: dirOfFile(file), name: nameOf(`f${file}`) }),
        (file) => crossIf(probe.shardOfInode(plan.fileInodes[file]!) !== probe.shardOfInode(dirOfFile(file))),
      );
    case "rmdir":
      return lane(
        dirs,
        (dir) => (plan.dirInodes[dir] === 0 ? "rmdir skipped: the directory was not made" : { kind: "rmdir", parent: plan.parent, name: nameOf(`d${dir}`) }),
        (dir) => crossIf(probe.shardOfInode(plan.dirInodes[dir]!) !== parentShard),
      );
  }
}

async function send(session: Session, request: MetaRequest, check: (inode: number) => string | null): Promise<OpOutcome> {
  try {
    const { reply, latencyMicros } = await session.request(request);
    if (reply.status !== statusOk) return { ok: false, error: `${request.kind}: ${describeStatus(reply.status)}`, fatal: false };
    const problem = check(reply.inode);
    if (problem !== null) return { ok: false, error: problem, fatal: false };
    return { ok: true, micros: latencyMicros };
  } catch (error) {
    // A timeout or one undecodable reply costs one operation; a closed session ends its lane.
    return { ok: false, error: `${request.kind}: ${(error as Error).message}`, fatal: error instanceof SessionClosedError };
  }
}
