/**
 * Deliberately broken versions of the shard leader, selected with --variant. Each one breaks a
 * rule the design depends on; sweep.test.ts proves that the checkers catch every one of them
 * within a bounded number of seeds. A checker that never fails proves nothing.
 */
import type { DriverFaults } from "./shard-driver.ts";

export const variants = {
  /** Replies as soon as a command is executed, before its entry is in the log. */
  "reply-before-ack": { replyBeforeAck: true },
  /** Appends without an expected last sequence: a deposed leader's appends land. */
  unfenced: { unfenced: true },
  /** Releases reads without a read barrier (as a leader that trusts its lease blindly). */
  "no-read-barrier": { noReadBarrier: true },
} as const satisfies Record<string, DriverFaults>;

export type VariantName = keyof typeof variants;
