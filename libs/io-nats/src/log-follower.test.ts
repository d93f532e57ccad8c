/** Following a shard log against a real nats-server: live records in order, stop, and gaps. */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { startNatsServer, type NatsServerHandle } from "@antler/testkit";
import { connectNats, type NatsConnection } from "./connect.ts";
import { ensureShardLog } from "./jetstream-log-stream.ts";
import { followLog } from "./log-follower.ts";
import { LogUnavailableError } from "./log-stream.ts";

let server: NatsServerHandle;
let dir: string;
let nc: NatsConnection;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "antler-follow-"));
  server = await startNatsServer({ dir });
  nc = await connectNats(server.url, "follow-test");
});
after(async () => {
  await nc?.close();
  await server?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);

async function until(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

test("a follower delivers the existing records from its start, then new ones as they are appended, until stopped", async () => {
  const log = await ensureShardLog(nc, 61);
  for (let seq = 0; seq < 3; seq++) await log.append(bytes(`r${seq + 1}`), seq);
  const got: string[] = [];
  const follower = await followLog(nc, log.name, 2, (record) => got.push(`${record.seq}:${text(record.data)}`));
  await until(() => got.length === 2);
  await log.append(bytes("r4"), 3);
  await log.append(bytes("r5"), 4);
  await until(() => got.length === 4);
  assert.deepEqual(got, ["2:r2", "3:r3", "4:r4", "5:r5"]);
  assert.equal(follower.lastSeq(), 5);
  await follower.stop();
  await follower.done;
  await log.append(bytes("r6"), 5);
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(got.length, 4, "nothing after stop");
});

test("a follower that finds records purged before it read them fails with a gap", async () => {
  const log = await ensureShardLog(nc, 62);
  for (let seq = 0; seq < 4; seq++) await log.append(bytes(`r${seq + 1}`), seq);
  await log.truncateBefore(3);
  const follower = await followLog(nc, log.name, 1, () => {});
  await assert.rejects(follower.done, (err: unknown) => err instanceof LogUnavailableError && /gap: expected 1, got 3/.test(err.message));
});

test("an onRecord that throws ends the follow with its error", async () => {
  const log = await ensureShardLog(nc, 63);
  await log.append(bytes("bad"), 0);
  const follower = await followLog(nc, log.name, 1, () => {
    throw new RangeError("does not apply");
  });
  await assert.rejects(follower.done, RangeError);
});
