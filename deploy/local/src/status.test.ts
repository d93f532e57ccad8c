/**
 * The text of `antler status` once shard figures are added: one row per shard under its own
 * header, dashes and the reason for a shard that did not answer, and the reason when no shard
 * could be asked at all.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatStatus, type StatusView } from "./status.ts";

const running: StatusView = {
  dataDir: "/srv/a", status: "running", supervisor: { pid: 10, alive: true },
  network: { mode: "host", address: "10.213.1.1" }, clientPort: 9421, csPort: 9420,
  mountCommand: "mfsmount /mnt/antler -H 10.213.1.1 -P 9421", processes: [],
};

test("status shows each shard's figures, and dashes with the reason for a silent shard", () => {
  const text = formatStatus({
    ...running,
    shards: [
      { shardId: 0, stats: { shardId: 0, slots: 1024, inodes: 1500, dirs: 100, files: 1400, opsPerSec: 1234.4, forwarded: 7, preparedTxns: 0, replica: "shard-0-r2" } },
      { shardId: 1, stats: null, error: "503" },
    ],
  }).split("\n");
  const header = text.findIndex((line) => line.startsWith("SHARD"));
  assert.ok(header > 0, text.join("\n"));
  assert.match(text[header]!, /^SHARD +SLOTS +INODES +DIRS +FILES +OPS\/S +FORWARDED +PREPARED +LEADER$/);
  assert.match(text[header + 1]!, /^0 +1024 +1500 +100 +1400 +1234 +7 +0 +shard-0-r2$/);
  assert.match(text[header + 2]!, /^1 +- +- +- +- +- +- +- +-$/);
  assert.ok(text.includes("no answer from shard 1 (503)"), text.join("\n"));
});

test("status says why it has no shard figures", () => {
  const text = formatStatus({ ...running, shardsError: "cannot reach the cluster's NATS" });
  assert.match(text, /^shards: no live figures: cannot reach the cluster's NATS$/m);
  assert.doesNotMatch(text, /^SHARD /m);
});
