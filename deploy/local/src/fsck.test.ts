/**
 * `antler fsck` and the shard figures of `antler status` over a real nats-server, with stand-in
 * shards answering fsckdump pages (in several parts, as a big page travels) and stats requests:
 * paging and part assembly, the confirming second pass (a problem seen once is dropped, one seen
 * twice kept, a transaction prepared in both reads reported), a shard that does not answer, and
 * the answers' validation.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { connectNats, openBucket, respondInParts, type NatsConnection, type Subscription } from "@antler/io-nats";
import {
  NodeType, Status, decodeMessage, encodeMessage, nameFromText, shardMapKey, shardRequestSubject, shardStatsSubject,
  type FsckNode, type MetaRequest, type ShardStats,
} from "@antler/ops";
import { encodeShardMap } from "@antler/router-core";
import { natsServerBinary, startNatsServer, type NatsServerHandle } from "@antler/testkit";
import { FsckReadError, checkCluster, formatFsckReport, parseFsckPage } from "./fsck.ts";
import { parseShardStats, readShardStats, shardStatsRows } from "./shard-stats.ts";

const inodeOf = (slot: number, local: number): number => slot * 2 ** 20 + local;
const n = nameFromText;
/** Shard 0 owns the even slots, shard 1 the odd ones. */
const slots = Array.from({ length: 2048 }, (_, slot) => slot % 2);

/** Root on shard 0 with 5 subdirectories on shard 1 (remote entries), each holding one local file. */
function namespace(): Map<number, FsckNode[]> {
  const subdirs = Array.from({ length: 5 }, (_, index) => inodeOf(1, 10 + index));
  const root: FsckNode = {
    inode: 1, type: NodeType.DIRECTORY, parents: [], detached: false,
    entries: subdirs.map((inode, index) => ({ name: n(`d${index}`), inode, type: NodeType.DIRECTORY, remote: true })),
  };
  const shard1: FsckNode[] = [];
  subdirs.forEach((inode, index) => {
    const file = inodeOf(1, 100 + index);
    shard1.push({
      inode, type: NodeType.DIRECTORY, parents: [{ parent: 1, name: n(`d${index}`) }], detached: false,
      entries: [{ name: n("f"), inode: file, type: NodeType.FILE, remote: false }],
    });
    shard1.push({ inode: file, type: NodeType.FILE, parents: [{ parent: inode, name: n("f") }], detached: false });
  });
  shard1.sort((a, b) => a.inode - b.inode);
  return new Map([[0, [root]], [1, shard1]]);
}

interface StandIn {
  /** What the shard answers for a pass (1 or 2): its nodes, problems and prepared txids. */
  dump(pass: number): { nodes: FsckNode[]; problems: string[]; prepared: string[] };
  /** Requests seen, for assertions. */
  readonly requests: MetaRequest[];
}

let server: NatsServerHandle | undefined;
let nc: NatsConnection;
let scratch: string;
const subscriptions: Subscription[] = [];

/** Stand-in shard `shardId`: pages of at most 3 nodes, each reply cut into 300-byte parts. */
function serveShard(shardId: number, standIn: StandIn): void {
  subscriptions.push(nc.subscribe(shardRequestSubject(shardId), {
    callback: (err, msg) => {
      if (err !== null) return;
      const request = decodeMessage(msg.data) as MetaRequest;
      standIn.requests.push(request);
      const cmd = request.cmd;
      if (cmd.kind !== "fsckdump") {
        respondInParts(nc, msg, encodeMessage({ status: Status.EINVAL }), 300);
        return;
      }
      if (slots[cmd.slot] !== shardId) {
        respondInParts(nc, msg, encodeMessage({ status: Status.MOVED }), 300);
        return;
      }
      const pass = Number(/^fsck\/\d+\/(\d+)\./.exec(request.ctx.requestId ?? "")?.[1]);
      const dump = standIn.dump(pass);
      const page = dump.nodes.filter((node) => node.inode > cmd.afterInode).slice(0, Math.min(3, cmd.max));
      const more = dump.nodes.some((node) => node.inode > (page.at(-1)?.inode ?? Infinity));
      const first = cmd.afterInode === 0;
      respondInParts(nc, msg, encodeMessage({
        status: 0, nodes: page, problems: first ? dump.problems : [], prepared: first ? dump.prepared : [],
        next: more ? page.at(-1)!.inode : null,
      }), 300);
    },
  }));
}

