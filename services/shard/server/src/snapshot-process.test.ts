/**
 * The real shard process (main.ts) taking snapshots often (every 300 entries, no minimum
 * interval) while creates fly, killed with SIGKILL at the worst moments — right when a snapshot
 * starts (export and upload in flight) and right after one is stored (before the log is
 * truncated) — and restarted: every acknowledged create is still there with its inode, the
 * restart starts from a snapshot and replays only the tail after it.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { after, before, test } from "node:test";
import { connectNats, ensureShardLog, openSnapshotStore, type NatsConnection } from "@antler/io-nats";
import { startNatsServer, type NatsServerHandle } from "@antler/testkit";
import { decodeMessage, encodeMessage, nameFromText, shardRequestSubject, type Command } from "@antler/ops";

const ctx = { sessionId: 1, uid: 0, gids: [0], sesflags: 0, rootInode: 1 };
const repoRoot = new URL("../../../../", import.meta.url).pathname;

let server: NatsServerHandle;
let dir: string;
let nc: NatsConnection;
const children = new Set<ChildProcess>();
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "antler-snapshot-proc-"));
  server = await startNatsServer({ dir });
  nc = await connectNats(server.url, "snapshot-process-test");
});
after(async () => {
  for (const child of children) await kill(child, "SIGKILL");
  await nc?.close();
  await server?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

async function call(cmd: Command, timeout = 3000): Promise<{ status: number; inode?: number }> {
  const reply = await nc.request(shardRequestSubject(0), encodeMessage({ ctx, cmd }), { timeout });
  return decodeMessage(reply.data) as { status: number; inode?: number };
}

interface Shard {
  readonly child: ChildProcess;
  readonly ready: Record<string, unknown>;
  /** Resolves when a log line with this message appears for the `nth` time. */
  waitForLog(msg: string, nth: number): Promise<void>;
}

async function startShard(): Promise<Shard> {
  const child = spawn(process.execPath, ["services/shard/server/src/main.ts"], {
    cwd: repoRoot,
    env: {
      ...process.env,
      ANTLER_NATS_URL: server.url,
      ANTLER_SHARD_ID: "0",
      ANTLER_SHARD_COUNT: "1",
      ANTLER_LOG_LEVEL: "info",
      ANTLER_SNAPSHOT_ENTRIES: "300",
      ANTLER_SNAPSHOT_INTERVAL_MIN_MS: "0",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  const seen = new Map<string, number>();
  const waiters: { msg: string; nth: number; resolve: () => void }[] = [];
  createInterface({ input: child.stderr! }).on("line", (line) => {
    let msg: string;
    try {
      msg = (JSON.parse(line) as { msg: string }).msg;
    } catch {
      return;
    }
    const count = (seen.get(msg) ?? 0) + 1;
    seen.set(msg, count);
    for (const waiter of waiters) if (waiter.msg === msg && waiter.nth === count) waiter.resolve();
  });
  const lines = createInterface({ input: child.stdout! });
  const [line] = (await Promise.race([once(lines, "line"), once(child, "exit").then(() => [null])])) as [string | null];
  assert.ok(line !== null && line.startsWith("READY "), `no READY line (got ${line})`);
  return {
    child,
    ready: JSON.parse(line.slice("READY ".length)) as Record<string, unknown>,
    waitForLog: (msg, nth) => new Promise((resolve) => waiters.push({ msg, nth, resolve })),
  };
}

async function kill(child: ChildProcess, signal: NodeJS.Signals): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = once(child, "exit") as Promise<[number | null]>;
  child.kill(signal);
  return (await exited)[0];
}

/** Creates until the shard stops answering; returns the acknowledged names and inodes. */
async function createUntilDead(prefix: string, into: Map<string, number>): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (;;) {
      const name = `${prefix}-${next++}`;
      let reply;
      try {
        reply = await call({ kind: "create", parent: 1, name: nameFromText(name), mode: 0o644, umask: 0o022 }, 1000);
      } catch {
        return;
      }
      assert.equal(reply.status, 0, JSON.stringify(reply));
      into.set(name, reply.inode!);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}

test("SIGKILL while a snapshot is taken or just stored loses no acknowledged create", { timeout: 180_000 }, async () => {
  const acked = new Map<string, number>();
  const rounds: { killAt: string; nth: number }[] = [
    { killAt: "snapshot started", nth: 3 },
    { killAt: "snapshot stored", nth: 2 },
    { killAt: "snapshot started", nth: 2 },
  ];
  let shard = await startShard();
  try {
    for (const [round, { killAt, nth }] of rounds.entries()) {
      void shard.waitForLog(killAt, nth).then(() => kill(shard.child, "SIGKILL"));
      await createUntilDead(`r${round}`, acked);
      assert.notEqual(shard.child.signalCode, null, "the shard was killed");
      shard = await startShard();
      if (round > 0) assert.ok((shard.ready.snapshotSeq as number) > 0, `restart ${round} did not use a snapshot: ${JSON.stringify(shard.ready)}`);
      assert.ok((shard.ready.entriesReplayed as number) < acked.size, `replayed ${String(shard.ready.entriesReplayed)} of ${acked.size}`);
      for (const [name, inode] of acked) {
        const reply = await call({ kind: "lookup", parent: 1, name: nameFromText(name) });
        assert.equal(reply.status, 0, `acknowledged ${name} lost after round ${round}`);
        assert.equal(reply.inode, inode);
      }
    }
    const log = await ensureShardLog(nc, 0);
    const kept = await openSnapshotStore(nc).then((store) => store.list(0));
    assert.ok(kept.length >= 1 && kept.length <= 2, `${kept.length} snapshots kept`);
    assert.ok((await log.firstSeq()) > 1, "the log was truncated behind a snapshot");
    assert.ok((await log.firstSeq()) <= kept[kept.length - 1]!.lastSeq + 1, "every kept snapshot still has its tail");
    assert.equal(await kill(shard.child, "SIGTERM"), 0);
  } finally {
    await kill(shard.child, "SIGKILL");
  }
});
