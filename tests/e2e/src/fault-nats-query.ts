// JetStream queries for the fault test, run inside the cluster's namespace (the cluster's NATS
// servers listen on that namespace's 127.0.0.1 only). It serves one query per line on stdin,
// answering one JSON line each on stdout, so the test starts it once and asks many times:
//
//   in:  {"id": 1, "urls": ["nats://127.0.0.1:4222", ...], "query": ["stream", "<name>"]}
//   out: {"id": 1, "result": {"leader": ..., "replicas": [...]}}
//   in:  {"id": 2, "urls": [...], "query": ["kv", "<bucket>", "<key>"]}
//   out: {"id": 2, "result": {"value": "<text>" | null}}     or {"id": n, "error": "<why>"}

import { createInterface } from "node:readline";
import { jetStreamApi, kvLatest } from "@antler/testkit";

export interface StreamPlacement {
  /** Server leading the stream's Raft group, or null during an election. */
  readonly leader: string | null;
  /** The other replicas: whether each has caught up with the leader. */
  readonly replicas: ReadonlyArray<{ readonly name: string; readonly current: boolean; readonly offline: boolean }>;
}

async function answer(urls: readonly string[], query: readonly string[]): Promise<unknown> {
  const [what, ...rest] = query;
  if (what === "stream" && rest.length === 1) {
    const info = await jetStreamApi(urls, `STREAM.INFO.${rest[0]}`);
    const cluster = (info["cluster"] ?? {}) as { leader?: string; replicas?: Array<{ name: string; current?: boolean; offline?: boolean }> };
    const placement: StreamPlacement = {
      leader: cluster.leader ?? null,
      replicas: (cluster.replicas ?? []).map((replica) => ({ name: replica.name, current: replica.current === true, offline: replica.offline === true })),
    };
    return placement;
  }
  if (what === "kv" && rest.length === 2) {
    const value = await kvLatest(urls, rest[0]!, rest[1]!);
    return { value: value === undefined ? null : value.toString("utf8") };
  }
  throw new Error(`unknown query ${JSON.stringify(query)} (stream <name> | kv <bucket> <key>)`);
}

for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === "") continue;
  let id: unknown = null;
  try {
    const request = JSON.parse(line) as { id?: unknown; urls?: string[]; query?: string[] };
    id = request.id ?? null;
    const result = await answer(request.urls ?? [], request.query ?? []);
    process.stdout.write(`${JSON.stringify({ id, result })}\n`);
  } catch (error) {
    process.stdout.write(`${JSON.stringify({ id, error: error instanceof Error ? error.message : String(error) })}\n`);
  }
}
