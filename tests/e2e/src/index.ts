// What other packages may use from the e2e support code: the file-data cluster (a master plus
// test-owned real chunkservers in a namespace) for the data-throughput benchmark in bench/.
export { cleanupAll } from "./cleanup.ts";
export { probeDataPath, startDataCluster, waitForChunkservers } from "./data-path-cluster.ts";
export type { DataCluster, DataClusterKind, TestChunkserver } from "./data-path-cluster.ts";
export { MfsTools } from "./data-path-tools.ts";
export type { MfsMount } from "./mount.ts";
