/** Shard process entry point: the shard process with the real metadata state machine. */
import { createStateMachine } from "@antler/shard-core";
import { coreSnapshotFormatVersion } from "./core-replica.ts";
import { runShardProcess } from "./shard-process.ts";

await runShardProcess(
  ({ config, metaId, createdSeconds, placement, slots }) =>
    createStateMachine({
      shardId: config.shardId,
      metaId,
      slots,
      // Every replica builds the root with the cluster's creation time, so replays agree.
      rootCreatedSeconds: createdSeconds,
      slotOfNewDirectory: (parent, name) => placement.directorySlot(parent, name),
    }),
  // The snapshot worker builds its replica the same way (core-replica.ts).
  { snapshots: { replicaModule: new URL("./core-replica.ts", import.meta.url), formatVersion: coreSnapshotFormatVersion } },
);
