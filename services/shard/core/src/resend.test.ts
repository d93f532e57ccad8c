import { test } from "node:test";
import assert from "node:assert/strict";
import { Status, nameFromText, type Ctx } from "@antler/ops";
import { Harness, rootCtx, server } from "./test-kit.ts";

const create = { kind: "create", parent: 1, name: nameFromText("f"), mode: 0o644, umask: 0 } as const;

test("a re-sent packet with the same content gets the remembered result without running again", () => {
  const h = new Harness();
  const first = h.exec(create, { ...rootCtx, requestId: "a", resendKey: "1:77" });
  assert.equal(first.entry?.resend?.key, "1:77");
  const resent: Ctx = { ...rootCtx, requestId: "b", resendKey: "1:77", maybeResend: true };
  const again = h.exec(create, resent);
  assert.equal(again.entry, null);
  assert.deepEqual(again.result, first.result);
  // Without the mark the command runs (and fails: the name exists).
  assert.equal(h.status(create, { ...rootCtx, requestId: "c", resendKey: "1:77" }), Status.EEXIST);
  // Another content under the same key runs too.
  assert.equal(h.status({ ...create, mode: 0o600 }, { ...resent, requestId: "d" }), Status.EEXIST);
  // Replicas learn the memory from the entries.
  const replica = h.replayed();
  assert.deepEqual(replica.execute(create, { ...resent, requestId: "e" }, h.nowMs + 1000).result, first.result);
  assert.deepEqual(replica.exportState(), h.m.exportState());
});

test("a re-sent WRITE_CHUNK is answered from memory once its chunk work finished", () => {
  const h = new Harness();
  h.m.observeChunkservers([server(1)]);
  const file = h.create(1, "f");
  const cmd = { kind: "writechunk", inode: file, index: 0, flags: 0 } as const;
  const first = h.exec(cmd, { ...rootCtx, requestId: "w1", resendKey: "1:9" });
  const answer = h.finish(first.chunkWork).result;
  const again = h.exec(cmd, { ...rootCtx, requestId: "w2", resendKey: "1:9", maybeResend: true });
  assert.equal(again.chunkWork, undefined);
  assert.deepEqual(again.result, answer);
});

test("malformed resend fields are EINVAL", () => {
  const h = new Harness();
  assert.equal(h.status(create, { ...rootCtx, resendKey: 5 } as unknown as Ctx), Status.EINVAL);
  assert.equal(h.status(create, { ...rootCtx, maybeResend: "yes" } as unknown as Ctx), Status.EINVAL);
});
