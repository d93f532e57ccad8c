/**
 * The coordinator end to end against REAL shard state machines (@antler/shard-core), two or three
 * of them owning disjoint slot sets (shard k owns the slots s with s mod count = k; the root, in
 * slot 0, is on shard 0), with the production directory placement (BLAKE3). A client request goes
 * where a router would send it; a shard that cannot do it alone forwards it to the coordinator,
 * as the shard server does. Checked: mkdir/link/unlink/rename/rmdir across shards, concurrent
 * directory moves that would form a cycle, and coordinators that die between prepare and decision
 * (the participants' abort wins) or between decision and commit (a new coordinator finishes it).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { limits } from "@antler/base";
import {
  nameFromText,
  NodeType,
  routeOf,
  slotOfInode,
  Status,
  type Attr,
  type Command,
  type CommandOf,
  type Ctx,
  type Result,
  type Success,
  type TxDecision,
} from "@antler/ops";
import { createStateMachine, type MetadataStateMachine } from "@antler/shard-core";
import { createPlacement, type Placement } from "@antler/slots";
import { Coordinator } from "./coordinator.ts";
import { ShardUnavailableError, type CoordinatorPorts, type MoveLockRecord } from "./ports.ts";

const placement: Placement = await createPlacement();
const t0Ms = 1_700_000_000_000;
let requestNo = 0;
const ctxOf = (uid = 0): Ctx => ({ sessionId: 1, uid, gids: [uid], sesflags: 0, rootInode: 1, requestId: `client-${++requestNo}` });
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Shards, the decision store and the shard server's "forward" behaviour; a Coordinator on top. */
class Cluster implements CoordinatorPorts {
  readonly machines: MetadataStateMachine[];
  readonly decisions = new Map<string, TxDecision>();
  /** Shards whose leader is gone: calls to them fail. */
  readonly down = new Set<number>();
  nowMsValue = t0Ms;
  coordinator: Coordinator;

  constructor(count: number) {
    this.machines = Array.from({ length: count }, (_, k) =>
      createStateMachine({
        shardId: k,
        originId: k + 1,
        metaId: 42n,
        rootCreatedSeconds: t0Ms / 1000,
        slots: Array.from({ length: limits.slotCount }, (_, s) => s).filter((s) => s % count === k),
        slotOfNewDirectory: (parent, name) => placement.directorySlot(parent, name),
      }),
    );
    this.coordinator = new Coordinator(this);
  }

  shardOfSlot(slot: number): number {
    return slot % this.machines.length;
  }
  slotOfShard(shard: number): number {
    return shard;
  }
  slotOfNewDirectory(parent: number, name: string): number {
    return placement.directorySlot(parent, name);
  }

  /** What a shard leader does with one request; forwards go to the current coordinator. */
  async execute(cmd: Command, ctx: Ctx): Promise<Result> {
    await turn();
    const route = routeOf(cmd);
    assert.notEqual(route, "all");
    const slot = "slot" in (route as object) ? (route as { slot: number }).slot : slotOfInode((route as { inode: number }).inode);
    const shard = this.shardOfSlot(slot);
    if (this.down.has(shard)) throw new ShardUnavailableError(`shard ${shard} is down`);
    this.nowMsValue += 1;
    const execution = this.machines[shard]!.execute(cmd, ctx, this.nowMsValue);
    if (execution.forward === "coordinator") return this.coordinator.coordinate({ ctx, cmd });
    if (execution.remote !== undefined) {
      const attrs = new Map<number, Attr | null>();
      for (const inode of execution.remote.inodes) {
        const got = await this.execute({ kind: "getattr", inode, opened: false }, ctx);
        attrs.set(inode, got.status === Status.OK ? (got as Success<"getattr">).attr : null);
      }
      return execution.remote.complete(attrs);
    }
    return execution.result;
  }

  call(cmd: Command, ctx: Ctx): Promise<Result> {
    return this.execute(cmd, ctx);
  }
  async decide(decision: TxDecision): Promise<TxDecision> {
    await turn();
    const stored = this.decisions.get(decision.txid);
    if (stored !== undefined) return stored;
    this.decisions.set(decision.txid, decision);
    return decision;
  }
  async readDecision(txid: string): Promise<TxDecision | null> {
    await turn();
    return this.decisions.get(txid) ?? null;
  }
  async forgetDecision(txid: string): Promise<void> {
    this.decisions.delete(txid);
  }
  /** The directory-move lock record (compare-and-set on its revision, as the KV bucket). */
  moveLock: MoveLockRecord | null = null;
  async readMoveLock(): Promise<MoveLockRecord | null> {
    return this.moveLock;
  }
  async writeMoveLock(holder: string | null, revision: number): Promise<number | null> {
    if ((this.moveLock?.revision ?? 0) !== revision) return null;
    this.moveLock = { holder, revision: revision + 1 };
    return revision + 1;
  }
  async sleep(ms: number): Promise<void> {
    this.nowMsValue += ms;
    await turn();
  }
  random(): number {
    return 0.5;
  }
  nowMs(): number {
    return this.nowMsValue;
  }

