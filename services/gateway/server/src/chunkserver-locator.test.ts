/**
 * The chunkserver locator over a fake registry: only connected chunkservers have an address, the
 * cache follows the registry on refresh and keeps its last answer while the registry is
 * unreadable, and `resolve` reads the single record for a chunkserver the cache does not know yet.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { ChunkserverEntry } from "@antler/io-redis";
import { createLogger } from "@antler/telemetry";
import { startChunkserverLocator, type ChunkserverRegistrySource } from "./chunkserver-locator.ts";

const quietLog = createLogger("test", { level: "error", write: () => {} });

function entry(csid: number, state: ChunkserverEntry["state"]): ChunkserverEntry {
  return {
    csid,
    ip: 0x0a000000 + csid,
    port: 9422,
    version: 0x000300ea,
    timeoutSeconds: 10,
    labelMask: 4,
    space: { usedSpace: 0n, totalSpace: 0n, chunkCount: 0, toDeleteUsedSpace: 0n, toDeleteTotalSpace: 0n, toDeleteChunkCount: 0 },
    load: 0,
    hlStatus: 1,
    errorCount: 0,
    copyCount: 0,
    state,
    address: "",
    gatewayId: "gw",
    updatedMs: 0,
  };
}

test("connected chunkservers are located; the cache follows refreshes and survives outages", async () => {
  let records = [entry(1, "registered"), entry(2, "registering"), entry(3, "disconnected"), entry(4, "maintenance"), entry(5, "allocated")];
  let failing = false;
  const source: ChunkserverRegistrySource = {
    list: () => (failing ? Promise.reject(new Error("redis down")) : Promise.resolve(records)),
    get: (csid) => Promise.resolve(records.find((r) => r.csid === csid) ?? null),
  };
  const locator = startChunkserverLocator(source, quietLog, 60_000);
  try {
    assert.equal(locator.locate(1), undefined, "nothing before the first read");
    await locator.refresh();
    assert.deepEqual(locator.locate(1), { ip: 0x0a000001, port: 9422, version: 0x000300ea, labelMask: 4 });
    assert.ok(locator.locate(2) !== undefined);
    assert.deepEqual([3, 4, 5].map((csid) => locator.locate(csid)), [undefined, undefined, undefined]);

    records = [entry(1, "disconnected"), entry(6, "registered")];
    // Not yet refreshed: the cache still answers as before, resolve reads the record.
    assert.ok(locator.locate(1) !== undefined);
    assert.equal(locator.locate(6), undefined);
    assert.equal((await locator.resolve(6))?.ip, 0x0a000006);
    assert.equal(await locator.resolve(7), undefined);
    await locator.refresh();
    assert.equal(locator.locate(1), undefined);
    assert.equal(locator.locate(2), undefined, "gone from the registry");
    assert.ok(locator.locate(6) !== undefined);

    failing = true;
    await locator.refresh();
    assert.ok(locator.locate(6) !== undefined, "the last answer stays while the registry is unreadable");
  } finally {
    locator.stop();
  }
});
