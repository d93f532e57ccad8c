/**
 * Keepalive and timeouts (protocol §1.5): a registered mount gets a NOP (type 0, length 4, zeros)
 * when our output was idle for clientNopIdleMs; a peer silent for clientReadTimeoutMs is closed.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { limits } from "@antler/base";
import { encodeRequest } from "@antler/mfs-wire";
import { Driver, hex } from "./harness.test.ts";

test("the keepalive interval leaves the mount's 10 s silence limit far behind", () => {
  assert.ok(limits.clientNopIdleMs * 5 <= limits.clientReadTimeoutMs);
});

test("a NOP goes to a registered mount after one idle second, not before", () => {
  const driver = new Driver();
  driver.register();
  driver.now += limits.clientNopIdleMs - 1;
  assert.deepEqual(driver.tick(), []);
  driver.now += 1;
  const actions = driver.tick();
  assert.equal(actions.length, 1);
  assert.ok(actions[0]!.kind === "send");
  assert.equal(hex(actions[0]!.bytes), "00000000" + "00000004" + "00000000");
  assert.deepEqual(driver.tick(), [], "the NOP itself counts as output");
});

test("no NOP to an unregistered connection", () => {
  const driver = new Driver();
  driver.tick();
  driver.now += 5000;
  assert.deepEqual(driver.tick(), []);
});

test("a connection silent for 10 s is closed; NOPs from the mount keep it open", () => {
  const driver = new Driver();
  driver.register();
  for (let i = 0; i < 10; i++) {
    driver.now += 2000;
    driver.feed(encodeRequest({ kind: "nop", msgid: 0 }));
    driver.tick();
  }
  assert.equal(driver.closedWith, null);
  driver.now += limits.clientReadTimeoutMs;
  driver.tick();
  assert.match(driver.closedWith ?? "", /nothing read/);
  assert.deepEqual(driver.tick(), []);
});