  /** A client request as a gateway sends it (through a router to the owning shard). */
  client(cmd: Command, ctx: Ctx = ctxOf()): Promise<Result> {
    return this.execute(cmd, ctx);
  }

  async lookup(parent: number, name: string): Promise<Result> {
    return this.client({ kind: "lookup", parent, name: nameFromText(name) });
  }

  /** Transactions prepared and undecided, per shard (from fsckdump). */
  prepared(): string[][] {
    return this.machines.map((m, k) => {
      const page = m.execute({ kind: "fsckdump", slot: k, afterInode: 0, max: 10 }, ctxOf(), this.nowMsValue).result as Success<"fsckdump">;
      return [...page.prepared];
    });
  }

  /** What each shard's resolver (or only `shard`'s) does for a transaction prepared too long: abort unless decided. */
  async resolve(shard?: number): Promise<void> {
    for (const [k, txids] of this.prepared().entries()) {
      if (shard !== undefined && k !== shard) continue;
      for (const txid of txids) {
        const decision = await this.decide({ decision: "abort", txid, participants: [k], by: `shard.${k}` });
        const cmd: Command = decision.decision === "commit" ? { kind: "txcommit", slot: k, txid, ...(decision.newInode !== undefined ? { newInode: decision.newInode } : {}) } : { kind: "txabort", slot: k, txid };
        const result = await this.execute(cmd, { ...ctxOf(), requestId: `${txid}/resolver` });
        assert.equal(result.status, Status.OK, `resolver ${cmd.kind} on shard ${k}`);
      }
    }
  }

  /** The inode's parents, walked to the root; throws if it never gets there (a cycle). */
  async pathOf(inode: number): Promise<number[]> {
    const path = [inode];
    for (let i = 0; i < 100 && inode !== limits.rootInode; i++) {
      const facts = (await this.execute({ kind: "txinspect", inode }, ctxOf())) as Success<"txinspect">;
      assert.ok(facts.node !== null, `inode ${inode} exists`);
      assert.equal(facts.node.parents.length, 1, `directory ${inode} has one parent`);
      inode = facts.node.parents[0]!.parent;
      path.push(inode);
    }
    assert.equal(inode, limits.rootInode, `reaches the root: ${path.join(" → ")}`);
    return path;
  }
}

/** A name for a new directory under `parent` whose slot is owned by `shard` (of `count`). */
function nameOn(parent: number, shard: number, count: number, prefix: string): string {
  for (let i = 0; ; i++) {
    const name = `${prefix}${i}`;
    if (placement.directorySlot(parent, nameFromText(name)) % count === shard) return name;
  }
}

const mkdirCmd = (parent: number, name: string): CommandOf<"mkdir"> => ({ kind: "mkdir", parent, name: nameFromText(name), mode: 0o755, umask: 0, copysgid: false });
const inodeOf = (result: Result): number => {
  assert.equal(result.status, Status.OK, `status ${result.status}`);
  return (result as { inode: number }).inode;
};
const shardOfInode = (cluster: Cluster, inode: number): number => cluster.shardOfSlot(slotOfInode(inode));

