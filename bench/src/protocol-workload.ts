/**
 * The mdtest-style workload at the protocol level: S sessions registered like mfsmount, K requests
 * in flight per session, N operations per phase spread evenly over the sessions.
 *
 * Layout (all under a fresh run directory in the root, so runs never collide):
 *   bench-<tag>/s<i>/f<b>/<j>   files of session i (bucket b = j / entriesPerDir)
 *   bench-<tag>/s<i>/d<b>/<j>   directories of session i
 * The run directory, session directories and buckets are made before and removed after the timed
 * phases. Phases, in order: mkdir, create, stat (GETATTR), lookup, readdir, rename (within the
 * bucket, j → r<j>), unlink, rmdir. readdir reads whole buckets (with attributes, as mfsmount does)
 * and checks the entry count; it runs ceil(N/10) times because each read returns a full bucket.
 */
import type { LoadResult, PhaseResult } from "./result.ts";
import { type Lane, type OpOutcome, runPhase } from "./phase-runner.ts";
import { namespaceInode } from "./process-cpu.ts";
import { type Credentials, type MetaRequest, rootInode, statusOk } from "./protocol.ts";
import { Session, SessionClosedError } from "./session.ts";

export const protocolPhases = ["mkdir", "create", "stat", "lookup", "readdir", "rename", "unlink", "rmdir"] as const;
export type ProtocolPhase = (typeof protocolPhases)[number];

export interface ProtocolWorkloadConfig {
  mode: "protocol";
  label: string;
  host: string;
  port: number;
  sessions: number;
  inflight: number;
  ops: number;
  entriesPerDir: number;
  phaseSeconds: number;
  /** Unique per run: names the run directory. */
  tag: string;
}

const credentials: Credentials = { uid: 0, gids: [0] };
const dirMode = 0o755;
const fileMode = 0o644;
const encoder = new TextEncoder();
const nameOf = (text: string) => encoder.encode(text);

/** Per-session state carried from phase to phase. */
interface SessionPlan {
  session: Session;
  index: number;
  items: number;
  dirInode: number;
  fileBuckets: number[];
  dirBuckets: number[];
  fileInodes: Uint32Array;
}

/** mfsmaster status numbers worth a name in error messages (§5). */
const statusNames: Record<number, string> = {
  1: "EPERM", 2: "ENOTDIR", 3: "ENOENT", 4: "EACCES", 5: "EEXIST", 6: "EINVAL", 7: "ENOTEMPTY", 39: "ENOTSUP", 45: "EAGAIN",
};

function describeStatus(status: number): string {
  return statusNames[status] ?? `status ${status}`;
}

export async function runProtocolWorkload(config: ProtocolWorkloadConfig, progress: (line: string) => void): Promise<LoadResult> {
  const notes: string[] = [];
  const phases: PhaseResult[] = [];
  let setupErrors = 0;
  let cleanupErrors = 0;
  const sessions: Session[] = [];
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
        const items = Math.floor(config.ops / config.sessions) + (index < config.ops % config.sessions ? 1 : 0);
        const made = await session.request({ kind: "mkdir", parent: runInode, name: nameOf(`s${index}`), mode: dirMode, umask: 0 });
        if (made.reply.status !== statusOk) throw fail(`mkdir of session directory s${index}`, made.reply.status);
        const bucketCount = Math.max(1, Math.ceil(items / config.entriesPerDir));
        const fileBuckets: number[] = [];
        const dirBuckets: number[] = [];
        for (let bucket = 0; bucket < bucketCount; bucket += 1) {
          for (const [prefix, into] of [["f", fileBuckets], ["d", dirBuckets]] as const) {
            const reply = await session.request({ kind: "mkdir", parent: made.reply.inode, name: nameOf(`${prefix}${bucket}`), mode: dirMode, umask: 0 });
            if (reply.reply.status !== statusOk) throw fail(`mkdir of bucket ${prefix}${bucket}`, reply.reply.status);
            into.push(reply.reply.inode);
          }
        }
        return { session, index, items, dirInode: made.reply.inode, fileBuckets, dirBuckets, fileInodes: new Uint32Array(items) };
      }),
    );

    // The load generator runs inside the server's namespace, so that namespace is its own.
    const serverNetnsInode = namespaceInode("/proc/self/ns/net");
    for (const phase of protocolPhases) {
      const lanes = plans.map((plan) => laneFor(phase, plan, config));
      phases.push(await runPhase(lanes, { label: config.label, phase, budgetMs: config.phaseSeconds * 1000, progress, serverNetnsInode }));
    }

    // Cleanup: whatever a truncated or failed phase left behind stays; it is a throwaway tree.
    for (const plan of plans) {
      for (const [prefix, buckets] of [["f", plan.fileBuckets], ["d", plan.dirBuckets]] as const) {
        for (let bucket = 0; bucket < buckets.length; bucket += 1) {
          cleanupErrors += await statusOf(plan.session, { kind: "rmdir", parent: plan.dirInode, name: nameOf(`${prefix}${bucket}`) });
        }
      }
      cleanupErrors += await statusOf(plan.session, { kind: "rmdir", parent: runInode, name: nameOf(`s${plan.index}`) });
    }
    cleanupErrors += await statusOf(first, { kind: "rmdir", parent: rootInode, name: nameOf(`bench-${config.tag}`) });
    if (cleanupErrors > 0) notes.push(`${cleanupErrors} cleanup operations failed (left-over directories under bench-${config.tag})`);
  } catch (error) {
    setupErrors += 1;
    notes.push(`aborted: ${(error as Error).message}`);
  } finally {
    for (const session of sessions) session.close();
  }
  return { label: config.label, phases, setupErrors, cleanupErrors, notes };
}

