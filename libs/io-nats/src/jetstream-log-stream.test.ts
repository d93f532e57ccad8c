/**
 * The shard log against a real nats-server (JetStream, file store, loopback, random port):
 * sequences, fencing by expected last sequence, idempotent retries by msgId (including the retry
 * of an append whose ack was lost, which the server reports as a wrong sequence), and that
 * acknowledged records survive a crash (SIGKILL) of the server.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { shardLogStream } from "@antler/ops";
import { connectNats, type NatsConnection } from "./connect.ts";
import { ensureShardLog } from "./jetstream-log-stream.ts";
import { FencedError, type LogRecord } from "./log-stream.ts";
import { startNatsServer, type NatsServerHandle } from "@antler/testkit";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);

let server: NatsServerHandle;
let dir: string;
let nc: NatsConnection;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "antler-log-"));
  server = await startNatsServer({ dir, syncAlways: true });
  nc = await connectNats(server.url, "log-stream-test");
});
after(async () => {
  await nc?.close();
  await server?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

async function readAll(log: Awaited<ReturnType<typeof ensureShardLog>>, from = 1): Promise<LogRecord[]> {
  const records: LogRecord[] = [];
  await log.readAll(from, (r) => records.push(r));
  return records;
}

test("appends are numbered from 1 and read back in order", async () => {
  const log = await ensureShardLog(nc, 1);
  assert.equal(log.name, shardLogStream(1));
  assert.equal(await log.lastSeq(), 0);
  assert.deepEqual(await readAll(log), []);
  for (let i = 0; i < 5; i++) assert.equal(await log.append(bytes(`r${i}`), i), i + 1);
  assert.equal(await log.lastSeq(), 5);
  assert.deepEqual((await readAll(log)).map((r) => `${r.seq}:${text(r.data)}`), ["1:r0", "2:r1", "3:r2", "4:r3", "5:r4"]);
  assert.deepEqual((await readAll(log, 4)).map((r) => r.seq), [4, 5]);
  assert.equal(await log.readAll(6, () => assert.fail("nothing after the end")), 5);
  // Opening again finds the same stream.
  assert.equal(await (await ensureShardLog(nc, 1)).lastSeq(), 5);
});

test("a stale expected sequence is fenced and stores nothing", async () => {
  const log = await ensureShardLog(nc, 2);
  await log.append(bytes("a"), 0);
  await log.append(bytes("b"), 1);
  await assert.rejects(log.append(bytes("stale"), 1), (err: unknown) => err instanceof FencedError && err.expectedLastSeq === 1);
  await assert.rejects(log.append(bytes("ahead"), 5), FencedError);
  await assert.rejects(log.append(bytes("empty"), 0), FencedError);
  assert.equal(await log.lastSeq(), 2);
  assert.deepEqual((await readAll(log)).map((r) => text(r.data)), ["a", "b"]);
});

test("a retried append with the same msgId is stored once, even after its ack was lost", async () => {
  const log = await ensureShardLog(nc, 3);
  assert.equal(await log.append(bytes("x"), 0, "w1-1"), 1);
  // The writer never saw the ack and retries with the same expected sequence and id.
  assert.equal(await log.append(bytes("x"), 0, "w1-1"), 1);
  assert.equal(await log.append(bytes("y"), 1, "w1-2"), 2);
  // A different writer's id at that position is a fence, not a success.
  await assert.rejects(log.append(bytes("z"), 1, "w2-2"), FencedError);
  // Reusing an old id at a new position is refused (it would silently drop the record).
  await assert.rejects(log.append(bytes("x"), 2, "w1-1"), FencedError);
  assert.equal(await log.lastSeq(), 2);
});

test("acknowledged records survive a crash of nats-server", { timeout: 120_000 }, async () => {
  const log = await ensureShardLog(nc, 4);
  const count = 200;
  for (let i = 0; i < count; i++) await log.append(bytes(`e${i}`), i);
  // Crash: no chance to flush anything; then the same port and store again.
  process.kill(server.pid, "SIGKILL");
  await server.stop();
  server = await startNatsServer({ dir, port: server.port, syncAlways: true });
  // The client reconnects by itself; the first call may have to wait for it.
  let last = -1;
  for (let attempt = 0; attempt < 50 && last < 0; attempt++) {
    try {
      last = await log.lastSeq();
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  assert.equal(last, count);
  const records = await readAll(log);
  assert.equal(records.length, count);
  records.forEach((r, i) => {
    assert.equal(r.seq, i + 1);
    assert.equal(text(r.data), `e${i}`);
  });
  assert.equal(await log.append(bytes("after"), count), count + 1);
});

test("both readers cross batch boundaries and stop at the end seen at the start", async () => {
  const log = await ensureShardLog(nc, 5);
  const count = 50;
  for (let i = 0; i < count; i++) await log.append(bytes(String(i)), i);
  for (const reader of ["ordered", "direct"] as const) {
    const small = await ensureShardLog(nc, 5, { readBatchSize: 7, reader });
    const records = await readAll(small, 3);
    assert.deepEqual(records.map((r) => Number(text(r.data))), Array.from({ length: count - 2 }, (_, i) => i + 2), reader);
    assert.equal(await small.readAll(count + 1, () => assert.fail("past the end")), count);
    // Reading from the last record delivers exactly that one.
    let seen = 0;
    const last = await small.readAll(count, () => {
      seen++;
    });
    assert.equal(last, count);
    assert.equal(seen, 1);
  }
});
