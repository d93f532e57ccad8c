/**
 * The STATFS space cache: the registry's sum becomes total/avail/free as mfsmaster computes them,
 * is re-read periodically, and a failing registry keeps the last known value (reported once).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { ClusterSpace } from "@antler/io-redis";
import { createLogger } from "@antler/telemetry";
import { startClusterSpaceCache, statfsSpaceOf } from "./cluster-space.ts";

test("free = total − used, avail = free, never negative", () => {
  assert.deepEqual(statfsSpaceOf({ totalSpace: 100n, usedSpace: 30n, chunkservers: 2 }), { totalSpace: 100n, availSpace: 70n, freeSpace: 70n });
  assert.deepEqual(statfsSpaceOf({ totalSpace: 10n, usedSpace: 30n, chunkservers: 1 }), { totalSpace: 10n, availSpace: 0n, freeSpace: 0n });
});

test("the cache follows the registry and keeps the last value while it fails", async () => {
  const lines: string[] = [];
  const log = createLogger("test", { level: "info", write: (line) => lines.push(line) });
  let next: ClusterSpace | Error = { totalSpace: 100n, usedSpace: 10n, chunkservers: 1 };
  const cache = startClusterSpaceCache({ clusterSpace: () => (next instanceof Error ? Promise.reject(next) : Promise.resolve(next)) }, log, 20);
  try {
    assert.equal(cache.current().totalSpace, 0n, "nothing known before the first read");
    await cache.refresh();
    assert.equal(cache.current().freeSpace, 90n);
    next = new Error("redis down");
    await new Promise((resolve) => setTimeout(resolve, 120));
    assert.equal(cache.current().freeSpace, 90n, "the last known value is kept");
    assert.equal(lines.filter((l) => l.includes("cannot be read")).length, 1, "the outage is reported once");
    next = { totalSpace: 200n, usedSpace: 50n, chunkservers: 2 };
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(cache.current().totalSpace, 200n, "periodic re-reads pick up changes");
    assert.equal(lines.filter((l) => l.includes("readable again")).length, 1);
  } finally {
    cache.stop();
  }
});
