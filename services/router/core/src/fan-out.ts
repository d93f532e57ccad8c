/**
 * Merging the replies of a request sent to every shard. statfs adds up the shards' numbers; every
 * other fan-out command (session bookkeeping) succeeds only if every shard succeeded, and reports
 * the first failure otherwise (in shard order, so the answer does not depend on reply timing).
 */
import { Status, type CommandKind, type Result } from "@antler/ops";

/** `replies[i]` is shard i's result, or null when the shard did not answer in time. */
export function mergeFanOut(kind: CommandKind, replies: readonly (Result | null)[]): Result {
  for (const reply of replies) {
    if (reply === null) return { status: Status.EAGAIN };
    if (reply.status !== Status.OK) return reply;
  }
  if (kind !== "statfs") return { status: Status.OK } as Result;
  const sum = { totalSpace: 0, availSpace: 0, freeSpace: 0, trashSpace: 0, sustainedSpace: 0, inodes: 0 };
  for (const reply of replies) {
    const part = reply as unknown as Record<string, unknown>;
    for (const key of Object.keys(sum) as (keyof typeof sum)[]) {
      const value = part[key];
      if (typeof value === "number" && Number.isFinite(value)) sum[key] += value;
    }
  }
  return { status: Status.OK, ...sum };
}
