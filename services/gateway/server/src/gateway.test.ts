/**
 * The gateway process end to end, against real nats-server and redis-server, with a stand-in
 * shard answering on NATS (test-support/cluster.ts) and raw MooseFS frames on the client port
 * (test-support/mfs-client.ts). Covers protocol §2 (REGISTER NEWSESSION / RECONNECT) and §3.4
 * (LOOKUP), the routing headers a request carries to the router, isolation of a malformed
 * connection, session persistence across a gateway restart, and a graceful SIGTERM that still
 * answers the requests in flight.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { encodeRequest } from "@antler/mfs-wire";
import { clusterMetaIdKey, Header, Status } from "@antler/ops";
import { openBucket } from "@antler/io-nats";
import { connectRedis, sessionKey } from "@antler/io-redis";
import { freePort } from "@antler/testkit";
import { fileInode, fileName, slowName, startGatewayProcess, startTestCluster, type GatewayProcess, type TestCluster } from "./test-support/cluster.ts";
import { clientVersion, Code, frame, lookupPayload, MfsTestClient, newSessionPayload, PayloadWriter } from "./test-support/mfs-client.ts";

async function waitFor(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe("gateway process", { timeout: 120_000 }, () => {
  let cluster: TestCluster;
  let gateway: GatewayProcess;
  let metaId: bigint;

  before(async () => {
    cluster = await startTestCluster();
    gateway = await cluster.startGateway();
    const entry = await (await openBucket(cluster.nc)).get(clusterMetaIdKey);
    assert.ok(entry !== null, "the gateway stored the cluster metaid");
    metaId = BigInt(new TextDecoder().decode(entry.value));
  });
  after(async () => {
    await cluster?.stop();
  });

  function lookupsOf(sessionId: number) {
    return cluster.seen.filter((s) => s.request.ctx.sessionId === sessionId && s.request.cmd.kind === "lookup");
  }

  test("READY names the service and the bound client port", () => {
    assert.equal(gateway.ready.service, "gateway");
    assert.ok(gateway.port > 0);
  });

  test("REGISTER NEWSESSION answers 49 bytes with a persisted session and the cluster metaid", async () => {
    const client = await MfsTestClient.connect(gateway.port);
    try {
      const registered = await client.register("/mnt/one");
      assert.equal(registered.version, clientVersion);
      assert.ok(registered.sessionId > 0);
      assert.equal(registered.metaId, metaId);
      const redis = await connectRedis(cluster.redis.url);
      try {
        assert.equal(await redis.exists(sessionKey(registered.sessionId)), 1);
        assert.equal(await redis.hget(sessionKey(registered.sessionId), "gateway"), "gw-test");
      } finally {
        redis.disconnect();
      }
      const second = await MfsTestClient.connect(gateway.port);
      const other = await second.register("/mnt/two");
      second.destroy();
      assert.ok(other.sessionId > registered.sessionId, "session ids increase");
    } finally {
      client.destroy();
    }
  });

  test("LOOKUP goes to the metadata tier with routing headers and comes back by msgid", async () => {
    const client = await MfsTestClient.connect(gateway.port);
    try {
      const { sessionId } = await client.register();
      const before = cluster.seen.length;
      const found = await client.lookup(11, 1, fileName);
      assert.equal(found.status, 0);
      assert.equal(found.inode, fileInode);
      assert.equal(found.attr?.length, 36);
      const missing = await client.lookup(12, 1, "nope");
      assert.equal(missing.status, Status.ENOENT);

      const lookups = cluster.seen.slice(before).filter((s) => s.request.cmd.kind === "lookup");
      assert.equal(lookups.length, 2);
      for (const { request, headers } of lookups) {
        assert.equal(request.ctx.sessionId, sessionId);
        assert.equal(headers.get(Header.slot), "0", "the root's slot");
        assert.equal(headers.get(Header.session), String(sessionId));
        assert.ok((headers.get(Header.requestId) ?? "") !== "");
        assert.equal(headers.get(Header.requestId), request.ctx.requestId);
      }
      assert.notEqual(lookups[0]!.request.ctx.requestId, lookups[1]!.request.ctx.requestId);
    } finally {
      client.destroy();
    }
  });

  test("a malformed packet closes only its own connection", async () => {
    const good = await MfsTestClient.connect(gateway.port);
    const bad = await MfsTestClient.connect(gateway.port);
    try {
      await good.register();
      await bad.register();
      // LOOKUP whose NAME length runs past the end of the packet (protocol §1.7: close).
      bad.sendRaw(frame(Code.LOOKUP, new PayloadWriter().u32(1).u32(1).u8(200).text("x").build()));
      await Promise.race([bad.closed, new Promise((_, reject) => setTimeout(() => reject(new Error("bad connection not closed")), 5_000))]);
      const answer = await good.lookup(21, 1, fileName);
      assert.equal(answer.inode, fileInode);
      // A connection that never registered and sends a header announcing 4 GiB is closed too.
      const huge = await MfsTestClient.connect(gateway.port);
      huge.sendRaw(new PayloadWriter().u32(Code.LOOKUP).u32(0xffffffff).build());
      await Promise.race([huge.closed, new Promise((_, reject) => setTimeout(() => reject(new Error("oversized packet not refused")), 5_000))]);
      assert.equal((await good.lookup(22, 1, fileName)).inode, fileInode);
    } finally {
      good.destroy();
      bad.destroy();
    }
  });

  test("after a gateway restart, RECONNECT resumes the same session", async () => {
    const client = await MfsTestClient.connect(gateway.port);
    const { sessionId } = await client.register("/mnt/restart");
    assert.equal((await client.lookup(31, 1, fileName)).inode, fileInode);

    // A request in flight when SIGTERM arrives is still answered before the connection ends.
    client.send(Code.LOOKUP, lookupPayload(33, 1, slowName));
    await waitFor(() => cluster.seen.some((s) => s.request.cmd.kind === "lookup" && s.request.cmd.name === slowName));
    const code = await gateway.stop("SIGTERM");
    assert.equal(code, 0, "graceful stop exits 0");
    const late = await client.next();
    assert.equal(late.type, Code.LOOKUP_REPLY);
    assert.deepEqual([...late.payload], [0, 0, 0, 33, Status.ENOENT]);
    await client.closed;
    gateway = await cluster.startGateway({ port: gateway.port });

    const again = await MfsTestClient.connect(gateway.port);
    try {
      assert.equal(await again.reconnect(sessionId, metaId), Status.OK);
      const before = cluster.seen.length;
      // The same session and msgid as before the restart: the request id must still be new, or
      // a shard would take it for a retry of the old request and answer that one's result.
      assert.equal((await again.lookup(31, 1, fileName)).inode, fileInode);
      const [beforeRestart, afterRestart] = lookupsOf(sessionId).filter((s) => s.request.cmd.kind === "lookup" && s.request.cmd.name === fileName);
      assert.equal(cluster.seen.at(-1)?.request.ctx.sessionId, sessionId);
      assert.ok(cluster.seen.length > before);
      assert.ok(beforeRestart !== undefined && afterRestart !== undefined);
      assert.notEqual(afterRestart.request.ctx.requestId, beforeRestart.request.ctx.requestId);
    } finally {
      again.destroy();
    }
  });

  test("a mutation in flight when its gateway is killed keeps its request id when the mount re-sends it to the next gateway", async () => {
    const mkdirsOf = (sessionId: number) => cluster.seen.filter((s) => s.request.ctx.sessionId === sessionId && s.request.cmd.kind === "mkdir");
    const mkdir = (name: string) =>
      encodeRequest({ kind: "mkdir", msgid: 41, parent: 1, name: new TextEncoder().encode(name), mode: 0o755, umask: 0, credentials: { uid: 0, gids: [0], form: "list" }, copysgid: 0 });
    const redis = await connectRedis(cluster.redis.url);
    const client = await MfsTestClient.connect(gateway.port);
    let again: MfsTestClient | null = null;
    try {
      const { sessionId } = await client.register("/mnt/resend");
      // The stand-in shard holds this one 300 ms: the gateway dies with it in flight.
      client.sendRaw(mkdir(slowName));
      await waitFor(() => mkdirsOf(sessionId).length === 1);
      const first = mkdirsOf(sessionId)[0]!.request.ctx.requestId!;
      // Recorded in the session's hash before the call left the gateway.
      assert.equal((await redis.hget(sessionKey(sessionId), "u:41"))?.split("\n")[0], first);
      await gateway.stop("SIGKILL");
      gateway = await cluster.startGateway({ port: gateway.port });

      again = await MfsTestClient.connect(gateway.port);
      assert.equal(await again.reconnect(sessionId, metaId), Status.OK);
      // mfsmount re-sends the same bytes: the new gateway sends them with the original id, so a
      // shard that ran the first sending answers from memory instead of creating twice.
      const sentBefore = mkdirsOf(sessionId).length;
      again.sendRaw(mkdir(slowName));
      const reply = await again.next();
      assert.deepEqual([...reply.payload.subarray(0, 4)], [0, 0, 0, 41]);
      // (The gateway's own hedge after 250 ms may have sent it twice: with the same id too.)
      const resent = mkdirsOf(sessionId).slice(sentBefore).map((s) => s.request.ctx.requestId);
      assert.ok(resent.length >= 1);
      assert.deepEqual(new Set(resent), new Set([first]));
      // Once the reply has surely arrived (the connection stayed open), the record goes...
      const deadline = Date.now() + 10_000;
      while ((await redis.hexists(sessionKey(sessionId), "u:41")) === 1) {
        assert.ok(Date.now() < deadline, "the answered request's record was never cleared");
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      // ...and the thread's next request on msgid 41, even with the same content, is a new one.
      again.sendRaw(mkdir(slowName));
      await again.next();
      assert.notEqual(mkdirsOf(sessionId).at(-1)!.request.ctx.requestId, first);
    } finally {
      client.destroy();
      again?.destroy();
      redis.disconnect();
    }
  });

  test("after a restart of everything (gateway, NATS, Redis), RECONNECT still resumes", async () => {
    const client = await MfsTestClient.connect(gateway.port);
    const { sessionId } = await client.register("/mnt/cluster-restart");
    assert.equal(await gateway.stop("SIGTERM"), 0);
    await client.closed;
    await cluster.redis.restart();
    await cluster.nats.restart();
    gateway = await cluster.startGateway({ port: gateway.port });

    const again = await MfsTestClient.connect(gateway.port);
    try {
      // The metaid comes back from NATS KV unchanged, the session from Redis (AOF).
      assert.equal(await again.reconnect(sessionId, metaId), Status.OK);
      // The stand-in shard may still be reconnecting to NATS: the gateway retries until it answers.
      assert.equal((await again.lookup(51, 1, fileName)).inode, fileInode);
      const fresh = await MfsTestClient.connect(gateway.port);
      const registered = await fresh.register();
      fresh.destroy();
      assert.equal(registered.metaId, metaId);
      assert.ok(registered.sessionId > sessionId, "the id counter survived too");
    } finally {
      again.destroy();
    }
  });

  test("while Redis is down a REGISTER gets its connection closed, not a made-up session", async () => {
    await cluster.redis.pause();
    try {
      const client = await MfsTestClient.connect(gateway.port);
      client.send(Code.REGISTER, newSessionPayload("/mnt/no-redis"));
      await assert.rejects(client.next(10_000), /closed by the gateway/);
    } finally {
      await cluster.redis.resume();
    }
    const client = await MfsTestClient.connect(gateway.port);
    try {
      assert.ok((await client.register("/mnt/redis-back")).sessionId > 0);
    } finally {
      client.destroy();
    }
  });

  test("RECONNECT with an unknown session answers BADSESSIONID", async () => {
    const client = await MfsTestClient.connect(gateway.port);
    try {
      assert.equal(await client.reconnect(0x7fff0000, metaId), Status.BADSESSIONID);
    } finally {
      client.destroy();
    }
  });

  test("with tracing on, every client operation starts its own trace and carries it to the shard", async () => {
    const traced = await cluster.startGateway({ gatewayId: "gw-traced", env: { ANTLER_OTEL_EXPORTER: "memory" } });
    const client = await MfsTestClient.connect(traced.port);
    try {
      await client.register();
      const before = cluster.seen.length;
      await client.lookup(41, 1, fileName);
      await client.lookup(42, 1, fileName);
      const parents = cluster.seen.slice(before).map((s) => s.headers.get(Header.traceparent) ?? "");
      assert.equal(parents.length, 2);
      const traceIds = parents.map((p) => /^00-([0-9a-f]{32})-[0-9a-f]{16}-0[01]$/.exec(p)?.[1]);
      assert.ok(traceIds.every((id) => id !== undefined), `traceparent headers: ${parents.join(", ")}`);
      assert.notEqual(traceIds[0], traceIds[1], "one trace per operation");
    } finally {
      client.destroy();
      assert.equal(await traced.stop("SIGTERM"), 0);
    }
  });

  test("a second gateway can share the client address (SO_REUSEPORT)", async () => {
    const twin = await cluster.startGateway({ port: gateway.port, gatewayId: "gw-twin" });
    try {
      assert.equal(twin.port, gateway.port);
      const clients = await Promise.all(Array.from({ length: 8 }, () => MfsTestClient.connect(gateway.port)));
      const sessions = await Promise.all(clients.map((c) => c.register()));
      assert.equal(new Set(sessions.map((s) => s.sessionId)).size, clients.length);
      for (const c of clients) c.destroy();
    } finally {
      assert.equal(await twin.stop("SIGTERM"), 0);
    }
  });

  test("the gateway keeps answering many interleaved requests on one connection", async () => {
    const client = await MfsTestClient.connect(gateway.port);
    try {
      await client.register();
      const count = 200;
      const bytes: Uint8Array[] = [];
      for (let msgid = 1; msgid <= count; msgid++) bytes.push(frame(Code.LOOKUP, lookupPayload(msgid, 1, msgid % 2 === 0 ? fileName : "x")));
      client.sendRaw(Uint8Array.from(bytes.flatMap((b) => [...b])));
      const seen = new Set<number>();
      for (let i = 0; i < count; i++) {
        const packet = await client.next();
        assert.equal(packet.type, Code.LOOKUP_REPLY);
        const msgid = new DataView(packet.payload.buffer, packet.payload.byteOffset).getUint32(0);
        assert.equal(packet.payload.length === 5, msgid % 2 === 1, `msgid ${msgid}: ${packet.payload.length} bytes`);
        seen.add(msgid);
      }
      assert.equal(seen.size, count);
    } finally {
      client.destroy();
    }
  });
});

describe("gateway startup failures", { timeout: 60_000 }, () => {
  test("a bad configuration value exits 2 with one line naming the variable", async () => {
    const failed = startGatewayProcess({ ANTLER_NATS_URL: "nats://127.0.0.1:1", ANTLER_REDIS_URL: "redis://127.0.0.1:1", ANTLER_CLIENT_PORT: "94210" });
    await assert.rejects(failed, (err: Error) => /exited with 2/.test(err.message) && /ANTLER_CLIENT_PORT: not a TCP port/.test(err.message));
  });

  test("an exports file that does not parse exits 2 naming the file and line", async () => {
    const dir = await mkdtemp(join(tmpdir(), "antler-gateway-exports-"));
    try {
      const file = join(dir, "mfsexports.cfg");
      await writeFile(file, "* / rw,bogusoption\n");
      const failed = startGatewayProcess({ ANTLER_NATS_URL: "nats://127.0.0.1:1", ANTLER_REDIS_URL: "redis://127.0.0.1:1", ANTLER_EXPORTS_FILE: file });
      await assert.rejects(failed, (err: Error) => /exited with 2/.test(err.message) && err.message.includes(`${file}: exports line 1: unknown option bogusoption`));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("an unreachable Redis fails the start (exit 1) instead of reporting READY", async () => {
    const port = await freePort();
    const failed = startGatewayProcess({ ANTLER_NATS_URL: "nats://127.0.0.1:1", ANTLER_REDIS_URL: `redis://127.0.0.1:${port}`, ANTLER_CLIENT_PORT: "0" });
    await assert.rejects(failed, (err: Error) => /exited with 1/.test(err.message) && /startup failed: RedisConnectError/.test(err.message));
  });
});
