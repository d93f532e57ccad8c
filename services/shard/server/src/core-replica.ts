/**
 * The snapshot worker's replica of the real state machine (shard-core), built like main.ts builds
 * the serving one. Loaded by URL inside the worker thread (see snapshot-replica.ts).
 */
import { createStateMachine } from "@antler/shard-core";
import { createPlacement } from "@antler/slots";
import type { ReplicaInit } from "./snapshot-protocol.ts";
import type { SnapshottableStateMachine } from "./state-machine.ts";

/**
 * shard-core's snapshot format (`snapshotVersion` in shard-core snapshot.ts, version 1 = JSON).
 * shard-core does not export it yet; stored with every snapshot so a future format is recognised.
 */
export const coreSnapshotFormatVersion = 1;

export async function createReplica(init: ReplicaInit): Promise<SnapshottableStateMachine<unknown>> {
  const placement = await createPlacement();
  return createStateMachine({
    shardId: init.shardId,
    metaId: init.metaId,
    slots: init.slots,
    slotOfNewDirectory: (parent, name) => placement.directorySlot(parent, name),
  });
}
