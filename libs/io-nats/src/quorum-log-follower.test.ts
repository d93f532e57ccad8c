/**
 * Following a quorum journal against three real nats-servers: records arrive once and in order
 * while the writer appends, through the SIGKILL of one server; a failure of the callback and a
 * truncated start end the follow with that error.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { LogUnavailableError, type LogRecord } from "./log-stream.ts";
import { followQuorumLog } from "./quorum-log-follower.ts";
import { LogTruncatedError, openQuorumLogStream, type QuorumLogStream } from "./quorum-log-stream.ts";
import { Trio } from "./quorum-test-servers.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let root: string;
const trio = new Trio();
const opened: QuorumLogStream[] = [];
let nextShard = 700;

before(async () => {
  root = await mkdtemp(join(tmpdir(), "antler-quorum-follow-"));
  await trio.start(root);
});
after(async () => {
  for (const log of opened) log.close();
  await trio.stop();
  if (root !== undefined) await rm(root, { recursive: true, force: true });
});

async function openLog(shardId: number): Promise<QuorumLogStream> {
  const log = await openQuorumLogStream(trio.connections, shardId, { replicaTimeoutMs: 1_000 });
  opened.push(log);
  return log;
}

/** Appends like a shard leader: an unreachable log is retried with the same msg id. */
async function append(log: QuorumLogStream, text: string, expected: number): Promise<number> {
  const deadline = performance.now() + 10_000;
  for (;;) {
    try {
      return await log.append(bytes(text), expected, `w:${expected + 1}`);
    } catch (err) {
      if (!(err instanceof LogUnavailableError) || performance.now() > deadline) throw err;
      await sleep(50);
    }
  }
}

async function waitFor(what: string, timeoutMs: number, check: () => boolean): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

test("a follower receives every record once and in order, through the loss of one server", { timeout: 60_000 }, async () => {
  const shard = nextShard++;
  const writer = await openLog(shard);
  for (let i = 0; i < 20; i++) await append(writer, `r${i + 1}`, i);
  const seen: LogRecord[] = [];
  const follower = followQuorumLog(await openLog(shard), 5, (record) => seen.push(record), { pollMs: 50 });
  try {
    await waitFor("the existing records", 5_000, () => seen.length === 16);
    let last = 20;
    for (let i = 0; i < 20; i++) last = await append(writer, `r${last + 1}`, last);
    await trio.kill(1);
    for (let i = 0; i < 20; i++) last = await append(writer, `r${last + 1}`, last);
    await waitFor("the records appended after the kill", 10_000, () => seen.length === last - 4);
    assert.deepEqual(seen.map((r) => r.seq), Array.from({ length: last - 4 }, (_, i) => i + 5));
    assert.deepEqual(seen.map((r) => text(r.data)), Array.from({ length: last - 4 }, (_, i) => `r${i + 5}`));
    assert.equal(follower.lastSeq(), last);
  } finally {
    await follower.stop();
    await trio.restart(1);
  }
  const before = seen.length;
  await writer.append(bytes("after stop"), follower.lastSeq(), "w:after");
  await sleep(200);
  assert.equal(seen.length, before, "nothing is delivered after stop()");
});

test("the follow ends with the callback's error, and with LogTruncatedError when its start was truncated", { timeout: 30_000 }, async () => {
  const shard = nextShard++;
  const writer = await openLog(shard);
  for (let i = 0; i < 10; i++) await writer.append(bytes(`r${i + 1}`), i);
  const failing = followQuorumLog(await openLog(shard), 1, (record) => {
    if (record.seq === 3) throw new Error("apply failed");
  });
  await assert.rejects(failing.done, /apply failed/);
  assert.equal(failing.lastSeq(), 2);
  await writer.truncateBefore(6);
  const late = followQuorumLog(await openLog(shard), 2, () => assert.fail("nothing before 6 exists"));
  await assert.rejects(late.done, LogTruncatedError);
});