test("mkdir, create, link, rename, unlink and rmdir across two shards", async () => {
  const cluster = new Cluster(2);
  // A directory whose slot is shard 1's, in the root (shard 0): forwarded and coordinated.
  const remoteName = nameOn(1, 1, 2, "remote");
  const made = await cluster.client(mkdirCmd(1, remoteName));
  const dirB = inodeOf(made);
  assert.equal(shardOfInode(cluster, dirB), 1);
  assert.equal((made as Success<"mkdir">).attr.type, NodeType.DIRECTORY);
  // Lookup of the remote entry: the root's shard asks shard 1 for the attributes.
  const found = await cluster.lookup(1, remoteName);
  assert.equal(inodeOf(found), dirB);
  assert.equal((found as Success<"lookup">).attr.type, NodeType.DIRECTORY);
  // A second mkdir of the same name is EEXIST, from the parent's checks.
  assert.deepEqual(await cluster.client(mkdirCmd(1, remoteName)), { status: Status.EEXIST });

  // A file inside the remote directory is local to shard 1.
  const file = inodeOf(await cluster.client({ kind: "create", parent: dirB, name: nameFromText("f"), mode: 0o644, umask: 0 }));
  assert.equal(shardOfInode(cluster, file), 1);
  // link into the root (shard 0): the node's edge on shard 1, the entry on shard 0.
  const linked = await cluster.client({ kind: "link", inode: file, parentDst: 1, nameDst: nameFromText("hard") });
  assert.equal(inodeOf(linked), file);
  assert.equal((linked as Success<"link">).attr.nlink, 2);
  assert.equal(inodeOf(await cluster.lookup(1, "hard")), file);

  // rename the file's first name from the remote directory to the root.
  const renamed = await cluster.client({ kind: "rename", parentSrc: dirB, nameSrc: nameFromText("f"), parentDst: 1, nameDst: nameFromText("moved") });
  assert.equal(inodeOf(renamed), file);
  assert.equal((await cluster.lookup(dirB, "f")).status, Status.ENOENT);
  assert.equal(inodeOf(await cluster.lookup(1, "moved")), file);
  // rename onto another name of the same node changes nothing (POSIX).
  const same = await cluster.client({ kind: "rename", parentSrc: 1, nameSrc: nameFromText("moved"), parentDst: 1, nameDst: nameFromText("hard") });
  assert.equal(inodeOf(same), file);
  assert.equal(inodeOf(await cluster.lookup(1, "moved")), file);

  // unlink both remote entries: the node goes with the last one.
  assert.deepEqual(await cluster.client({ kind: "unlink", parent: 1, name: nameFromText("hard") }), { status: Status.OK, inode: file });
  assert.equal((await cluster.client({ kind: "getattr", inode: file, opened: false }) as Success<"getattr">).attr.nlink, 1);
  assert.deepEqual(await cluster.client({ kind: "unlink", parent: 1, name: nameFromText("moved") }), { status: Status.OK, inode: file });
  assert.equal((await cluster.lookup(1, "moved")).status, Status.ENOENT);

  // rmdir of the remote directory: refused while it has entries, then done.
  inodeOf(await cluster.client({ kind: "create", parent: dirB, name: nameFromText("g"), mode: 0o644, umask: 0 }));
  assert.deepEqual(await cluster.client({ kind: "rmdir", parent: 1, name: nameFromText(remoteName) }), { status: Status.ENOTEMPTY });
  assert.equal((await cluster.client({ kind: "unlink", parent: dirB, name: nameFromText("g") })).status, Status.OK);
  assert.deepEqual(await cluster.client({ kind: "rmdir", parent: 1, name: nameFromText(remoteName) }), { status: Status.OK, inode: dirB });
  assert.equal((await cluster.lookup(1, remoteName)).status, Status.ENOENT);
  assert.equal((await cluster.client({ kind: "getattr", inode: dirB, opened: false })).status, Status.ENOENT);

  assert.deepEqual(cluster.prepared(), [[], []]);
  assert.equal(cluster.decisions.size, 0);
});

test("rename over an existing target whose node is on a third shard: that node is disposed of", async () => {
  const cluster = new Cluster(3);
  const dirB = inodeOf(await cluster.client(mkdirCmd(1, nameOn(1, 1, 3, "b"))));
  const dirC = inodeOf(await cluster.client(mkdirCmd(1, nameOn(1, 2, 3, "c"))));
  const file = inodeOf(await cluster.client({ kind: "create", parent: dirB, name: nameFromText("f"), mode: 0o644, umask: 0 }));
  const target = inodeOf(await cluster.client({ kind: "create", parent: dirC, name: nameFromText("t"), mode: 0o644, umask: 0 }));
  // root/target names shard 2's node (a remote entry on shard 0).
  assert.equal(inodeOf(await cluster.client({ kind: "rename", parentSrc: dirC, nameSrc: nameFromText("t"), parentDst: 1, nameDst: nameFromText("target") })), target);
  // b/f (shard 1) over root/target (shard 0) whose node is shard 2's: four parts on three shards.
  const renamed = await cluster.client({ kind: "rename", parentSrc: dirB, nameSrc: nameFromText("f"), parentDst: 1, nameDst: nameFromText("target") });
  assert.equal(inodeOf(renamed), file);
  assert.equal(inodeOf(await cluster.lookup(1, "target")), file);
  assert.equal((await cluster.lookup(dirB, "f")).status, Status.ENOENT);
  const facts = (await cluster.client({ kind: "txinspect", inode: target })) as Success<"txinspect">;
  assert.deepEqual(facts.node?.parents ?? [], [], "the replaced node has no entry left");
  // A directory is never replaced while it has entries.
  const full = inodeOf(await cluster.client(mkdirCmd(1, nameOn(1, 1, 3, "full"))));
  inodeOf(await cluster.client({ kind: "create", parent: full, name: nameFromText("x"), mode: 0o644, umask: 0 }));
  const fullName = (await cluster.client({ kind: "txinspect", inode: full }) as Success<"txinspect">).node!.parents[0]!.name;
  const empty = nameOn(dirC, 0, 3, "e");
  inodeOf(await cluster.client(mkdirCmd(dirC, empty)));
  assert.deepEqual(
    await cluster.client({ kind: "rename", parentSrc: dirC, nameSrc: nameFromText(empty), parentDst: 1, nameDst: fullName }),
    { status: Status.ENOTEMPTY },
  );
  assert.deepEqual(cluster.prepared(), [[], [], []]);
});

