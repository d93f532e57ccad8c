/**
 * How the CLI's read-only commands (`status`, `fsck`) talk to a running cluster: NATS at the
 * addresses in cluster.json (127.0.0.1 inside the cluster's network namespace: cli.ts re-runs
 * the command inside it first), the shard map from the cluster bucket, and shard requests whose
 * replies may come in parts (libs/io-nats reply-parts.ts), as the gateways receive them.
 */
import { randomUUID } from "node:crypto";
import { connectNats, createPartsCollector, newHeaders, type NatsConnection } from "@antler/io-nats";
import { Header, clusterBucket, shardMapKey } from "@antler/ops";
import { decodeShardMap, type ShardMap } from "@antler/router-core";
import { natsUrlOf, type ClusterConfig } from "./config.ts";
import { readKvValue } from "./kv-read.ts";
import { clusterConnectWindowMs, leaderReadTimeoutMs } from "./limits.ts";

/** The cluster cannot be asked (not running, NATS unreachable, no shard map). */
export class ClusterUnreachable extends Error {
  override name = "ClusterUnreachable";
}

export async function connectToCluster(config: ClusterConfig, clientName: string): Promise<NatsConnection> {
  try {
    return await connectNats(natsUrlOf(config), clientName, {
      firstConnectWindowMs: clusterConnectWindowMs,
      timeoutMs: clusterConnectWindowMs,
    });
  } catch (error) {
    throw new ClusterUnreachable(`cannot reach the cluster's NATS at ${natsUrlOf(config)}: ${String(error)}`, { cause: error });
  }
}

/** The shard map every router and shard routes by (KV `antler-cluster`, key `shardmap`). */
export async function readShardMap(nc: NatsConnection): Promise<ShardMap> {
  let value: Uint8Array | undefined;
  try {
    value = await readKvValue(nc, clusterBucket, shardMapKey, leaderReadTimeoutMs);
  } catch (error) {
    throw new ClusterUnreachable(`reading the shard map failed: ${String(error)}`, { cause: error });
  }
  if (value === undefined) throw new ClusterUnreachable("the cluster has no shard map yet (no router or shard has started)");
  return decodeShardMap(value);
}

/** The lowest slot each shard owns (tx and fsck commands name one the shard owns); absent: none. */
export function firstSlotOfShards(map: ShardMap): Map<number, number> {
  const first = new Map<number, number>();
  map.slots.forEach((owner, slot) => {
    if (!first.has(owner)) first.set(owner, slot);
  });
  return first;
}

/** Request/reply to one subject, the reply assembled from its parts when it came in several. */
export interface PartsRequester {
  /** @throws nats.js errors (timeout, no responders) and ReplyPartsError (parts missing). */
  request(subject: string, body: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  close(): void;
}

export function createPartsRequester(nc: NatsConnection): PartsRequester {
  const parts = createPartsCollector(nc, `_INBOX.antler-cli-${randomUUID().replaceAll("-", "")}`);
  return {
    async request(subject, body, timeoutMs) {
      const headers = newHeaders();
      const partsTo = parts.nextSubject();
      headers.set(Header.partsTo, partsTo);
      try {
        const reply = await nc.request(subject, body, { timeout: timeoutMs, headers });
        return await parts.assemble(partsTo, reply, timeoutMs);
      } catch (error) {
        parts.forget(partsTo);
        throw error;
      }
    },
    close: () => parts.close(),
  };
}
