/**
 * The snapshot worker (a node:worker_threads thread of the shard process): a replica of the state
 * machine that applies every acknowledged log record the serving thread posts, in order, and on
 * `snapshot` exports the whole state, checksums it and stores it in the object store over its own
 * NATS connection — so the serving thread pays for none of it. Messages arrive in the order they
 * were posted, so a snapshot contains exactly the records posted before the request: its lastSeq
 * is the last record it contains. Records that arrive while a snapshot is being stored wait (the
 * export is synchronous; the upload is awaited, and records are queued meanwhile).
 */
import { parentPort, workerData } from "node:worker_threads";
import { connectNats, openSnapshotStore, sha256Hex } from "@antler/io-nats";
import { decodeBatch } from "./log-batch.ts";
import type { FromWorker, ToWorker, WorkerData } from "./snapshot-protocol.ts";
import type { ReplicaModule } from "./snapshot-replica.ts";

const port = parentPort;
if (port === null) throw new Error("snapshot-worker.ts runs only as a worker thread");
const data = workerData as WorkerData;
const module = (await import(data.replicaModule)) as ReplicaModule;
const sm = await module.createReplica(data.init);
const nc = await connectNats(data.target.natsUrl, `antler-shard-${data.init.shardId}-snapshots`);
const store = await openSnapshotStore(nc, {
  ...(data.target.bucket !== undefined ? { bucket: data.target.bucket } : {}),
  ...(data.target.replicas !== undefined ? { replicas: data.target.replicas } : {}),
  ...(data.target.maxBytes !== undefined ? { maxBytes: data.target.maxBytes } : {}),
  ...(data.target.retained !== undefined ? { retained: data.target.retained } : {}),
});
let lastSeq = -1;
let failed = false;

const send = (message: FromWorker): void => port.postMessage(message);

function fail(message: string): void {
  failed = true;
  send({ type: "failed", message });
}

async function snapshot(id: number): Promise<void> {
  if (lastSeq < 1) {
    send({ type: "storeFailed", id, message: `nothing to snapshot (replica at ${lastSeq})` });
    return;
  }
  const started = performance.now();
  const exportStartedAtMs = performance.timeOrigin + started;
  let bytes: Uint8Array;
  try {
    bytes = sm.exportState();
  } catch (err) {
    // The replica is unchanged by a failed export (e.g. a state too large for the format): this
    // snapshot fails, the replica keeps following the log.
    send({ type: "storeFailed", id, message: `export failed: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}` });
    return;
  }
  const sha256 = sha256Hex(bytes);
  const exportMs = performance.now() - started;
  const putStarted = performance.now();
  try {
    const info = await store.put(data.init.shardId, { lastSeq, formatVersion: data.target.formatVersion, bytes, sha256 });
    send({ type: "stored", id, info, exportStartedAtMs, exportMs, putMs: performance.now() - putStarted });
  } catch (err) {
    const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : "";
    send({ type: "storeFailed", id, message: `${err instanceof Error ? err.message : String(err)}${cause}` });
  }
}

function handle(message: ToWorker): Promise<void> | void {
  if (failed) return;
  try {
    switch (message.type) {
      case "load":
        if (message.bytes !== null) sm.importState(message.bytes);
        lastSeq = message.lastSeq;
        return;
      case "record":
        if (message.seq !== lastSeq + 1) return fail(`record ${message.seq} after ${lastSeq}: the replica would skip or repeat records`);
        for (const entry of decodeBatch(message.data)) sm.apply(sm.decodeEntry(entry));
        lastSeq = message.seq;
        return;
      case "snapshot":
        // lastSeq cannot move while the put is awaited: messages are handled strictly in order.
        return snapshot(message.id);
    }
  } catch (err) {
    fail(`${message.type}${message.type === "record" ? ` ${message.seq}` : ""} failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}

// Strictly one message at a time: a record posted after a snapshot request waits for the put.
let chain: Promise<void> = Promise.resolve();
port.on("message", (message: ToWorker) => {
  chain = chain.then(() => handle(message)).catch((err: unknown) => fail(`${message.type} failed: ${err instanceof Error ? err.message : String(err)}`));
});
send({ type: "ready" });