test("many concurrent cross-shard mkdirs in one directory: all succeed (they queue on the parent instead of colliding)", async () => {
  const cluster = new Cluster(2);
  const names = Array.from({ length: 40 }, (_, i) => nameOn(1, 1, 2, `many${i}-`));
  const results = await Promise.all(names.map((name) => cluster.client(mkdirCmd(1, name))));
  assert.deepEqual(results.map((r) => r.status), names.map(() => Status.OK));
  const listing = (await cluster.client({ kind: "readdir", inode: 1, withAttr: false, maxEntries: 100 })) as Success<"readdir">;
  assert.equal(listing.entries.length, names.length + 2);
  assert.deepEqual(cluster.prepared(), [[], []]);
});

test("permissions are the participants': a user may not mkdir in root's 0755 directory, nor rmdir from it", async () => {
  const cluster = new Cluster(2);
  const parent = inodeOf(await cluster.client(mkdirCmd(1, nameOn(1, 0, 2, "owned"))));
  assert.equal(shardOfInode(cluster, parent), 0);
  const name = nameOn(parent, 1, 2, "p");
  assert.deepEqual(await cluster.client(mkdirCmd(parent, name), ctxOf(1000)), { status: Status.EACCES });
  inodeOf(await cluster.client(mkdirCmd(parent, name)));
  assert.deepEqual(await cluster.client({ kind: "rmdir", parent, name: nameFromText(name) }, ctxOf(1000)), { status: Status.EACCES });
  assert.deepEqual(cluster.prepared(), [[], []]);
  assert.equal(cluster.decisions.size, 0, "refused prepares need no decision");
});

test("a directory moves between parents on three shards; moving it under itself is EINVAL", async () => {
  const cluster = new Cluster(3);
  const a = inodeOf(await cluster.client(mkdirCmd(1, nameOn(1, 1, 3, "a"))));
  const bName = nameOn(a, 2, 3, "b");
  const b = inodeOf(await cluster.client(mkdirCmd(a, bName)));
  const c = inodeOf(await cluster.client(mkdirCmd(b, nameOn(b, 0, 3, "c"))));
  assert.deepEqual([a, b, c].map((i) => shardOfInode(cluster, i)), [1, 2, 0]);
  // root/a → c/a: a would be inside its own subtree.
  const aName = (await cluster.client({ kind: "txinspect", inode: a }) as Success<"txinspect">).node!.parents[0]!.name;
  assert.deepEqual(await cluster.client({ kind: "rename", parentSrc: 1, nameSrc: aName, parentDst: c, nameDst: nameFromText("x") }), { status: Status.EINVAL });
  // a/b → root/b2: fine, and b's subtree goes with it.
  const moved = await cluster.client({ kind: "rename", parentSrc: a, nameSrc: nameFromText(bName), parentDst: 1, nameDst: nameFromText("b2") });
  assert.equal(inodeOf(moved), b);
  assert.deepEqual(await cluster.pathOf(c), [c, b, 1]);
  assert.equal(inodeOf(await cluster.lookup(1, "b2")), b);
  assert.equal((await cluster.lookup(a, bName)).status, Status.ENOENT);
  // Now a may go under c (no longer its descendant).
  assert.equal(inodeOf(await cluster.client({ kind: "rename", parentSrc: 1, nameSrc: aName, parentDst: c, nameDst: nameFromText("a2") })), a);
  assert.deepEqual(await cluster.pathOf(a), [a, c, b, 1]);
  assert.deepEqual(cluster.prepared(), [[], [], []]);
});

test("concurrent directory moves that together would form a cycle: exactly one succeeds, the other is EINVAL", async () => {
  for (let round = 0; round < 4; round++) {
    const cluster = new Cluster(2);
    // P/a/b and Q/c/d; then P/a → d/a and Q/c → b/c at once. The two moves touch disjoint inodes
    // (no lock of a prepared transaction separates them), and each is fine alone.
    const p = inodeOf(await cluster.client(mkdirCmd(1, nameOn(1, round % 2, 2, "P"))));
    const q = inodeOf(await cluster.client(mkdirCmd(1, nameOn(1, (round + 1) % 2, 2, "Q"))));
    const aName = nameOn(p, 1, 2, "a");
    const cName = nameOn(q, 0, 2, "c");
    const a = inodeOf(await cluster.client(mkdirCmd(p, aName)));
    const c = inodeOf(await cluster.client(mkdirCmd(q, cName)));
    const b = inodeOf(await cluster.client(mkdirCmd(a, nameOn(a, round % 2, 2, "b"))));
    const d = inodeOf(await cluster.client(mkdirCmd(c, nameOn(c, (round + 1) % 2, 2, "d"))));
    const [first, second] = await Promise.all([
      cluster.client({ kind: "rename", parentSrc: p, nameSrc: nameFromText(aName), parentDst: d, nameDst: nameFromText("a") }),
      cluster.client({ kind: "rename", parentSrc: q, nameSrc: nameFromText(cName), parentDst: b, nameDst: nameFromText("c") }),
    ]);
    assert.deepEqual([first.status, second.status].sort(), [Status.OK, Status.EINVAL], `round ${round}`);
    // Everything still reaches the root: no cycle.
    for (const inode of [a, b, c, d]) await cluster.pathOf(inode);
    assert.deepEqual(cluster.prepared(), [[], []]);
  }
});

