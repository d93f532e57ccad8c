/**
 * The 3-node JetStream cluster helper against the real nats-server: all nodes answer, an R3
 * stream gets a leader among them, a killed leader's stream elects another one, the node comes
 * back on restart and catches up, and stop() leaves no process behind.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { startNatsCluster } from "./nats-cluster.ts";
import { jetStreamApi, natsRequest, streamLeader } from "./nats-request.ts";
import { natsServerBinary } from "./processes.ts";

const dir = mkdtempSync(join(tmpdir(), "testkit-nats-cluster-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test("a 3-node cluster: R3 stream, leader failover after kill -9, restart catches up", {
  skip: natsServerBinary() === undefined ? "nats-server is not installed" : false,
  timeout: 90_000,
}, async () => {
  const cluster = await startNatsCluster({ dir, syncAlways: true });
  try {
    assert.equal(cluster.nodes.length, 3);
    assert.equal(cluster.url, cluster.urls.join(","));
    await jetStreamApi(cluster.urls, "STREAM.CREATE.T", { name: "T", subjects: ["t.>"], num_replicas: 3, storage: "file" }, 10_000);
    let leader: string | undefined;
    for (let attempt = 0; attempt < 100 && leader === undefined; attempt++) {
      leader = await streamLeader(cluster.urls, "T");
      if (leader === undefined) await sleep(100);
    }
    const leaderNode = cluster.nodes.find((node) => node.name === leader);
    assert.ok(leaderNode !== undefined, `stream leader ${leader} is one of the nodes`);
    const ack = await natsRequest(cluster.urls, "t.1", "one");
    assert.match(ack.toString(), /"seq":1/);

    const killedPid = leaderNode.pid();
    leaderNode.signal("SIGKILL");
    let next: string | undefined;
    for (let attempt = 0; attempt < 300; attempt++) {
      next = await streamLeader(cluster.urls, "T").catch(() => undefined);
      if (next !== undefined && next !== leader) break;
      await sleep(100);
    }
    assert.ok(next !== undefined && next !== leader, `a new leader was elected (was ${leader}, now ${next})`);
    assert.equal(leaderNode.pid(), undefined);
    await leaderNode.restart();
    assert.notEqual(leaderNode.pid(), killedPid);
    const info = await jetStreamApi([leaderNode.url], "STREAM.INFO.T");
    assert.equal((info["state"] as { messages: number }).messages, 1);
  } finally {
    await cluster.stop();
  }
  assert.ok(cluster.nodes.every((node) => node.pid() === undefined), "stop() killed every node");
});
