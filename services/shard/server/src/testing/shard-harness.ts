/**
 * An in-process shard with snapshots, wired like shard-process.ts (restore → snapshot worker →
 * server fed into the snapshotter) but with the real shard-core state machine built here and a
 * manual snapshot policy, so tests decide when snapshots happen and observe every step.
 */
import { ensureShardLog, openSnapshotStore, type JetStreamLogStream, type NatsConnection } from "@antler/io-nats";
import { decodeMessage, encodeMessage, nameFromText, shardRequestSubject, type Command } from "@antler/ops";
import { createStateMachine, type MetadataStateMachine } from "@antler/shard-core";
import { createPlacement } from "@antler/slots";
import { createLogger } from "@antler/telemetry";
import { coreSnapshotFormatVersion } from "../core-replica.ts";
import { restoreShard, type RestoreResult } from "../restore.ts";
import { startShardServer, type ShardServer } from "../shard-server.ts";
import { WorkerReplica } from "../snapshot-replica.ts";
import { Snapshotter, type SnapshotEvent } from "../snapshotter.ts";
import type { SnapshottableStateMachine } from "../state-machine.ts";

export const quiet = createLogger("shard-test", { level: "error" });
const ctx = { sessionId: 1, uid: 0, gids: [0], sesflags: 0, rootInode: 1 };
const metaId = 7n;
const allSlots = Array.from({ length: 2048 }, (_, slot) => slot);
const placement = await createPlacement();
export const coreReplicaModule = new URL("../core-replica.ts", import.meta.url);

export function newCoreMachine(shardId: number): MetadataStateMachine {
  return createStateMachine({ shardId, metaId, slots: allSlots, slotOfNewDirectory: (parent, name) => placement.directorySlot(parent, name) });
}

export interface HarnessShard {
  readonly log: JetStreamLogStream;
  readonly sm: SnapshottableStateMachine<unknown>;
  readonly restored: RestoreResult<unknown>;
  readonly snapshotter: Snapshotter;
  readonly server: ShardServer;
  readonly events: SnapshotEvent[];
  stop(): Promise<void>;
}

export interface HarnessOptions {
  readonly natsUrl: string;
  /** Snapshot bucket (default antler-snapshots) and its size limit (to make puts fail). */
  readonly bucket?: string;
  readonly maxBytes?: number;
  readonly onEvent?: (event: SnapshotEvent) => void;
}

export async function startHarnessShard(nc: NatsConnection, shardId: number, options: HarnessOptions): Promise<HarnessShard> {
  const log = await ensureShardLog(nc, shardId);
  const bucket = options.bucket !== undefined ? { bucket: options.bucket } : {};
  const maxBytes = options.maxBytes !== undefined ? { maxBytes: options.maxBytes } : {};
  const store = await openSnapshotStore(nc, { ...bucket, ...maxBytes });
  const replica = await WorkerReplica.start(coreReplicaModule, { shardId, metaId, slots: allSlots }, { natsUrl: options.natsUrl, formatVersion: coreSnapshotFormatVersion, ...bucket, ...maxBytes });
  const restored = await restoreShard<unknown>({
    shardId,
    log,
    store,
    createStateMachine: () => Promise.resolve(newCoreMachine(shardId)),
    logger: quiet,
    formatVersion: coreSnapshotFormatVersion,
    onSnapshotLoaded: (bytes, lastSeq) => replica.load(bytes, lastSeq),
    onRecord: (seq, data) => replica.record(seq, data),
  });
  const events: SnapshotEvent[] = [];
  const snapshotter = new Snapshotter({
    shardId,
    log,
    store,
    replica,
    logger: quiet,
    // Only snapshotNow() takes snapshots.
    policy: { entries: Number.MAX_SAFE_INTEGER, intervalMinMs: 0, intervalMaxMs: Number.MAX_SAFE_INTEGER },
    checkIntervalMs: 0,
    baseSeq: restored.snapshot?.lastSeq ?? 0,
    lastSeq: restored.lastSeq,
    onEvent: (event) => {
      events.push(event);
      options.onEvent?.(event);
    },
  });
  const sm = restored.sm as SnapshottableStateMachine<unknown>;
  const server = startShardServer({
    nc,
    shardId,
    log,
    sm,
    logger: quiet,
    lastSeq: restored.lastSeq,
    maintainIntervalMs: 0,
    onCommitted: (seq, record, entries) => snapshotter.committed(seq, record, entries),
  });
  await nc.flush();
  return {
    log,
    sm,
    restored,
    snapshotter,
    server,
    events,
    async stop() {
      await server.stop();
      await snapshotter.close();
    },
  };
}

export async function call(nc: NatsConnection, shardId: number, cmd: Command, timeout = 5000): Promise<{ status: number; inode?: number }> {
  const reply = await nc.request(shardRequestSubject(shardId), encodeMessage({ ctx, cmd }), { timeout });
  return decodeMessage(reply.data) as { status: number; inode?: number };
}

export const mkdir = (parent: number, name: string): Command => ({ kind: "mkdir", parent, name: nameFromText(name), mode: 0o755, umask: 0, copysgid: false });
export const create = (parent: number, name: string): Command => ({ kind: "create", parent, name: nameFromText(name), mode: 0o644, umask: 0 });
export const lookup = (parent: number, name: string): Command => ({ kind: "lookup", parent, name: nameFromText(name) });

/** `count` creates spread over `dirs` new directories, `concurrency` in flight; returns the directory inodes. */
export async function createSpread(nc: NatsConnection, shardId: number, prefix: string, dirs: number, count: number, concurrency = 32): Promise<number[]> {
  const dirInodes: number[] = [];
  for (let d = 0; d < dirs; d++) {
    const reply = await call(nc, shardId, mkdir(1, `${prefix}-d${d}`));
    if (reply.status !== 0) throw new Error(`mkdir failed: ${JSON.stringify(reply)}`);
    dirInodes.push(reply.inode!);
  }
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        const reply = await call(nc, shardId, create(dirInodes[i % dirs]!, `${prefix}-f${i}`));
        if (reply.status !== 0) throw new Error(`create failed: ${JSON.stringify(reply)}`);
      }
    }),
  );
  return dirInodes;
}
