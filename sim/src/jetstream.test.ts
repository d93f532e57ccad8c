import { test } from "node:test";
import assert from "node:assert/strict";
import { fakeContractSubject, jetStreamContract } from "./jetstream-contract.ts";
import { FakeJetStream, duplicateWindowMs, type AppendAnswer } from "./jetstream.ts";
import { EventLoop } from "./loop.ts";
import { Prng } from "./prng.ts";

jetStreamContract("fake jetstream", async () => fakeContractSubject());

const data = (t: string): Uint8Array => new TextEncoder().encode(t);

test("fake jetstream: a lost acknowledgement is a timeout although the append happened; like nats-server, the retry is refused as a wrong sequence before the duplicate check", () => {
  const loop = new EventLoop();
  const js = new FakeJetStream(loop, Prng.fromSeed(7), {
    delayMinMs: 2,
    delayMaxMs: 2,
    answerLossProbability: 1,
    requestLossProbability: 0,
  });
  const answers: AppendAnswer[] = [];
  js.append("c", "S", data("x"), { expectedLastSeq: 0, msgId: "id-1", timeoutMs: 50 }, (a) => answers.push(a));
  loop.run();
  assert.deepEqual(answers, [{ kind: "timeout" }]);
  assert.equal(loop.nowMs, 50, "the timeout fires at the deadline");
  assert.equal(js.messages("S").length, 1, "the append took effect");

  js.setFaults({ delayMinMs: 2, delayMaxMs: 2, answerLossProbability: 0, requestLossProbability: 0 });
  js.append("c", "S", data("x"), { expectedLastSeq: 0, msgId: "id-1", timeoutMs: 50 }, (a) => answers.push(a));
  js.append("c", "S", data("x"), { expectedLastSeq: 1, msgId: "id-1", timeoutMs: 50 }, (a) => answers.push(a));
  let found: string | undefined;
  js.messageAt("c", "S", 1, 50, (a) => (found = a.kind === "ok" ? a.message?.msgId : "timeout"));
  loop.run();
  assert.deepEqual(answers.slice(1), [
    { kind: "wrong-last-sequence", lastSeq: 1 },
    { kind: "ok", seq: 1, duplicate: true },
  ]);
  assert.equal(found, "id-1", "the appender can find its own record");
});

test("fake jetstream: message ids are forgotten after the duplicate window", () => {
  const loop = new EventLoop();
  const js = new FakeJetStream(loop, Prng.fromSeed(1));
  assert.deepEqual(js.appendNow("S", data("a"), { msgId: "m" }), { kind: "ok", seq: 1, duplicate: false });
  loop.run({ deadlineMs: duplicateWindowMs + 1 });
  assert.deepEqual(js.appendNow("S", data("a"), { msgId: "m" }), { kind: "ok", seq: 2, duplicate: false });
  assert.deepEqual(js.appendNow("S", data("a"), { msgId: "m" }), { kind: "ok", seq: 2, duplicate: true });
});

test("fake jetstream: during an outage requests time out and have no effect; each callback runs once", () => {
  const loop = new EventLoop();
  const js = new FakeJetStream(loop, Prng.fromSeed(2));
  js.outage(1_000);
  const answers: string[] = [];
  js.append("c", "S", data("a"), { timeoutMs: 100 }, (a) => answers.push(a.kind));
  js.kvCreate("c", "B", "k", data("v"), 100, (a) => answers.push(a.kind));
  loop.run();
  assert.deepEqual(answers, ["timeout", "timeout"]);
  assert.equal(js.messages("S").length, 0);
  assert.equal(js.kvPeek("B", "k"), null);
  loop.run({ deadlineMs: 1_000 });
  js.append("c", "S", data("a"), { timeoutMs: 100 }, (a) => answers.push(a.kind));
  loop.run();
  assert.deepEqual(answers, ["timeout", "timeout", "ok"]);
});

test("fake jetstream: answers slower than the timeout become timeouts, never a second callback", () => {
  const loop = new EventLoop();
  const js = new FakeJetStream(loop, Prng.fromSeed(3), { delayMinMs: 30, delayMaxMs: 30, answerLossProbability: 0, requestLossProbability: 0 });
  let calls = 0;
  let last = "";
  js.lastSeq("c", "S", 40, (a) => {
    calls++;
    last = a.kind;
  });
  loop.run();
  assert.equal(calls, 1);
  assert.equal(last, "timeout");
});

test("fake jetstream: observers see every stored message in order", () => {
  const loop = new EventLoop();
  const js = new FakeJetStream(loop, Prng.fromSeed(4));
  const seen: number[] = [];
  js.onStore((_stream, m) => seen.push(m.seq));
  js.appendNow("S", data("a"), {});
  js.appendNow("S", data("b"), { expectedLastSeq: 0 }); // refused: not observed
  js.appendNow("S", data("c"), { expectedLastSeq: 1 });
  assert.deepEqual(seen, [1, 2]);
});

test("fake jetstream: a watcher cut off from the KV gets nothing, then only the newest value once it is reachable; the stream stays reachable", () => {
  const loop = new EventLoop();
  let kvCut = true;
  const js = new FakeJetStream(loop, Prng.fromSeed(3), undefined, {
    reach: (_client, service) => (service === "stream" || !kvCut ? "reachable" : "unrouted"),
    generation: () => 0,
  });
  const seen: number[] = [];
  const watch = js.kvWatch("w", "B", "lease", (e) => seen.push(e.revision));
  for (let i = 0; i < 3; i++) js.kvWriteNow("B", "lease", data(`v${i}`), i === 0 ? 0 : i);
  let appended: AppendAnswer | undefined;
  js.append("w", "S", data("x"), { expectedLastSeq: 0, timeoutMs: 100 }, (a) => (appended = a));
  loop.run({ deadlineMs: 500 });
  assert.deepEqual(seen, [], "no delivery across the cut");
  assert.deepEqual(appended, { kind: "ok", seq: 1, duplicate: false }, "the log is still reachable");
  kvCut = false;
  loop.run({ deadlineMs: 1_000 });
  assert.deepEqual(seen, [3], "the newest revision only");
  watch.stop();
  js.kvWriteNow("B", "lease", data("v3"), 3);
  loop.run({ deadlineMs: 1_500 });
  assert.deepEqual(seen, [3], "nothing after stop");
});

test("fake jetstream: a request made while disconnected is sent on reconnecting, after its caller timed out; unless its process died", () => {
  const loop = new EventLoop();
  let connected = false;
  let generation = 1;
  const js = new FakeJetStream(loop, Prng.fromSeed(4), undefined, { reach: () => (connected ? "reachable" : "disconnected"), generation: () => generation });
  const answers: AppendAnswer[] = [];
  js.append("w", "S", data("late"), { expectedLastSeq: 0, timeoutMs: 100 }, (a) => answers.push(a));
  loop.run({ deadlineMs: 500 });
  assert.deepEqual(answers, [{ kind: "timeout" }]);
  assert.equal(js.messages("S").length, 0);
  connected = true;
  loop.run({ deadlineMs: 1_000 });
  assert.deepEqual(js.messages("S").map((m) => new TextDecoder().decode(m.data)), ["late"], "stored on reconnect");
  connected = false;
  js.append("w", "S", data("dead"), { timeoutMs: 100 }, (a) => answers.push(a));
  generation = 2;
  connected = true;
  loop.run({ deadlineMs: 2_000 });
  assert.equal(js.messages("S").length, 1, "a restarted process does not send its predecessor's buffer");
});