async function statusOf(session: Session, request: MetaRequest): Promise<number> {
  try {
    return (await session.request(request)).reply.status === statusOk ? 0 : 1;
  } catch {
    return 1;
  }
}

function laneFor(phase: ProtocolPhase, plan: SessionPlan, config: ProtocolWorkloadConfig): Lane {
  const bucketOf = (item: number) => Math.floor(item / config.entriesPerDir);
  const fileBucket = (item: number) => plan.fileBuckets[bucketOf(item)]!;
  const dirBucket = (item: number) => plan.dirBuckets[bucketOf(item)]!;
  /** `request` builds the item's request (or says why it cannot); `check` validates a success. */
  type Check = (item: number, inode: number, entries: number) => string | null;
  const lane = (count: number, request: (item: number) => MetaRequest | string, check?: Check): Lane => ({
    count,
    concurrency: config.inflight,
    run: async (item) => {
      const built = request(item);
      if (typeof built === "string") return { ok: false, error: built, fatal: false };
      return send(plan.session, built, (inode, entries) => check?.(item, inode, entries) ?? null);
    },
  });

  switch (phase) {
    case "mkdir":
      return lane(plan.items, (item) => ({ kind: "mkdir", parent: dirBucket(item), name: nameOf(String(item)), mode: dirMode, umask: 0 }));
    case "create":
      return lane(
        plan.items,
        (item) => ({ kind: "create", parent: fileBucket(item), name: nameOf(String(item)), mode: fileMode, umask: 0 }),
        (item, inode) => {
          plan.fileInodes[item] = inode;
          return inode === 0 ? "create returned inode 0" : null;
        },
      );
    case "stat":
      return lane(plan.items, (item) => {
        const inode = plan.fileInodes[item]!;
        return inode === 0 ? "stat skipped: the file was not created" : { kind: "getattr", inode };
      });
    case "lookup":
      return lane(
        plan.items,
        (item) => ({ kind: "lookup", parent: fileBucket(item), name: nameOf(String(item)) }),
        (item, inode) => (inode === plan.fileInodes[item] ? null : `lookup found inode ${inode}, create made ${plan.fileInodes[item]}`),
      );
    case "readdir": {
      const buckets = plan.fileBuckets.length;
      const count = plan.items === 0 ? 0 : Math.max(1, Math.ceil(plan.items / 10));
      return lane(
        count,
        (read) => ({ kind: "readdir", inode: plan.fileBuckets[read % buckets]! }),
        (read, _inode, entries) => {
          const bucket = read % buckets;
          const expected = 2 + Math.min(config.entriesPerDir, plan.items - bucket * config.entriesPerDir);
          return entries === expected ? null : `readdir listed ${entries} entries, expected ${expected}`;
        },
      );
    }
    case "rename":
      return lane(plan.items, (item) => ({
        kind: "rename",
        sourceParent: fileBucket(item),
        sourceName: nameOf(String(item)),
        targetParent: fileBucket(item),
        targetName: nameOf(`r${item}`),
      }));
    case "unlink":
      return lane(plan.items, (item) => ({ kind: "unlink", parent: fileBucket(item), name: nameOf(`r${item}`) }));
    case "rmdir":
      return lane(plan.items, (item) => ({ kind: "rmdir", parent: dirBucket(item), name: nameOf(String(item)) }));
  }
}

async function send(session: Session, request: MetaRequest, check: (inode: number, entries: number) => string | null): Promise<OpOutcome> {
  try {
    const { reply, latencyMicros } = await session.request(request);
    if (reply.status !== statusOk) return { ok: false, error: `${request.kind}: ${describeStatus(reply.status)}`, fatal: false };
    const problem = check(reply.inode, reply.entries);
    if (problem !== null) return { ok: false, error: problem, fatal: false };
    return { ok: true, micros: latencyMicros };
  } catch (error) {
    // A timeout or one undecodable reply costs one operation; a closed session ends its lane.
    return { ok: false, error: `${request.kind}: ${(error as Error).message}`, fatal: error instanceof SessionClosedError };
  }
}
