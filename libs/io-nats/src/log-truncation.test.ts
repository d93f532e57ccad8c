/**
 * Truncating the shard log behind a snapshot, against a real nats-server 2.15.1: the purge keeps
 * every record from the given sequence on, the last sequence does not move, so fenced appends
 * (expected last sequence) keep working — a stale writer is still refused and the current one
 * still appends; reading from below the first kept record is a loud gap, not silent data loss.
 * Also survives a server restart (the purge is durable, the last sequence too).
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { startNatsServer, type NatsServerHandle } from "@antler/testkit";
import { connectNats, type NatsConnection } from "./connect.ts";
import { ensureShardLog } from "./jetstream-log-stream.ts";
import { FencedError, LogUnavailableError, type LogRecord } from "./log-stream.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

let server: NatsServerHandle;
let dir: string;
let nc: NatsConnection;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "antler-log-trunc-"));
  server = await startNatsServer({ dir, syncAlways: true });
  nc = await connectNats(server.url, "log-truncation-test");
});
after(async () => {
  await nc?.close();
  await server?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

test("truncation keeps the tail and the last sequence; fencing still works", async () => {
  const log = await ensureShardLog(nc, 31);
  assert.equal(await log.firstSeq(), 1, "an empty, never written log starts at 1");
  for (let i = 0; i < 10; i++) await log.append(bytes(`r${i + 1}`), i);
  await log.truncateBefore(7);
  assert.equal(await log.firstSeq(), 7);
  assert.equal(await log.lastSeq(), 10);
  const tail: LogRecord[] = [];
  assert.equal(await log.readAll(7, (r) => tail.push(r)), 10);
  assert.deepEqual(tail.map((r) => r.seq), [7, 8, 9, 10]);
  await assert.rejects(log.readAll(1, () => {}), LogUnavailableError, "reading truncated records is a gap");

  // A writer that still believes the log ends at 9 is fenced; the current one appends at 11.
  await assert.rejects(log.append(bytes("stale"), 9), FencedError);
  assert.equal(await log.append(bytes("r11"), 10), 11);

  // Truncating everything leaves an empty log whose last sequence is kept.
  await log.truncateBefore(12);
  assert.equal(await log.firstSeq(), 12);
  assert.equal(await log.lastSeq(), 11);
  assert.equal(await log.readAll(12, () => assert.fail("nothing left")), 11);
  await assert.rejects(log.append(bytes("stale"), 0), FencedError, "an empty log after a purge is not a fresh log");
  assert.equal(await log.append(bytes("r12"), 11), 12);
  assert.equal(await log.firstSeq(), 12);

  // Truncating below the first sequence changes nothing.
  await log.truncateBefore(3);
  assert.equal(await log.firstSeq(), 12);
});

test("a truncated log keeps its sequences across a server restart", async () => {
  const log = await ensureShardLog(nc, 32);
  for (let i = 0; i < 5; i++) await log.append(bytes(`r${i + 1}`), i);
  await log.truncateBefore(6);
  await nc.close();
  await server.stop();
  server = await startNatsServer({ dir, port: server.port, syncAlways: true });
  nc = await connectNats(server.url, "log-truncation-test");
  const reopened = await ensureShardLog(nc, 32);
  assert.equal(await reopened.lastSeq(), 5);
  assert.equal(await reopened.firstSeq(), 6);
  await assert.rejects(reopened.append(bytes("stale"), 4), FencedError);
  assert.equal(await reopened.append(bytes("r6"), 5), 6);
});
