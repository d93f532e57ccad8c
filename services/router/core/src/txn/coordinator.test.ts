/**
 * The coordinator's machinery against scripted shards: attempts and their decisions, aborts,
 * conflicts, recovery of a decision left by a dead coordinator, unreachable participants,
 * duplicates. The shards here only record what they are told; coordinator-shards.test.ts runs
 * the same coordinator against real shard state machines.
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
  txidOf,
  type Attr,
  type Command,
  type CommandOf,
  type Ctx,
  type ErrorStatus,
  type NodeFacts,
  type Result,
  type TxDecision,
  type TxPart,
  type TxPartOutput,
} from "@antler/ops";
import { makeInode } from "@antler/slots";
import { Coordinator } from "./coordinator.ts";
import { ShardUnavailableError, type CoordinatorEvent, type CoordinatorPorts, type MoveLockRecord } from "./ports.ts";

/** Two shards: slots below 1024 are shard 0's, the rest shard 1's. */
const shardOf = (slot: number): number => (slot < limits.slotCount / 2 ? 0 : 1);
const slotOf = (shard: number): number => shard * (limits.slotCount / 2);

const attrOf = (type: number, mode = 0o755): Attr => ({
  type: type as Attr["type"], mode, uid: 0, gid: 0, atime: 1, mtime: 1, ctime: 1, nlink: 1, length: 0, rdev: 0, flags: 0, winattr: 0,
});
const facts = (inode: number, type: number, parents: NodeFacts["parents"] = [], entryCount = 0): NodeFacts => ({
  inode, type, uid: 0, gid: 0, mode: 0o755, eattr: 0, parents, entryCount, locked: false,
});
const spec = { kind: "mkdir", type: NodeType.DIRECTORY, mode: 0o755, uid: 0, gid: 0, rdev: 0, target: "", goal: 1, trashtime: 86400, eattr: 0, aclAccess: null, aclDefault: null } as const;

interface Sent {
  readonly shard: number;
  readonly cmd: Command;
  readonly ctx: Ctx;
}

/** A shard that prepares and commits whatever it is told, unless a test says otherwise. */
class ScriptedShard {
  readonly prepared = new Map<string, readonly TxPart[]>();
  readonly committed: string[] = [];
  readonly aborted: string[] = [];
  /** Per txprepare: a failure to answer instead (consulted before preparing). */
  refusePrepare: (parts: readonly TxPart[], txid: string) => ErrorStatus | null = () => null;
  /** Calls before the shard answers again (each one throws ShardUnavailableError). */
  unreachableCalls = 0;
  readonly inspections = new Map<string, Result>();
  nextLocal = 100;
  readonly shard: number;

  constructor(shard: number) {
    this.shard = shard;
  }

  answer(cmd: Command): Result {
    if (this.unreachableCalls > 0) {
      this.unreachableCalls--;
      throw new ShardUnavailableError(`shard ${this.shard} has no leader`);
    }
    switch (cmd.kind) {
      case "txinspect":
        return this.inspections.get(`${cmd.inode}/${cmd.name ?? ""}`) ?? { status: Status.OK, node: null, entry: null };
      case "getattr":
        return { status: Status.OK, attr: attrOf(NodeType.DIRECTORY) };
      case "txprepare": {
        const refused = this.refusePrepare(cmd.parts, cmd.txid);
        if (refused !== null) return { status: refused };
        this.prepared.set(cmd.txid, cmd.parts);
        const outputs: TxPartOutput[] = cmd.parts.map((part) => {
          if (part.op === "entry-new") return { op: "entry-new", spec };
          if (part.op === "node-new") return { op: "node-new", inode: makeInode(part.slot, this.nextLocal++) };
          return { op: part.op };
        });
        return { status: Status.OK, outputs };
      }
      case "txcommit": {
        const parts = this.prepared.get(cmd.txid);
        this.prepared.delete(cmd.txid);
        if (parts === undefined) return { status: Status.OK, outputs: [] };
        this.committed.push(cmd.txid);
        const outputs: TxPartOutput[] = parts.map((part) => {
          if (part.op === "node-new") return { op: "node-new", inode: cmd.newInode!, attr: attrOf(NodeType.DIRECTORY, 0o700) };
          if (part.op === "edge-add" || part.op === "edge-move") return { op: part.op, attr: attrOf(NodeType.FILE, 0o600) };
          if (part.op === "entry-new") return { op: "entry-new", spec };
          return { op: part.op };
        });
        return { status: Status.OK, outputs };
      }
      case "txabort":
        this.prepared.delete(cmd.txid);
        this.aborted.push(cmd.txid);
        return { status: Status.OK };
      default:
        return { status: Status.OK } as Result;
    }
  }
}

