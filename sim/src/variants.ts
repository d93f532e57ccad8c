/**
 * Deliberately broken versions of the shard leader (one of the gateway, one of the coordinator),
 * selected with --variant. Each one breaks a rule the design depends on; sweep.test.ts proves
 * that the checkers catch every one of them within a bounded number of seeds. A checker that
 * never fails proves nothing.
 */
import type { CoordinatorFaults } from "./coordinator-node.ts";
import type { DriverFaults } from "./shard-driver.ts";

/** The faults a variant can break in: the shard leader's driver, the gateway, or the coordinator. */
export interface VariantFaults extends DriverFaults, CoordinatorFaults {
  /** The gateway loses the sessions' unanswered requests: a re-sent packet gets a new request id. */
  readonly forgottenResends?: boolean;
}

export const variants = {
  /** Replies as soon as a command is executed, before its entry is in the log. */
  "reply-before-ack": { replyBeforeAck: true },
  /** Appends without an expected last sequence: a deposed leader's appends land. */
  unfenced: { unfenced: true },
  /** A standby that won the lease serves before it has applied the log to its end. */
  "serve-before-catch-up": { serveBeforeCatchUp: true },
  /** A packet mfsmount re-sends after reconnecting runs again (a re-sent mkdir answers EEXIST). */
  "forgotten-resends": { forgottenResends: true },
  /**
   * Sharded clusters: the coordinator sends txcommit without the decision being durable (its
   * decide() pretends success and writes nothing). A coordinator that dies or stalls between two
   * commits leaves a participant whose resolver finds no decision and aborts: half applied.
   */
  "commit-without-decision": { commitWithoutDecision: true },
} as const satisfies Record<string, VariantFaults>;

export type VariantName = keyof typeof variants;

/** Variants that only a sharded cluster (one with a coordinator) can show. */
export const shardedOnlyVariants: ReadonlySet<VariantName> = new Set<VariantName>(["commit-without-decision"]);