function stopShards(): void {
  for (const subscription of subscriptions.splice(0)) subscription.unsubscribe();
}

const skip = natsServerBinary() === undefined ? "nats-server is not installed (npm run setup)" : false;

describe("fsck and shard figures over NATS", { skip }, () => {
  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), "antler-fsck-it-"));
    server = await startNatsServer({ dir: scratch });
    nc = await connectNats(server.url, "fsck-test");
    const bucket = await openBucket(nc);
    await bucket.put(shardMapKey, encodeShardMap({ version: 3, shardCount: 2, slots }));
  });

  after(async () => {
    stopShards();
    await nc?.close();
    await server?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  test("a clean namespace read in pages and parts from two shards passes in one pass", async () => {
    const nodes = namespace();
    const standIns = [0, 1].map((shardId): StandIn => ({
      dump: () => ({ nodes: nodes.get(shardId)!, problems: [], prepared: [] }), requests: [],
    }));
    standIns.forEach((standIn, shardId) => serveShard(shardId, standIn));
    try {
      const progress: string[] = [];
      const report = await checkCluster(nc, (line) => progress.push(line));
      assert.deepEqual(report.findings.problems, []);
      assert.equal(report.passes, 1);
      assert.equal(report.mapVersion, 3);
      assert.deepEqual(report.findings.shards.map((shard) => [shard.shardId, shard.nodes, shard.dirs, shard.files]), [[0, 1, 1, 0], [1, 10, 5, 5]]);
      // Shard 1: 10 nodes in pages of 3, each request naming a slot it owns and paging on.
      const asked = standIns[1]!.requests.map((request) => request.cmd.kind === "fsckdump" ? [request.cmd.slot, request.cmd.afterInode] : []);
      assert.equal(asked.length, 4);
      assert.deepEqual(asked.map(([slot]) => slot), [1, 1, 1, 1]);
      assert.equal(asked[0]![1], 0);
      assert.deepEqual(standIns[1]!.requests.map((request) => request.ctx.requestId), ["fsck/1/1.1", "fsck/1/1.2", "fsck/1/1.3", "fsck/1/1.4"]);
      assert.deepEqual(standIns[1]!.requests[0]!.ctx.uid, 0);
      assert.match(formatFsckReport(report).join("\n"), /^all +11 +6 +5 +0 +0$/m);
      assert.equal(formatFsckReport(report).at(-1), "fsck: clean");
    } finally {
      stopShards();
    }
  });

  test("a second pass keeps what both saw: lasting damage and a stuck transaction, not a passing one", { timeout: 30_000 }, async () => {
    const nodes = namespace();
    const orphan: FsckNode = { inode: inodeOf(3, 7), type: NodeType.FILE, parents: [], detached: false };
    const transient: FsckNode = { inode: inodeOf(5, 7), type: NodeType.FILE, parents: [], detached: false };
    serveShard(0, { dump: () => ({ nodes: nodes.get(0)!, problems: [], prepared: ["a#1"] }), requests: [] });
    serveShard(1, {
      dump: (pass) => ({
        nodes: [...nodes.get(1)!, orphan, ...(pass === 1 ? [transient] : [])],
        problems: ["chunk 9: 2 references, 1 counted"],
        prepared: pass === 1 ? ["b#1"] : [],
      }),
      requests: [],
    });
    try {
      const progress: string[] = [];
      const report = await checkCluster(nc, (line) => progress.push(line));
      assert.equal(report.passes, 2);
      assert.equal(report.unconfirmed, 1); // the transient orphan
      assert.deepEqual(report.findings.problems, [
        "shard 1: chunk 9: 2 references, 1 counted",
        `inode ${orphan.inode} (file): orphan, no entry names it`,
        'shard 0: transaction "a#1" still prepared after 3 s',
      ]);
      assert.deepEqual(report.findings.pending, []);
      assert.match(progress.join("\n"), /pass 1 found 3 problems and 2 prepared transactions/);
      const text = formatFsckReport(report);
      assert.equal(text.at(-1), "fsck: 3 problems");
      assert.ok(text.includes(`problem: inode ${orphan.inode} (file): orphan, no entry names it`));
    } finally {
      stopShards();
    }
  });

  test("a shard that does not answer makes the check fail as unreadable", { timeout: 30_000 }, async () => {
    serveShard(0, { dump: () => ({ nodes: namespace().get(0)!, problems: [], prepared: [] }), requests: [] });
    try {
      await assert.rejects(checkCluster(nc, () => {}), (error: unknown) =>
        error instanceof FsckReadError && /shard 1 did not answer fsckdump after 5 attempts/.test(error.message));
    } finally {
      stopShards();
    }
  });

  test("shard figures: an answering shard gives its row, a silent one dashes", async () => {
    const stats: ShardStats = {
      shardId: 0, slots: 1024, inodes: 12, dirs: 3, files: 9, opsPerSec: 2.25, forwarded: 4, preparedTxns: 1, replica: "shard-0-r1",
    };
    subscriptions.push(nc.subscribe(shardStatsSubject(0), { callback: (_err, msg) => { msg.respond(encodeMessage(stats)); } }));
    try {
      const rows = await readShardStats(nc, 2);
      assert.deepEqual(rows[0], { shardId: 0, stats });
      assert.equal(rows[1]?.stats, null);
      assert.ok((rows[1]?.error ?? "") !== "");
      assert.deepEqual(shardStatsRows(rows), [
        ["0", "1024", "12", "3", "9", "2.3", "4", "1", "shard-0-r1"],
        ["1", "-", "-", "-", "-", "-", "-", "-", "-"],
      ]);
    } finally {
      stopShards();
    }
  });
});