test("two coordinators at once (a lease holder paused past its lease) moving directories into a cycle: the move lock lets one through", async () => {
  for (let round = 0; round < 4; round++) {
    const cluster = new Cluster(2);
    const p = inodeOf(await cluster.client(mkdirCmd(1, nameOn(1, round % 2, 2, "P"))));
    const q = inodeOf(await cluster.client(mkdirCmd(1, nameOn(1, (round + 1) % 2, 2, "Q"))));
    const aName = nameOn(p, 1, 2, "a");
    const cName = nameOn(q, 0, 2, "c");
    const a = inodeOf(await cluster.client(mkdirCmd(p, aName)));
    const c = inodeOf(await cluster.client(mkdirCmd(q, cName)));
    const b = inodeOf(await cluster.client(mkdirCmd(a, nameOn(a, round % 2, 2, "b"))));
    const d = inodeOf(await cluster.client(mkdirCmd(c, nameOn(c, (round + 1) % 2, 2, "d"))));
    // Each coordinator serializes its own moves; only the durable lock orders the two. Each
    // one's first prepare waits (a while) for the other's, so that without the lock both
    // ancestry walks would be over before either move is prepared.
    const base = portsOf(cluster);
    const preparing = new Set<string>();
    const coordinatorAs = (id: string): Coordinator =>
      new Coordinator({
        ...base,
        call: async (cmd, ctx) => {
          if (cmd.kind === "txprepare") {
            preparing.add(id);
            for (let i = 0; i < 10 && preparing.size < 2; i++) await turn();
          }
          return base.call(cmd, ctx);
        },
      });
    const one = coordinatorAs("one");
    const other = coordinatorAs("other");
    const [first, second] = await Promise.all([
      one.coordinate({ ctx: ctxOf(), cmd: { kind: "rename", parentSrc: p, nameSrc: nameFromText(aName), parentDst: d, nameDst: nameFromText("a") } }),
      other.coordinate({ ctx: ctxOf(), cmd: { kind: "rename", parentSrc: q, nameSrc: nameFromText(cName), parentDst: b, nameDst: nameFromText("c") } }),
    ]);
    assert.deepEqual([first.status, second.status].sort(), [Status.OK, Status.EINVAL], `round ${round}`);
    for (const inode of [a, b, c, d]) await cluster.pathOf(inode);
    assert.deepEqual(cluster.prepared(), [[], []]);
    assert.equal(cluster.moveLock?.holder, null, "the lock is free again");
  }
});

test("a coordinator whose move lock was taken over while it stalled does not commit its move", async () => {
  const cluster = new Cluster(2);
  const x = inodeOf(await cluster.client(mkdirCmd(1, nameOn(1, 1, 2, "x"))));
  const xName = (await cluster.client({ kind: "txinspect", inode: x }) as Success<"txinspect">).node!.parents[0]!.name;
  const y = inodeOf(await cluster.client(mkdirCmd(1, nameOn(1, 0, 2, "y"))));
  const base = portsOf(cluster);
  // While this coordinator prepares, another one takes the lock over (this one looked dead).
  const stalled = new Coordinator({
    ...base,
    call: async (cmd, ctx) => {
      const result = await base.call(cmd, ctx);
      if (cmd.kind === "txprepare" && cluster.moveLock !== null && cluster.moveLock.holder !== "successor#1") {
        cluster.moveLock = { holder: "successor#1", revision: cluster.moveLock.revision + 1 };
      }
      return result;
    },
  }, { attemptsMax: 2 });
  const moved = await stalled.coordinate({ ctx: ctxOf(), cmd: { kind: "rename", parentSrc: 1, nameSrc: xName, parentDst: y, nameDst: nameFromText("x") } });
  // Its prepares were undone; each attempt loses the lock the same way, so it gives up.
  assert.deepEqual(moved, { status: Status.EAGAIN });
  assert.deepEqual(await cluster.pathOf(x), [x, 1]);
  assert.equal((await cluster.lookup(y, "x")).status, Status.ENOENT);
  assert.deepEqual(cluster.prepared(), [[], []]);
  assert.deepEqual([...cluster.decisions.values()].map((d) => d.decision), [], "an abort is forgotten once acknowledged");
});

