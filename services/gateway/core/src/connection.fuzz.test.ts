/**
 * Seeded fuzzing of a registered connection: captured client frames, truncated, mutated and split
 * at random points, with random results from the metadata tier. The connection must never throw,
 * must only produce send/close/call actions once registered, and must stay silent after closing.
 *
 * Reproduce a failure with: FUZZ_SEED=<seed> node --test src/connection.fuzz.test.ts
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { Status, type Result } from "@antler/ops";
import { Driver, options } from "./harness.test.ts";
import { seededRandom } from "@antler/testkit";

const seed = Number(process.env["FUZZ_SEED"] ?? Math.floor(Math.random() * 2 ** 31));
const rounds = Number(process.env["FUZZ_ITERATIONS"] ?? 300);

const frames = (JSON.parse(readFileSync(new URL("../../../../libs/mfs-wire/test/fixtures/captured-session.json", import.meta.url), "utf8")) as {
  frames: { dir: string; type: number; payload: string }[];
}).frames
  .filter((f) => f.dir === "c2m" && f.type !== 400)
  .map((f) => {
    const payload = Buffer.from(f.payload, "hex");
    const out = new Uint8Array(8 + payload.length);
    new DataView(out.buffer).setUint32(0, f.type);
    new DataView(out.buffer).setUint32(4, payload.length);
    out.set(payload, 8);
    return out;
  });

const statuses = [Status.OK, Status.ENOENT, Status.EAGAIN, Status.EACCES, Status.IO];

/** Chunkservers 1..3 are connected, 4..6 are not. */
const locator = (csid: number) => (csid >= 1 && csid <= 3 ? { ip: 0x0ad53200 + csid, port: 9422, version: 0x000300ea, labelMask: 0 } : undefined);

/**
 * A success for the file data commands, whose replies depend on the payload (chunkserver lists,
 * count vectors of any length); other commands get failures only.
 */
function fileDataSuccess(kind: string, rand: () => number): Result | null {
  const csids = Array.from({ length: Math.floor(rand() * 5) }, () => Math.floor(rand() * 7));
  switch (kind) {
    case "readchunk":
    case "writechunk":
      return { status: 0, length: Math.floor(rand() * 2 ** 40), chunkId: BigInt(Math.floor(rand() * 2 ** 40)), version: Math.floor(rand() * 2 ** 32), csids };
    case "checkfile":
      return { status: 0, counts: Array.from({ length: Math.floor(rand() * 15) }, () => Math.floor(rand() * 2 ** 32)) };
    case "checkchunk":
      return { status: 0, chunkId: BigInt(Math.floor(rand() * 2 ** 40)), version: 1, copies: csids.map((csid) => ({ csid, state: Math.floor(rand() * 6) })) };
    case "writechunkend":
    case "snapshot":
      return { status: 0 };
    default:
      return null;
  }
}

test(`a registered connection survives fuzzed input (seed ${seed})`, () => {
  const rand = seededRandom(seed);
  for (let round = 0; round < rounds; round++) {
    const driver = new Driver({ ...options(), chunkserverLocator: locator });
    driver.register();
    const stream: number[] = [];
    for (let i = 0; i < 20; i++) {
      const frame = Uint8Array.from(frames[Math.floor(rand() * frames.length)]!);
      if (rand() < 0.2 && frame.length > 8) frame[8 + Math.floor(rand() * (frame.length - 8))] = Math.floor(rand() * 256);
      if (rand() < 0.05) frame[4 + Math.floor(rand() * 4)] = Math.floor(rand() * 256);
      stream.push(...(rand() < 0.05 ? frame.subarray(0, Math.floor(rand() * frame.length)) : frame));
    }
    const bytes = Uint8Array.from(stream);
    try {
      for (let at = 0; at < bytes.length; ) {
        const size = 1 + Math.floor(rand() * 64);
        const actions = driver.feed(bytes.subarray(at, at + size));
        at += size;
        for (const action of actions) {
          assert.ok(["send", "close", "call", "unanswered-put", "unanswered-clear"].includes(action.kind), `seed ${seed}: unexpected ${action.kind}`);
          if (action.kind !== "call") continue;
          // Failures only, except for file data (half of the time): other success payloads are
          // covered elsewhere.
          const success = rand() < 0.5 ? fileDataSuccess(action.request.cmd.kind, rand) : null;
          const status = statuses[Math.floor(rand() * statuses.length)]!;
          driver.result(action.token, success ?? ((status === Status.OK ? { status: Status.IO } : { status }) as Result));
        }
        driver.now += Math.floor(rand() * 100);
        driver.tick();
      }
    } catch (error) {
      assert.fail(`seed ${seed}, round ${round}: ${String(error)}`);
    }
    const closedAt = driver.actions.findIndex((a) => a.kind === "close");
    if (closedAt >= 0) assert.equal(driver.actions.length, closedAt + 1, `seed ${seed}: actions after close`);
  }
});
