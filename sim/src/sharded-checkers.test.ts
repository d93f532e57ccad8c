/**
 * The union checks of a sharded run bite: a cross-shard mkdir applied on one shard only (the
 * entry without its node, or the node without its entry) is found by checkNamespace over the
 * shards and by findOrphans; applied on both, the namespace passes. Built with two real shard
 * state machines and the tx commands the coordinator would send.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { limits } from "@antler/base";
import { Status, type Command, type Ctx, type NewNodeSpec, type TxPartOutput } from "@antler/ops";
import { createStateMachine } from "@antler/shard-core";
import { slotOfInode } from "@antler/slots";
import { checkNamespace } from "./checkers.ts";
import { findOrphans } from "./sharded-checkers.ts";
import type { StateMachine } from "./shard-driver.ts";

const ctx: Ctx = { sessionId: 0, uid: 0, gids: [0], sesflags: 0, rootInode: 1 };
const half = limits.slotCount / 2;
/** Every new directory goes to a slot of shard 1. */
const remoteSlot = half + 7;

function twoShards(): { readonly shards: readonly StateMachine[]; readonly smOf: (inode: number) => StateMachine } {
  const slots = (shard: number): number[] => Array.from({ length: half }, (_, i) => shard * half + i);
  const shards = [0, 1].map((shard) => createStateMachine({ shardId: shard, metaId: 1n, slots: slots(shard), slotOfNewDirectory: () => remoteSlot }));
  return { shards, smOf: (inode) => shards[slotOfInode(inode) < half ? 0 : 1]! };
}

function run(sm: StateMachine, cmd: Command): Record<string, unknown> {
  const { result, entry } = sm.execute(cmd, ctx, 1_000);
  if (entry !== null) sm.apply(entry as never);
  return result as unknown as Record<string, unknown>;
}

/** Prepares mkdir /x across the shards: the entry on shard 0, the node on shard 1. Answers the new inode. */
function prepareMkdir(shards: readonly StateMachine[]): number {
  const mkdir = { kind: "mkdir", parent: 1, name: "x", mode: 0o755, umask: 0, copysgid: false } as const;
  assert.equal(shards[0]!.execute(mkdir, { ...ctx, requestId: "r1" }, 1_000).forward, "coordinator", "a directory for another shard is forwarded");
  const entry = run(shards[0]!, { kind: "txprepare", slot: 0, txid: "r1#1", clientRequestId: "r1", parts: [{ op: "entry-new", cmd: mkdir }] });
  assert.equal(entry["status"], Status.OK);
  const spec = ((entry["outputs"] as TxPartOutput[])[0] as { spec: NewNodeSpec }).spec;
  const node = run(shards[1]!, { kind: "txprepare", slot: half, txid: "r1#1", clientRequestId: "r1", parts: [{ op: "node-new", spec, slot: remoteSlot, parent: 1, name: "x" }] });
  assert.equal(node["status"], Status.OK);
  return ((node["outputs"] as TxPartOutput[])[0] as { inode: number }).inode;
}

const fsckShards = (shards: readonly StateMachine[]) => shards.map((sm, shard) => ({ shard, sm, slot: shard * half }));

test("a cross-shard mkdir committed on both shards is a well-formed namespace", () => {
  const { shards, smOf } = twoShards();
  const inode = prepareMkdir(shards);
  assert.equal(run(shards[1]!, { kind: "txcommit", slot: half, txid: "r1#1", newInode: inode })["status"], Status.OK);
  assert.equal(run(shards[0]!, { kind: "txcommit", slot: 0, txid: "r1#1", newInode: inode })["status"], Status.OK);
  const reached = new Set<number>();
  assert.equal(checkNamespace(smOf, null, reached), null);
  assert.ok(reached.has(inode), "the walk crossed into shard 1");
  assert.equal(findOrphans(fsckShards(shards), reached), null);
});

test("the entry committed without its node: an entry naming a dead inode", () => {
  const { shards, smOf } = twoShards();
  const inode = prepareMkdir(shards);
  run(shards[0]!, { kind: "txcommit", slot: 0, txid: "r1#1", newInode: inode });
  run(shards[1]!, { kind: "txabort", slot: half, txid: "r1#1" });
  assert.match(checkNamespace(smOf, null) ?? "", /names a dead inode/);
});

test("the node committed without its entry: an orphan", () => {
  const { shards, smOf } = twoShards();
  const inode = prepareMkdir(shards);
  run(shards[1]!, { kind: "txcommit", slot: half, txid: "r1#1", newInode: inode });
  run(shards[0]!, { kind: "txabort", slot: 0, txid: "r1#1" });
  const reached = new Set<number>();
  assert.equal(checkNamespace(smOf, null, reached), null, "the walk from the root sees nothing wrong");
  assert.match(findOrphans(fsckShards(shards), reached) ?? "", new RegExp(`inode ${inode} .* orphan`));
});
