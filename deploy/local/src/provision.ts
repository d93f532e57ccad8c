/**
 * Replicated stores a multi-node cluster needs before its services start. The services create
 * the cluster bucket on first use with one replica (right for the single-server profile), and a
 * JetStream stream keeps the replica count it was created with; so in the HA profile the launcher
 * creates the bucket first, with one replica per NATS node, and the services then bind to it.
 * Shard logs, snapshot stores and lease buckets follow ANTLER_LOG_REPLICAS, which the shards get
 * from the launcher (config.ts serviceEnvironment).
 */
import { connectNats, openBucket } from "@antler/io-nats";
import { pollIntervalMs, provisionTimeoutMs } from "./limits.ts";
import { sleep } from "./processes.ts";

/**
 * Creates (or opens, when it exists) the cluster bucket with `replicas` replicas. A cluster whose
 * nodes all answer may still not know enough of its peers to place a replicated stream ("no
 * suitable peers for placement") for a moment after it formed: that is retried, up to
 * provisionTimeoutMs, and the last error is thrown after that.
 */
export async function provisionReplicatedStores(natsUrl: string, replicas: number): Promise<void> {
  const connection = await connectNats(natsUrl, "antler-launcher");
  try {
    const deadline = Date.now() + provisionTimeoutMs;
    for (;;) {
      try {
        // The default name is the cluster bucket every service opens (@antler/ops clusterBucket).
        await openBucket(connection, undefined, { replicas });
        return;
      } catch (error) {
        if (Date.now() > deadline) {
          throw new Error(`creating the cluster bucket with ${replicas} replicas failed: ${String(error)}`, { cause: error });
        }
        await sleep(pollIntervalMs * 5);
      }
    }
  } finally {
    await connection.close();
  }
}
