/** Shard process entry point: the shard process with the real metadata state machine. */
import { createStateMachine } from "@antler/shard-core";
import { runShardProcess } from "./shard-process.ts";

await runShardProcess(({ config, metaId, placement, slots }) =>
  createStateMachine({
    shardId: config.shardId,
    metaId,
    slots,
    slotOfNewDirectory: (parent, name) => placement.directorySlot(parent, name),
  }),
);
