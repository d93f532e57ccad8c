/**
 * Which replica leads each shard, for `antler status`: the supervisor reads every shard's lease
 * (KV bucket `antler-leases`, key `shard.<id>`, value `{holder, epoch, renewals}` as JSON) every
 * leaderPollMs and marks the matching process as leader in state.json. The lease is what the
 * replicas themselves obey (services/shard), so this shows the truth as of the last read,
 * never a guess. Reads are plain JetStream API requests: nothing is created, so a cluster whose
 * shards have not made the bucket yet simply shows no leader.
 */
import { connectNats, type NatsConnection } from "@antler/io-nats";
import { leaderPollMs, leaderReadTimeoutMs } from "./limits.ts";
import { readKvValue } from "./kv-read.ts";
import { isSameProcess } from "./processes.ts";
import type { ProcessRecord } from "./state.ts";

/** The lease bucket and key of a shard (`leaseBucket`, `shardLeaseKey` in @antler/ops). */
export const leaseBucketName = "antler-leases";
export function leaseKeyOf(shardId: number): string {
  return `shard.${shardId}`;
}

export interface LeaseHolder {
  shardId: number;
  replicaId: number;
}

/**
 * The replica named by a lease holder id `s<shard>.r<replica>/<incarnation>`
 * (services/shard/core/src/lease/holder.ts); undefined for a released lease ("") or another form.
 */
export function leaseHolderOf(holder: string): LeaseHolder | undefined {
  const match = /^s(\d{1,4})\.r(\d{1,3})\/./.exec(holder);
  if (match === null) return undefined;
  return { shardId: Number(match[1]), replicaId: Number(match[2]) };
}

/** The holder string of a stored lease value, or undefined when it is not a lease record. */
export function holderOfLeaseValue(value: Uint8Array): string | undefined {
  try {
    const record = JSON.parse(new TextDecoder().decode(value)) as { holder?: unknown };
    return typeof record.holder === "string" ? record.holder : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The current holder of a shard's lease as read from the bucket's stream leader; undefined when
 * the bucket or key does not exist or the value is not a lease record.
 * @throws when NATS does not answer (the caller keeps what it knew).
 */
export async function readLeaseHolder(nc: NatsConnection, shardId: number): Promise<string | undefined> {
  const value = await readKvValue(nc, leaseBucketName, leaseKeyOf(shardId), leaderReadTimeoutMs);
  return value === undefined ? undefined : holderOfLeaseValue(value);
}

/**
 * Sets `leader` on every shard process record from the leases, every leaderPollMs, and calls
 * `onChange` when a flag changed. A shard whose lease cannot be read keeps its flags (NATS may be
 * electing); a process that is not alive is never shown as leader.
 */
export async function trackLeaders(
  natsUrl: string,
  records: readonly ProcessRecord[],
  onChange: () => void,
): Promise<{ stop(): Promise<void> }> {
  const nc = await connectNats(natsUrl, "antler-launcher-leaders");
  const shardIds = [...new Set(records.flatMap((record) => record.shardId ?? []))];
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const poll = async (): Promise<void> => {
    let changed = false;
    for (const shardId of shardIds) {
      let holder: LeaseHolder | undefined;
      try {
        holder = leaseHolderOf((await readLeaseHolder(nc, shardId)) ?? "");
      } catch {
        continue;
      }
      for (const record of records) {
        if (record.shardId !== shardId) continue;
        const leads = holder !== undefined && holder.replicaId === (record.replicaId ?? 0) &&
          isSameProcess(record.pid, record.startTicks);
        if (record.leader !== leads) {
          record.leader = leads;
          changed = true;
        }
      }
    }
    if (changed && !stopped) onChange();
  };
  const schedule = (): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      void poll().finally(schedule);
    }, leaderPollMs);
  };
  await poll();
  schedule();
  return {
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await nc.close();
    },
  };
}