test("a coordinator dying between prepare and decision: the participants' abort wins, the client's retry succeeds", async () => {
  const cluster = new Cluster(2);
  const name = nameOn(1, 1, 2, "crash");
  const request = { ctx: ctxOf(), cmd: mkdirCmd(1, name) };
  // The first coordinator prepares both participants, then never writes its decision (dead).
  const dying = new Coordinator({ ...portsOf(cluster), decide: () => new Promise<TxDecision>(() => {}) });
  cluster.coordinator = dying;
  void cluster.client(request.cmd, request.ctx);
  for (let i = 0; i < 200 && cluster.prepared().flat().length < 2; i++) await turn();
  assert.deepEqual(cluster.prepared(), [[`${request.ctx.requestId}#1`], [`${request.ctx.requestId}#1`]]);
  // Meanwhile the name is locked: another mkdir of it waits (TXLOCKED at the shard).
  const other = cluster.machines[0]!.execute(mkdirCmd(1, name), ctxOf(), cluster.nowMsValue);
  assert.equal(other.result.status === Status.TXLOCKED || other.forward === "coordinator", true);

  // The participants' resolvers find no decision: they store "abort" and drop the transaction.
  await cluster.resolve();
  assert.equal(cluster.decisions.get(`${request.ctx.requestId}#1`)?.decision, "abort");
  assert.deepEqual(cluster.prepared(), [[], []]);

  // The client retries (same request id); the shard knows it as taken by a transaction and
  // forwards it to the new coordinator, which skips the aborted attempt.
  cluster.coordinator = new Coordinator(cluster);
  const retried = await cluster.client(request.cmd, request.ctx);
  const dir = inodeOf(retried);
  assert.equal(inodeOf(await cluster.lookup(1, name)), dir);
  assert.deepEqual(cluster.prepared(), [[], []]);
});

/**
 * A directory P/a (on shard 1) moving to Q on shard 1, whose coordinator prepared every
 * participant and died before deciding: its locks stay until the participants' resolvers act.
 */
async function orphanedMove() {
  const cluster = new Cluster(2);
  const p = inodeOf(await cluster.client(mkdirCmd(1, nameOn(1, 0, 2, "P"))));
  const q = inodeOf(await cluster.client(mkdirCmd(1, nameOn(1, 1, 2, "Q"))));
  const aName = nameOn(p, 1, 2, "a");
  const a = inodeOf(await cluster.client(mkdirCmd(p, aName)));
  const request = { ctx: ctxOf(), cmd: { kind: "rename", parentSrc: p, nameSrc: nameFromText(aName), parentDst: q, nameDst: nameFromText("a") } as Command };
  const txid = `${request.ctx.requestId}#1`;
  cluster.coordinator = new Coordinator({ ...portsOf(cluster), decide: () => new Promise<TxDecision>(() => {}) });
  void cluster.client(request.cmd, request.ctx);
  for (let i = 0; i < 500 && cluster.prepared().flat().length < 2; i++) await turn();
  assert.deepEqual(cluster.prepared(), [[txid], [txid]]);
  return { cluster, p, q, a, aName, request, txid };
}

test("a directory move whose coordinator died after preparing it: the client's retry outwaits its own locks until the resolvers abort them", async () => {
  // Seen in the sharded crash e2e (ha profile, coordinator killed): the retry on the new
  // coordinator re-ran the move, whose ancestry walk refused to pass the destination its own
  // orphaned attempt held; after 20 quick attempts (~1–1.5 s) it answered EAGAIN, before the
  // participants' resolvers (txResolveAfterMs after the prepare) had aborted that attempt.
  const { cluster, p, q, a, aName, request, txid } = await orphanedMove();
  const preparedAtMs = cluster.nowMsValue;

  // The participants' resolvers act once the transaction is txResolveAfterMs (+ one interval) old.
  const base = portsOf(cluster);
  let resolved = false;
  cluster.coordinator = new Coordinator({
    ...base,
    sleep: async (ms) => {
      await base.sleep(ms);
      if (!resolved && cluster.nowMsValue - preparedAtMs >= limits.txResolveAfterMs + limits.txResolveIntervalMs) {
        resolved = true;
        await cluster.resolve();
      }
    },
  });
  const startedMs = cluster.nowMsValue;
  const retried = await cluster.client(request.cmd, request.ctx);
  assert.equal(inodeOf(retried), a, "the retry moved the directory");
  assert.ok(resolved, "it waited for the resolvers");
  assert.ok(cluster.nowMsValue - startedMs < limits.txConflictPatienceMs, "within the conflict patience");
  assert.equal(cluster.decisions.get(txid)?.decision, "abort", "the orphaned attempt was aborted by its participants");
  assert.deepEqual(await cluster.pathOf(a), [a, q, 1]);
  assert.equal((await cluster.lookup(p, aName)).status, Status.ENOENT);
  assert.deepEqual(cluster.prepared(), [[], []]);
});

