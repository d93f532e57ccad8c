/**
 * The snapshot worker's replica of the real state machine (shard-core), built like main.ts builds
 * the serving one. Loaded by URL inside the worker thread (see snapshot-replica.ts).
 */
import { createStateMachine, snapshotFormatVersion } from "@antler/shard-core";
import { createPlacement } from "@antler/slots";
import type { ReplicaInit } from "./snapshot-protocol.ts";
import type { SnapshottableStateMachine } from "./state-machine.ts";

/**
 * shard-core's snapshot format, stored with every snapshot: a shard skips snapshots of a newer
 * format than it reads (shard-core reads its own format and every older one).
 */
export const coreSnapshotFormatVersion = snapshotFormatVersion;

export async function createReplica(init: ReplicaInit): Promise<SnapshottableStateMachine<unknown>> {
  const placement = await createPlacement();
  return createStateMachine({
    shardId: init.shardId,
    metaId: init.metaId,
    slots: init.slots,
    rootCreatedSeconds: init.createdSeconds ?? 0,
    slotOfNewDirectory: (parent, name) => placement.directorySlot(parent, name),
  });
}
