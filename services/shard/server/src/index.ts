export { CommitQueue, type CommitQueueOptions } from "./commit-queue.ts";
export { batchBytes, decodeBatch, encodeBatch, LogBatchError } from "./log-batch.ts";
export { replayLog, ReplayError, type ReplayResult } from "./replay.ts";
export { parseMetaRequest } from "./request.ts";
export { runShardProcess, shardConfigFromEnv, ShardConfigError, type ShardConfig, type StateMachineDeps, type StateMachineFactory } from "./shard-process.ts";
export { startShardServer, type ShardServer, type ShardServerOptions, type StopReason } from "./shard-server.ts";
export type { ShardStateMachine } from "./state-machine.ts";
