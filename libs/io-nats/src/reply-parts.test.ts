/**
 * Replies larger than one NATS message (reply-parts.ts) against a real nats-server with its
 * default 1 MiB max_payload: a 5 MB answer arrives whole and byte-exact through a requester on
 * another connection, small answers stay one message, and a reply whose parts never come is a
 * ReplyPartsError instead of a hang.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Header } from "@antler/ops";
import { startNatsServer, type NatsServerHandle } from "@antler/testkit";
import { connectNats, type NatsConnection } from "./connect.ts";
import { createPartsCollector, ReplyPartsError, respondInParts } from "./reply-parts.ts";
import { newHeaders } from "./rpc.ts";

let server: NatsServerHandle;
let dir: string;
let answering: NatsConnection;
let asking: NatsConnection;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "antler-parts-"));
  server = await startNatsServer({ dir });
  answering = await connectNats(server.url, "parts-answering");
  asking = await connectNats(server.url, "parts-asking");
});
after(async () => {
  await answering?.close();
  await asking?.close();
  await server?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

function payload(bytes: number): Uint8Array {
  return Uint8Array.from({ length: bytes }, (_, i) => (i * 7919) & 255);
}

test("a reply larger than max_payload arrives whole, small replies stay single", async () => {
  const sizes = new Map<string, number>([["big", 5_000_000], ["small", 1000], ["edge", 768 * 1024]]);
  const sub = answering.subscribe("test.parts", {
    callback: (_err, msg) => respondInParts(answering, msg, payload(sizes.get(new TextDecoder().decode(msg.data))!)),
  });
  await answering.flush();
  const parts = createPartsCollector(asking, "test.gw.parts");
  try {
    for (const [name, size] of sizes) {
      const partsTo = parts.nextSubject();
      const h = newHeaders();
      h.set(Header.partsTo, partsTo);
      const first = await asking.request("test.parts", new TextEncoder().encode(name), { timeout: 5000, headers: h });
      assert.equal(first.headers?.get(Header.parts) ?? "1", name === "big" ? "7" : "1");
      const whole = await parts.assemble(partsTo, first, 5000);
      assert.equal(whole.length, size);
      assert.deepEqual(new Uint8Array(whole.buffer, whole.byteOffset, whole.length), payload(size));
    }
  } finally {
    parts.close();
    sub.unsubscribe();
  }
});

test("missing parts end in ReplyPartsError, not a hang", async () => {
  const sub = answering.subscribe("test.lost", {
    callback: (_err, msg) => {
      const h = newHeaders();
      h.set(Header.parts, "3"); // claims three parts but sends none of the others
      msg.respond(Uint8Array.of(1), { headers: h });
    },
  });
  await answering.flush();
  const parts = createPartsCollector(asking, "test.gw2.parts");
  try {
    const partsTo = parts.nextSubject();
    const h = newHeaders();
    h.set(Header.partsTo, partsTo);
    const first = await asking.request("test.lost", Uint8Array.of(0), { timeout: 5000, headers: h });
    await assert.rejects(parts.assemble(partsTo, first, 200), ReplyPartsError);
  } finally {
    parts.close();
    sub.unsubscribe();
  }
});
