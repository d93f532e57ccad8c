/**
 * Replicated stores a multi-node cluster needs before its services start. The services create
 * their buckets on first use, and a JetStream stream keeps the replica count (and the other
 * settings) it was created with; so in the HA profile the launcher creates every bucket that more
 * than one kind of service opens, with one replica per NATS node, and the services then bind to
 * them: the cluster bucket (metadata id, shard map), the lease bucket (the shards' leases and the
 * coordinator lease of the routers) and the transaction decision bucket (the coordinating router
 * writes decisions, a shard resolving a stale prepared transaction reads or writes them).
 * Shard logs and snapshot stores follow ANTLER_LOG_REPLICAS, which the shards and routers get
 * from the launcher (config.ts serviceEnvironment).
 */
import { connectNats, openBucket } from "@antler/io-nats";
import { clusterBucket, leaseBucket, txnBucket } from "@antler/ops";
import { pollIntervalMs, provisionTimeoutMs } from "./limits.ts";
import { sleep } from "./processes.ts";

/**
 * The buckets and their settings. Leases and decisions are read from the stream leader only
 * (no direct gets from a possibly stale replica) and keep one revision, as the services create
 * them (libs/io-nats kv-lease-store.ts); the cluster bucket keeps the default history.
 */
export const provisionedBuckets = [
  { name: clusterBucket, history: 5, directGets: undefined },
  { name: leaseBucket, history: 1, directGets: false },
  { name: txnBucket, history: 1, directGets: false },
] as const;

/**
 * Creates (or opens, when they exist) the buckets with `replicas` replicas. A cluster whose nodes
 * all answer may still not know enough of its peers to place a replicated stream ("no suitable
 * peers for placement") for a moment after it formed: that is retried, up to provisionTimeoutMs,
 * and the last error is thrown after that.
 */
export async function provisionReplicatedStores(natsUrl: string, replicas: number): Promise<void> {
  const connection = await connectNats(natsUrl, "antler-launcher");
  try {
    const deadline = Date.now() + provisionTimeoutMs;
    for (const bucket of provisionedBuckets) {
      for (;;) {
        try {
          await openBucket(connection, bucket.name, {
            replicas, history: bucket.history,
            ...(bucket.directGets === undefined ? {} : { directGets: bucket.directGets }),
          });
          break;
        } catch (error) {
          if (Date.now() > deadline) {
            throw new Error(`creating bucket ${bucket.name} with ${replicas} replicas failed: ${String(error)}`, { cause: error });
          }
          await sleep(pollIntervalMs * 5);
        }
      }
    }
  } finally {
    await connection.close();
  }
}