test("conflicts that outlast the patience give EAGAIN (and leave nothing prepared)", async () => {
  const { cluster, p, a, request } = await orphanedMove();
  // No resolver runs: the locks stay, and the retry gives up after its patience, not before.
  cluster.coordinator = new Coordinator(cluster, { conflictPatienceMs: 1_000 });
  const startedMs = cluster.nowMsValue;
  assert.deepEqual(await cluster.client(request.cmd, request.ctx), { status: Status.EAGAIN });
  const waitedMs = cluster.nowMsValue - startedMs;
  assert.ok(waitedMs >= 1_000 && waitedMs < 1_000 + limits.txConflictBackoffMaxMs + 50, `gave up after ${waitedMs} ms`);
  await cluster.resolve();
  assert.deepEqual(await cluster.pathOf(a), [a, p, 1]);
  assert.deepEqual(cluster.prepared(), [[], []]);
});

test("a coordinator dying between decision and commit: a new coordinator finishes it and answers the retry", async () => {
  const cluster = new Cluster(2);
  const name = nameOn(1, 1, 2, "half");
  const request = { ctx: ctxOf(), cmd: mkdirCmd(1, name) };
  const base = portsOf(cluster);
  // The first coordinator writes "commit" and dies before any txcommit arrives.
  const dying = new Coordinator({
    ...base,
    call: (cmd, ctx) => (cmd.kind === "txcommit" ? new Promise<Result>(() => {}) : base.call(cmd, ctx)),
  });
  cluster.coordinator = dying;
  void cluster.client(request.cmd, request.ctx);
  const txid = `${request.ctx.requestId}#1`;
  for (let i = 0; i < 200 && cluster.decisions.get(txid) === undefined; i++) await turn();
  assert.equal(cluster.decisions.get(txid)?.decision, "commit");
  assert.deepEqual(cluster.prepared(), [[txid], [txid]]);

  cluster.coordinator = new Coordinator(cluster);
  const retried = await cluster.client(request.cmd, request.ctx);
  const dir = inodeOf(retried);
  assert.equal(dir, cluster.decisions.get(txid)?.newInode ?? dir);
  assert.equal((retried as Success<"mkdir">).attr.type, NodeType.DIRECTORY);
  assert.equal(inodeOf(await cluster.lookup(1, name)), dir);
  assert.deepEqual(cluster.prepared(), [[], []]);
  assert.equal(cluster.decisions.has(txid), false, "forgotten once both acknowledged");
});

test("a participant down at commit time: the decision stays, its resolver applies it later", async () => {
  const cluster = new Cluster(2);
  const name = nameOn(1, 1, 2, "down");
  const base = portsOf(cluster);
  let downAtCommit = true;
  cluster.coordinator = new Coordinator(
    {
      ...base,
      call: (cmd, ctx) => {
        // Shard 0 (the parent's) loses its leader right when the commits start.
        if (cmd.kind === "txcommit" && downAtCommit) cluster.down.add(0);
        return base.call(cmd, ctx);
      },
    },
    { commitPatienceMs: 50 },
  );
  const ctx = ctxOf();
  const result = await cluster.client(mkdirCmd(1, name), ctx);
  // The node exists (its shard committed first), so the client got its answer.
  const dir = inodeOf(result);
  const txid = `${ctx.requestId}#1`;
  assert.equal(cluster.decisions.get(txid)?.decision, "commit");
  assert.deepEqual(cluster.prepared(), [[txid], []]);
  downAtCommit = false;
  cluster.down.clear();
  await cluster.resolve();
  assert.equal(inodeOf(await cluster.lookup(1, name)), dir);
  assert.deepEqual(cluster.prepared(), [[], []]);
});