test("fsckdump answers are checked: failures, malformed nodes, order and paging", () => {
  const node = { inode: 5, type: NodeType.FILE, parents: [{ parent: 1, name: "a" }], detached: false };
  const ok = { status: 0, nodes: [node], problems: [], prepared: [], next: 5 };
  assert.deepEqual(parseFsckPage(ok, 0, 0).nodes, [node]);
  assert.throws(() => parseFsckPage({ status: Status.MOVED }, 2, 0), /shard 2: .*MOVED/);
  assert.throws(() => parseFsckPage({ status: Status.EACCES }, 0, 0), /EACCES/);
  assert.throws(() => parseFsckPage({ ...ok, nodes: [{ ...node, parents: [{ parent: 0, name: "a" }] }] }, 0, 0), /malformed node/);
  assert.throws(() => parseFsckPage({ ...ok, nodes: [{ ...node, entries: [{ name: "x" }] }] }, 0, 0), /malformed node/);
  assert.throws(() => parseFsckPage(ok, 0, 5), /inode 5 out of order/);
  assert.throws(() => parseFsckPage({ ...ok, next: 4 }, 0, 0), /next 4 does not move forward/);
  assert.throws(() => parseFsckPage({ ...ok, problems: [1] }, 0, 0), /problems is not a list of strings/);
  assert.throws(() => parseFsckPage("x", 0, 0), FsckReadError);
  assert.equal(parseFsckPage({ ...ok, nodes: [], next: null }, 0, 9).next, null);
});

test("stats answers are checked field by field", () => {
  const stats = { shardId: 1, slots: 1, inodes: 1, dirs: 1, files: 0, opsPerSec: 0, forwarded: 0, preparedTxns: 0, replica: "r" };
  assert.deepEqual(parseShardStats(stats, 1), stats);
  assert.equal(parseShardStats({ ...stats, inodes: "1" }, 1), "inodes is not a number");
  assert.equal(parseShardStats({ ...stats, replica: 3 }, 1), "replica is not a string");
  assert.equal(parseShardStats(stats, 2), "answered as shard 1");
  assert.equal(parseShardStats(null, 1), "answer is not an object");
});