class World implements CoordinatorPorts {
  readonly shards = [new ScriptedShard(0), new ScriptedShard(1)];
  readonly sent: Sent[] = [];
  readonly decisions = new Map<string, TxDecision>();
  readonly forgotten: string[] = [];
  readonly events: CoordinatorEvent[] = [];
  directorySlot = slotOf(1);
  clockMs = 0;
  /** Runs before a decision is stored (a participant's resolver racing the coordinator). */
  beforeDecide: (decision: TxDecision) => void = () => {};

  async call(cmd: Command, ctx: Ctx): Promise<Result> {
    this.clockMs += 1;
    const route = routeOf(cmd);
    assert.notEqual(route, "all");
    const slot = "slot" in (route as object) ? (route as { slot: number }).slot : slotOfInode((route as { inode: number }).inode);
    const shard = shardOf(slot);
    this.sent.push({ shard, cmd, ctx });
    return this.shards[shard]!.answer(cmd);
  }
  async decide(decision: TxDecision): Promise<TxDecision> {
    this.beforeDecide(decision);
    const stored = this.decisions.get(decision.txid);
    if (stored !== undefined) return stored;
    this.decisions.set(decision.txid, decision);
    return decision;
  }
  async readDecision(txid: string): Promise<TxDecision | null> {
    return this.decisions.get(txid) ?? null;
  }
  async forgetDecision(txid: string): Promise<void> {
    this.forgotten.push(txid);
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
  shardOfSlot = shardOf;
  slotOfShard = slotOf;
  slotOfNewDirectory(): number {
    return this.directorySlot;
  }
  async sleep(ms: number): Promise<void> {
    this.clockMs += ms;
  }
  random(): number {
    return 0.5;
  }
  nowMs(): number {
    return this.clockMs;
  }
  event(event: CoordinatorEvent): void {
    this.events.push(event);
  }

  /** The tx commands sent, as "shard:kind". */
  txLog(): string[] {
    return this.sent.filter((s) => s.cmd.kind.startsWith("tx") && s.cmd.kind !== "txinspect").map((s) => `${s.shard}:${s.cmd.kind}`);
  }
}

const ctx = (requestId?: string): Ctx => ({ sessionId: 7, uid: 1000, gids: [1000], sesflags: 0, rootInode: 1, ...(requestId !== undefined ? { requestId } : {}) });
const mkdir = (name = "d"): CommandOf<"mkdir"> => ({ kind: "mkdir", parent: 1, name: nameFromText(name), mode: 0o755, umask: 0o022, copysgid: false });

test("mkdir across shards: entry-new then node-new, commit on the node's shard first, answer from the commit", async () => {
  const world = new World();
  const result = await new Coordinator(world).coordinate({ ctx: ctx("r1"), cmd: mkdir() });
  const newInode = makeInode(slotOf(1), 100);
  assert.deepEqual(result, { status: Status.OK, inode: newInode, attr: attrOf(NodeType.DIRECTORY, 0o700) });
  assert.deepEqual(world.txLog(), ["0:txprepare", "1:txprepare", "1:txcommit", "0:txcommit"]);
  const nodeNew = world.sent[1]!.cmd as CommandOf<"txprepare">;
  assert.deepEqual(nodeNew.parts, [{ op: "node-new", spec, slot: slotOf(1), parent: 1, name: "d" }]);
  assert.equal(nodeNew.clientRequestId, "r1");
  assert.equal(nodeNew.txid, txidOf("r1", 1));
  // Every tx call carries the client's identity and a request id of its own.
  assert.deepEqual(world.sent[1]!.ctx, { sessionId: 7, uid: 1000, gids: [1000], sesflags: 0, rootInode: 1, requestId: "r1#1/1" });
  for (const s of world.sent.filter((s) => s.cmd.kind === "txcommit")) assert.equal((s.cmd as CommandOf<"txcommit">).newInode, newInode);
  assert.deepEqual(world.forgotten, ["r1#1"]);
  assert.deepEqual(world.events.at(-1), { kind: "coordinated", command: "mkdir", status: Status.OK, attempts: 1 });
});

test("a participant answering TXTAKEN: another router's attempt of this request committed, and its decision answers", async () => {
  // Two routers coordinating one request at once (a lease handover): the other one's attempt #3
  // committed; ours (attempt #1) must not apply the request a second time.
  const world = new World();
  world.decisions.set(txidOf("r9", 3), { decision: "commit", txid: txidOf("r9", 3), participants: [1, 0], newInode: makeInode(slotOf(1), 100), by: "coordinator" });
  world.shards[0]!.refusePrepare = (_parts, txid) => (txid === txidOf("r9", 1) ? Status.TXTAKEN : null);
  const result = await new Coordinator(world).coordinate({ ctx: ctx("r9"), cmd: mkdir() });
  assert.equal(result.status, Status.OK);
  assert.equal((result as { inode: number }).inode, makeInode(slotOf(1), 100));
  // Nothing of attempt #1 was committed; attempt #3's commit was (re)sent to its participants.
  const commits = world.sent.filter((s) => s.cmd.kind === "txcommit").map((s) => (s.cmd as CommandOf<"txcommit">).txid);
  assert.ok(commits.length > 0 && commits.every((txid) => txid === txidOf("r9", 3)), commits.join(", "));
  assert.equal(world.decisions.get(txidOf("r9", 1)), undefined, "no decision needed: nothing was prepared for #1");
});

test("a request without a request id, or of a kind the coordinator does not do, is EINVAL", async () => {
  const coordinator = new Coordinator(new World());
  assert.deepEqual(await coordinator.coordinate({ ctx: ctx(), cmd: mkdir() }), { status: Status.EINVAL });
  assert.deepEqual(await coordinator.coordinate({ ctx: ctx("r"), cmd: { kind: "getattr", inode: 1, opened: false } }), { status: Status.EINVAL });
});

test("a prepare refused by its checks is the answer; nothing prepared means no decision and no abort", async () => {
  const world = new World();
  world.shards[0]!.refusePrepare = () => Status.EEXIST;
  assert.deepEqual(await new Coordinator(world).coordinate({ ctx: ctx("r2"), cmd: mkdir() }), { status: Status.EEXIST });
  assert.deepEqual(world.txLog(), ["0:txprepare"]);
  assert.equal(world.decisions.size, 0);
});

test("a conflict (TXLOCKED) aborts the attempt everywhere it may hold and retries it as the next attempt", async () => {
  const world = new World();
  let refusals = 1;
  world.shards[1]!.refusePrepare = () => (refusals-- > 0 ? Status.TXLOCKED : null);
  const result = await new Coordinator(world).coordinate({ ctx: ctx("r3"), cmd: mkdir() });
  assert.equal(result.status, Status.OK);
  assert.deepEqual(world.txLog(), ["0:txprepare", "1:txprepare", "0:txabort", "0:txprepare", "1:txprepare", "1:txcommit", "0:txcommit"]);
  assert.deepEqual(world.shards[0]!.aborted, ["r3#1"]);
  assert.deepEqual(world.shards[0]!.committed, ["r3#2"]);
  // Attempt 1's "abort" was stored before the abort was sent (so a resolver agrees), then forgotten.
  assert.deepEqual(world.forgotten, ["r3#1", "r3#2"]);
  assert.ok(world.events.some((e) => e.kind === "conflict" && e.txid === "r3#1"));
  assert.ok(world.clockMs >= limits.txConflictBackoffMs * 0.5, "backed off before the second attempt");
});

test("conflicts beyond the attempt limit give EAGAIN", async () => {
  const world = new World();
  world.shards[1]!.refusePrepare = () => Status.TXLOCKED;
  const result = await new Coordinator(world, { attemptsMax: 3 }).coordinate({ ctx: ctx("r4"), cmd: mkdir() });
  assert.deepEqual(result, { status: Status.EAGAIN });
  assert.deepEqual(world.shards[0]!.aborted, ["r4#1", "r4#2", "r4#3"]);
});

test("a commit decision left by a dead coordinator is finished and answered from the participants", async () => {
  const world = new World();
  const newInode = makeInode(slotOf(1), 5);
  // The dead coordinator prepared both and stored "commit"; its commits never arrived.
  world.shards[1]!.prepared.set("r5#1", [{ op: "node-new", spec, slot: slotOf(1), parent: 1, name: "d" }]);
  world.shards[0]!.prepared.set("r5#1", [{ op: "entry-new", cmd: mkdir() }]);
  world.decisions.set("r5#1", { decision: "commit", txid: "r5#1", participants: [1, 0], newInode, by: "coordinator" });
  const result = await new Coordinator(world).coordinate({ ctx: ctx("r5"), cmd: mkdir() });
  assert.deepEqual(result, { status: Status.OK, inode: newInode, attr: attrOf(NodeType.DIRECTORY, 0o700) });
  assert.deepEqual(world.txLog(), ["1:txcommit", "0:txcommit"]);
  assert.ok(world.events.some((e) => e.kind === "recovered" && e.txid === "r5#1"));
});

test("a retry after the commits were applied (outputs empty) is answered from the node's current attributes", async () => {
  const world = new World();
  const newInode = makeInode(slotOf(1), 6);
  world.decisions.set("r6#1", { decision: "commit", txid: "r6#1", participants: [1, 0], newInode, by: "coordinator" });
  const result = await new Coordinator(world).coordinate({ ctx: ctx("r6"), cmd: mkdir() });
  assert.deepEqual(result, { status: Status.OK, inode: newInode, attr: attrOf(NodeType.DIRECTORY) });
  assert.ok(world.sent.some((s) => s.cmd.kind === "getattr" && s.shard === 1));
});

test("an aborted earlier attempt (a participant's resolver) is skipped: the request runs as the next attempt", async () => {
  const world = new World();
  world.decisions.set("r7#1", { decision: "abort", txid: "r7#1", participants: [], by: "shard.1" });
  const result = await new Coordinator(world).coordinate({ ctx: ctx("r7"), cmd: mkdir() });
  assert.equal(result.status, Status.OK);
  assert.deepEqual(world.shards[0]!.committed, ["r7#2"]);
});

test("a participant's abort stored before our commit wins: everything is aborted and the request retried", async () => {
  const world = new World();
  let raced = false;
  world.beforeDecide = (decision) => {
    if (raced || decision.decision !== "commit") return;
    raced = true;
    world.decisions.set(decision.txid, { decision: "abort", txid: decision.txid, participants: [], by: "shard.0" });
  };
  const result = await new Coordinator(world).coordinate({ ctx: ctx("r8"), cmd: mkdir() });
  assert.equal(result.status, Status.OK);
  assert.deepEqual(world.shards[0]!.aborted, ["r8#1"]);
  assert.deepEqual(world.shards[1]!.aborted, ["r8#1"]);
  assert.deepEqual(world.shards[0]!.committed, ["r8#2"]);
});

test("a participant unreachable for a while gets its commit once it is back", async () => {
  const world = new World();
  world.shards[0]!.refusePrepare = (_parts, txid) => {
    // Shard 0 loses its leader right after preparing: the first commits do not reach it.
    if (txid === "r9#1") world.shards[0]!.unreachableCalls = 3;
    return null;
  };
  const result = await new Coordinator(world).coordinate({ ctx: ctx("r9"), cmd: mkdir() });
  assert.equal(result.status, Status.OK);
  assert.deepEqual(world.shards[0]!.committed, ["r9#1"]);
  assert.deepEqual(world.forgotten, ["r9#1"]);
});

test("a participant unreachable beyond the patience: the decision stays for its resolver", async () => {
  const world = new World();
  world.shards[0]!.refusePrepare = () => {
    world.shards[0]!.unreachableCalls = 1_000_000;
    return null;
  };
  const result = await new Coordinator(world, { commitPatienceMs: 2_000 }).coordinate({ ctx: ctx("r10"), cmd: mkdir() });
  // The node exists (its shard committed and answered), so the client gets its answer.
  assert.equal(result.status, Status.OK);
  assert.equal(world.decisions.get("r10#1")?.decision, "commit");
  assert.deepEqual(world.forgotten, []);
  assert.ok(world.events.some((e) => e.kind === "participant-unreached" && e.shard === 0 && e.phase === "commit"));
});

test("a prepare without an answer counts as possibly prepared: it is aborted after the abort is stored", async () => {
  const world = new World();
  world.shards[1]!.unreachableCalls = 1;
  let refusals = 1;
  world.shards[0]!.refusePrepare = (parts) => (parts[0]?.op === "entry-new" || refusals-- <= 0 ? null : Status.EACCES);
  const result = await new Coordinator(world, { commitPatienceMs: 0 }).coordinate({ ctx: ctx("r11"), cmd: mkdir() });
  // The lost prepare reply gives EAGAIN (the client retries), after aborting both participants.
  assert.deepEqual(result, { status: Status.EAGAIN });
  assert.equal(world.decisions.get("r11#1")?.decision ?? "forgotten", "forgotten");
  assert.deepEqual(world.shards[0]!.aborted, ["r11#1"]);
  assert.deepEqual(world.txLog().filter((t) => t.endsWith("txabort")).sort(), ["0:txabort", "1:txabort"]);
});

test("a prepare answer without the expected output is undone everywhere and refused", async () => {
  const world = new World();
  const shard0 = world.shards[0]!;
  const answer = shard0.answer.bind(shard0);
  shard0.answer = (cmd) => {
    const result = answer(cmd);
    // A shard that prepared but answers no spec (a protocol mismatch).
    return cmd.kind === "txprepare" ? { status: Status.OK, outputs: [] } : result;
  };
  assert.deepEqual(await new Coordinator(world).coordinate({ ctx: ctx("r14"), cmd: mkdir() }), { status: Status.EINVAL });
  assert.deepEqual(shard0.aborted, ["r14#1"]);
  assert.equal(shard0.prepared.size, 0);
});

test("duplicates of a running request share its answer; a later retry gets the remembered answer", async () => {
  const world = new World();
  const coordinator = new Coordinator(world);
  const [a, b] = await Promise.all([coordinator.coordinate({ ctx: ctx("r12"), cmd: mkdir() }), coordinator.coordinate({ ctx: ctx("r12"), cmd: mkdir() })]);
  assert.deepEqual(a, b);
  assert.equal(world.txLog().filter((t) => t.endsWith("txprepare")).length, 2);
  const later = await coordinator.coordinate({ ctx: ctx("r12"), cmd: mkdir() });
  assert.deepEqual(later, a);
  assert.equal(world.txLog().filter((t) => t.endsWith("txprepare")).length, 2);
});

test("a mkdir whose directory slot is the parent's own shard is executed there directly", async () => {
  const world = new World();
  world.directorySlot = 5;
  const result = await new Coordinator(world).coordinate({ ctx: ctx("r13"), cmd: mkdir() });
  assert.equal(result.status, Status.OK);
  assert.deepEqual(world.sent.map((s) => `${s.shard}:${s.cmd.kind}:${s.ctx.requestId}`), ["0:mkdir:r13#1/direct"]);
  // A request that is itself one of our direct executions is never made direct again (no loop).
  const again = await new Coordinator(world).coordinate({ ctx: ctx("r13#1/direct"), cmd: mkdir() });
  assert.deepEqual(again, { status: Status.EAGAIN });
});

const dirA = makeInode(slotOf(0), 10);
const fileB = makeInode(slotOf(1), 20);

test("unlink of a remote entry: entry-remove on the parent's shard, edge-remove on the node's, the entry first", async () => {
  const world = new World();
  world.shards[0]!.inspections.set(`${dirA}/f`, { status: Status.OK, node: facts(dirA, NodeType.DIRECTORY, [{ parent: 1, name: "a" }], 1), entry: { inode: fileB, type: NodeType.FILE } });
  world.shards[1]!.inspections.set(`${fileB}/`, { status: Status.OK, node: { ...facts(fileB, NodeType.FILE, [{ parent: dirA, name: "f" }]), uid: 1000 } });
  const result = await new Coordinator(world).coordinate({ ctx: ctx("u1"), cmd: { kind: "unlink", parent: dirA, name: "f" } });
  assert.deepEqual(result, { status: Status.OK, inode: fileB });
  const prepares = world.sent.filter((s) => s.cmd.kind === "txprepare").map((s) => [s.shard, (s.cmd as CommandOf<"txprepare">).parts]);
  assert.deepEqual(prepares.sort(), [
    [0, [{ op: "entry-remove", parent: dirA, name: "f", inode: fileB, kind: "unlink", nodeUid: 1000 }]],
    [1, [{ op: "edge-remove", inode: fileB, parent: dirA, name: "f", kind: "unlink", ownerUid: 1000 }]],
  ]);
  assert.deepEqual(world.txLog().filter((t) => t.endsWith("txcommit")), ["0:txcommit", "1:txcommit"]);
  assert.equal(world.decisions.size, 0);
});

test("unlink: when both participants refuse, the parent's failure is the answer (mfsmaster checks it first)", async () => {
  const world = new World();
  world.shards[0]!.inspections.set(`${dirA}/f`, { status: Status.OK, node: facts(dirA, NodeType.DIRECTORY), entry: { inode: fileB, type: NodeType.FILE } });
  world.shards[1]!.inspections.set(`${fileB}/`, { status: Status.OK, node: facts(fileB, NodeType.FILE) });
  world.shards[0]!.refusePrepare = () => Status.EACCES;
  world.shards[1]!.refusePrepare = () => Status.EPERM;
  assert.deepEqual(await new Coordinator(world).coordinate({ ctx: ctx("u2"), cmd: { kind: "unlink", parent: dirA, name: "f" } }), { status: Status.EACCES });
  // Nothing prepared anywhere: no decision needed.
  assert.equal(world.decisions.size, 0);
});

test("unlink of a name that is not there, or in something that is not a directory", async () => {
  const world = new World();
  world.shards[0]!.inspections.set(`${dirA}/f`, { status: Status.OK, node: facts(dirA, NodeType.DIRECTORY), entry: null });
  world.shards[0]!.inspections.set(`${dirA}/g`, { status: Status.OK, node: facts(dirA, NodeType.FILE), entry: null });
  const coordinator = new Coordinator(world);
  assert.deepEqual(await coordinator.coordinate({ ctx: ctx("u3"), cmd: { kind: "unlink", parent: dirA, name: "f" } }), { status: Status.ENOENT });
  assert.deepEqual(await coordinator.coordinate({ ctx: ctx("u4"), cmd: { kind: "unlink", parent: dirA, name: "g" } }), { status: Status.ENOTDIR });
  assert.deepEqual(await coordinator.coordinate({ ctx: ctx("u5"), cmd: { kind: "rmdir", parent: 77, name: "g" } }), { status: Status.ENOENT });
});

test("link across shards: the node's edge first, then the entry; the answer is the node's attributes", async () => {
  const world = new World();
  world.shards[1]!.inspections.set(`${fileB}/`, { status: Status.OK, node: facts(fileB, NodeType.FILE) });
  const result = await new Coordinator(world).coordinate({ ctx: ctx("l1"), cmd: { kind: "link", inode: fileB, parentDst: dirA, nameDst: "h" } });
  assert.deepEqual(result, { status: Status.OK, inode: fileB, attr: attrOf(NodeType.FILE, 0o600) });
  assert.deepEqual(world.txLog().filter((t) => t.endsWith("txcommit")), ["1:txcommit", "0:txcommit"]);
  const entryAdd = world.sent.find((s) => s.shard === 0 && s.cmd.kind === "txprepare")!.cmd as CommandOf<"txprepare">;
  assert.deepEqual(entryAdd.parts, [{ op: "entry-add", parent: dirA, name: "h", inode: fileB, type: NodeType.FILE, kind: "link", replace: null, replaceUid: 0 }]);
});

/** A chain root(1) → a(dirA, shard 0) → b (shard 1) → c (shard 0). */
function tree(world: World): { a: number; b: number; c: number } {
  const a = dirA;
  const b = makeInode(slotOf(1), 30);
  const c = makeInode(slotOf(0), 40);
  const set = (inode: number, info: Result, name = ""): void => void world.shards[shardOf(slotOfInode(inode))]!.inspections.set(`${inode}/${name}`, info);
  set(1, { status: Status.OK, node: facts(1, NodeType.DIRECTORY, [], 1), entry: { inode: a, type: NodeType.DIRECTORY } }, "a");
  set(1, { status: Status.OK, node: facts(1, NodeType.DIRECTORY, [], 1), entry: null }, "z");
  set(a, { status: Status.OK, node: facts(a, NodeType.DIRECTORY, [{ parent: 1, name: "a" }], 1) });
  set(a, { status: Status.OK, node: facts(a, NodeType.DIRECTORY, [{ parent: 1, name: "a" }], 1), entry: null }, "x");
  set(b, { status: Status.OK, node: facts(b, NodeType.DIRECTORY, [{ parent: a, name: "b" }], 1) });
  set(c, { status: Status.OK, node: facts(c, NodeType.DIRECTORY, [{ parent: b, name: "c" }], 0) });
  set(c, { status: Status.OK, node: facts(c, NodeType.DIRECTORY, [{ parent: b, name: "c" }], 0), entry: null }, "x");
  return { a, b, c };
}

test("moving a directory under its own subtree is EINVAL (ancestors walked across shards); elsewhere it is planned", async () => {
  const world = new World();
  const { a, c } = tree(world);
  const coordinator = new Coordinator(world);
  const intoSubtree = await coordinator.coordinate({ ctx: ctx("m1"), cmd: { kind: "rename", parentSrc: 1, nameSrc: "a", parentDst: c, nameDst: "x" } });
  assert.deepEqual(intoSubtree, { status: Status.EINVAL });
  assert.equal(world.txLog().length, 0);
  const intoItself = await coordinator.coordinate({ ctx: ctx("m2"), cmd: { kind: "rename", parentSrc: 1, nameSrc: "a", parentDst: a, nameDst: "x" } });
  assert.deepEqual(intoItself, { status: Status.EINVAL });
  const ok = await coordinator.coordinate({ ctx: ctx("m3"), cmd: { kind: "rename", parentSrc: 1, nameSrc: "a", parentDst: 1, nameDst: "z" } });
  // Same parent: a plain rename, all on shard 0 → carried out there directly.
  assert.equal(ok.status, Status.OK);
  assert.equal(world.sent.at(-1)!.cmd.kind, "rename");
});

test("an ancestry deeper than the limit is refused; within it the same move is carried out", async () => {
  const world = new World();
  const { c } = tree(world);
  const q = makeInode(slotOf(1), 50);
  world.shards[0]!.inspections.set(`1/q`, { status: Status.OK, node: facts(1, NodeType.DIRECTORY, [], 2), entry: { inode: q, type: NodeType.DIRECTORY } });
  world.shards[1]!.inspections.set(`${q}/`, { status: Status.OK, node: facts(q, NodeType.DIRECTORY, [{ parent: 1, name: "q" }]) });
  const move = { kind: "rename", parentSrc: 1, nameSrc: "q", parentDst: c, nameDst: "x" } as const;
  assert.deepEqual(await new Coordinator(world, { ancestryDepthMax: 1 }).coordinate({ ctx: ctx("m4"), cmd: move }), { status: Status.EINVAL });
  const result = await new Coordinator(world).coordinate({ ctx: ctx("m5"), cmd: move });
  assert.deepEqual(result, { status: Status.OK, inode: q, attr: attrOf(NodeType.FILE, 0o600) });
  // Entries first (source parent, target parent: both shard 0), then the moved node's shard.
  assert.deepEqual(world.txLog().filter((t) => t.endsWith("txcommit")), ["0:txcommit", "1:txcommit"]);
  const prepared = world.sent.find((s) => s.shard === 0 && s.cmd.kind === "txprepare")!.cmd as CommandOf<"txprepare">;
  assert.deepEqual(prepared.parts.map((p) => p.op), ["entry-remove", "entry-add"]);
});