test("a rename over a new directory whose entry a resolver committed before its node exists: waits for the node, then disposes of it", async () => {
  // Found by the sharded simulation (seed 400175): the entry of a cross-shard mkdir was committed
  // by its shard's resolver while the node's shard was still prepared; the rename's txinspect
  // answered "no such node", the planner took the entry for damage and replaced it without
  // removing the node's edge, and the node, committed later, was an orphan.
  const cluster = new Cluster(2);
  const name = nameOn(1, 1, 2, "new");
  const request = { ctx: ctxOf(), cmd: mkdirCmd(1, name) };
  const base = portsOf(cluster);
  cluster.coordinator = new Coordinator({ ...base, call: (cmd, ctx) => (cmd.kind === "txcommit" ? new Promise<Result>(() => {}) : base.call(cmd, ctx)) });
  void cluster.client(request.cmd, request.ctx);
  const txid = `${request.ctx.requestId}#1`;
  for (let i = 0; i < 200 && cluster.decisions.get(txid) === undefined; i++) await turn();
  const newInode = cluster.decisions.get(txid)?.newInode;
  assert.ok(newInode !== undefined);
  // The parent's shard (0) resolves first: root/name names a node shard 1 has not created yet.
  await cluster.resolve(0);
  assert.deepEqual(cluster.prepared(), [[], [txid]]);
  assert.equal((await cluster.execute({ kind: "txinspect", inode: newInode }, ctxOf())).status, Status.TXLOCKED);

  cluster.coordinator = new Coordinator(cluster, { attemptsMax: 3 });
  const src = inodeOf(await cluster.client(mkdirCmd(1, nameOn(1, 0, 2, "src"))));
  const srcName = (await cluster.client({ kind: "txinspect", inode: src }) as Success<"txinspect">).node!.parents[0]!.name;
  const rename: Command = { kind: "rename", parentSrc: 1, nameSrc: srcName, parentDst: 1, nameDst: nameFromText(name) };
  // While the node is being created the rename cannot be planned: EAGAIN, nothing changed.
  assert.deepEqual(await cluster.client(rename), { status: Status.EAGAIN });
  const entry = (await cluster.execute({ kind: "txinspect", inode: 1, name: nameFromText(name) }, ctxOf())) as Success<"txinspect">;
  assert.equal(entry.entry?.inode, newInode);
  // Once shard 1 resolved too, the rename replaces the (empty) new directory properly.
  await cluster.resolve(1);
  assert.equal(inodeOf(await cluster.client(rename)), src);
  assert.equal(inodeOf(await cluster.lookup(1, name)), src);
  const replaced = (await cluster.execute({ kind: "txinspect", inode: newInode }, ctxOf())) as Success<"txinspect">;
  assert.deepEqual(replaced.node?.parents ?? [], [], "the replaced directory keeps no edge");
  assert.deepEqual(cluster.prepared(), [[], []]);
});

test("a directory move decided but not yet applied on the moved node's shard: a move under it waits instead of forming a cycle", async () => {
  // Found by the sharded simulation (seed 400515): root/x → y/x was committed on the entries'
  // shard while x's shard (its parent edge) was still prepared; a new coordinator then moved y
  // under x/z, walking x's stale edge (still root/x), and y and x formed a cycle.
  const cluster = new Cluster(2);
  const xName = nameOn(1, 1, 2, "x");
  const x = inodeOf(await cluster.client(mkdirCmd(1, xName)));
  const z = inodeOf(await cluster.client(mkdirCmd(x, nameOn(x, 1, 2, "z"))));
  const yName = nameOn(1, 0, 2, "y");
  const y = inodeOf(await cluster.client(mkdirCmd(1, yName)));
  assert.deepEqual([x, z, y].map((i) => shardOfInode(cluster, i)), [1, 1, 0]);
  const base = portsOf(cluster);
  // The first coordinator commits on shard 0 (both entries) and dies before x's shard hears it.
  cluster.coordinator = new Coordinator({
    ...base,
    call: (cmd, ctx) => (cmd.kind === "txcommit" && cluster.shardOfSlot(cmd.slot) === 1 ? new Promise<Result>(() => {}) : base.call(cmd, ctx)),
  });
  const ctx = ctxOf();
  void cluster.client({ kind: "rename", parentSrc: 1, nameSrc: nameFromText(xName), parentDst: y, nameDst: nameFromText("x") }, ctx);
  const txid = `${ctx.requestId}#1`;
  for (let i = 0; i < 400 && !(cluster.decisions.has(txid) && cluster.prepared()[0]!.length === 0); i++) await turn();
  assert.deepEqual(cluster.prepared(), [[], [txid]]);
  assert.equal(inodeOf(await cluster.lookup(y, "x")), x);

  cluster.coordinator = new Coordinator(cluster, { attemptsMax: 3 });
  const cycle: Command = { kind: "rename", parentSrc: 1, nameSrc: nameFromText(yName), parentDst: z, nameDst: nameFromText("y") };
  assert.deepEqual(await cluster.client(cycle), { status: Status.EAGAIN });
  await cluster.resolve(1);
  assert.deepEqual(await cluster.client(cycle), { status: Status.EINVAL });
  for (const inode of [x, y, z]) await cluster.pathOf(inode);
  assert.deepEqual(cluster.prepared(), [[], []]);
});

/** The cluster's ports as a plain object (so a test can replace one of them). */
function portsOf(cluster: Cluster): CoordinatorPorts {
  return {
    call: (cmd, ctx) => cluster.call(cmd, ctx),
    decide: (d) => cluster.decide(d),
    readDecision: (txid) => cluster.readDecision(txid),
    forgetDecision: (txid) => cluster.forgetDecision(txid),
    readMoveLock: () => cluster.readMoveLock(),
    writeMoveLock: (holder, revision) => cluster.writeMoveLock(holder, revision),
    shardOfSlot: (slot) => cluster.shardOfSlot(slot),
    slotOfShard: (shard) => cluster.slotOfShard(shard),
    slotOfNewDirectory: (parent, name) => cluster.slotOfNewDirectory(parent, name),
    sleep: (ms) => cluster.sleep(ms),
    random: () => cluster.random(),
    nowMs: () => cluster.nowMs(),
  };
}
