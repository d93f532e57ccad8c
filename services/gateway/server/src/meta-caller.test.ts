/**
 * The retry loop of createMetaCaller against a scripted transport: what it sends (subject,
 * headers, body), that it retries timeouts and missing responders with the same request id and a
 * bounded backoff, and which status the client gets when the bound is reached. Time is real but
 * the bounds are shrunk to milliseconds.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeMessage, encodeMessage, Header, metaRequestSubject, Status, type MetaRequest } from "@antler/ops";
import { createLogger } from "@antler/telemetry";
import { createMetaCaller, type AttemptOutcome, type MetaTransport } from "./meta-caller.ts";
import { classifyRequestError } from "./nats-meta-transport.ts";

const request: MetaRequest = {
  ctx: { sessionId: 5, uid: 0, gids: [0], sesflags: 0, rootInode: 1, requestId: "boot:1" },
  cmd: { kind: "getattr", inode: (3 << 20) | 7, opened: false },
};

interface Sent {
  subject: string;
  body: unknown;
  headers: Map<string, string>;
  timeoutMs: number;
}

function scripted(outcomes: AttemptOutcome[]): { transport: MetaTransport; sent: Sent[] } {
  const sent: Sent[] = [];
  return {
    sent,
    transport: {
      async request(subject, body, headers, timeoutMs) {
        sent.push({ subject, body: decodeMessage(body), headers: new Map(headers), timeoutMs });
        return outcomes.shift() ?? { kind: "unavailable", reason: "script exhausted" };
      },
    },
  };
}

const quietLog = createLogger("test", { level: "error", write: () => {} });
const fast = { log: quietLog, attemptTimeoutMs: 50, retryTotalMs: 300, backoffMinMs: 1, backoffMaxMs: 8 };

test("one request with slot, session and request-id headers and the encoded body", async () => {
  const reply = { status: 0, attr: { type: 1 } };
  const { transport, sent } = scripted([{ kind: "reply", data: encodeMessage(reply) }]);
  const result = await createMetaCaller({ transport, ...fast }).call(request, { inode: (3 << 20) | 7 });
  assert.deepEqual(result, reply);
  assert.equal(sent.length, 1);
  assert.equal(sent[0]!.subject, metaRequestSubject);
  assert.deepEqual(sent[0]!.body, request);
  assert.equal(sent[0]!.headers.get(Header.slot), "3");
  assert.equal(sent[0]!.headers.get(Header.session), "5");
  assert.equal(sent[0]!.headers.get(Header.requestId), "boot:1");
});

test("an all-shards route is sent with slot *", async () => {
  const { transport, sent } = scripted([{ kind: "reply", data: encodeMessage({ status: 0 }) }]);
  await createMetaCaller({ transport, ...fast }).call(request, "all");
  assert.equal(sent[0]!.headers.get(Header.slot), "*");
});

test("timeouts and missing responders are retried with the same request id", async () => {
  const { transport, sent } = scripted([
    { kind: "unavailable", reason: "no responders" },
    { kind: "timeout" },
    { kind: "unavailable", reason: "no responders" },
    { kind: "reply", data: encodeMessage({ status: Status.ENOENT }) },
  ]);
  const result = await createMetaCaller({ transport, ...fast }).call(request, { inode: 1 });
  assert.deepEqual(result, { status: Status.ENOENT });
  assert.equal(sent.length, 4);
  assert.deepEqual(new Set(sent.map((s) => s.headers.get(Header.requestId))), new Set(["boot:1"]));
});

test("the bound turns endless unavailability into EAGAIN, and any timeout into IO", async () => {
  const never = scripted([]);
  const started = Date.now();
  assert.deepEqual(await createMetaCaller({ transport: never.transport, ...fast }).call(request, { inode: 1 }), { status: Status.EAGAIN });
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 250 && elapsed < 2000, `gave up after ${elapsed} ms`);
  assert.ok(never.sent.length > 5, `only ${never.sent.length} attempts`);
  // The backoff doubles to its 8 ms cap: about 300 / 8 attempts, far fewer than at 1 ms.
  assert.ok(never.sent.length < 60, `${never.sent.length} attempts`);
  assert.ok(never.sent.every((s) => s.timeoutMs <= 50 && s.timeoutMs >= 1));

  const once = scripted([{ kind: "timeout" }]);
  assert.deepEqual(await createMetaCaller({ transport: once.transport, ...fast }).call(request, { inode: 1 }), { status: Status.IO });
});

test("an undecodable reply is IO at once, without retrying", async () => {
  const { transport, sent } = scripted([{ kind: "reply", data: new TextEncoder().encode("{nope") }]);
  assert.deepEqual(await createMetaCaller({ transport, ...fast }).call(request, { inode: 1 }), { status: Status.IO });
  const notResult = scripted([{ kind: "reply", data: encodeMessage({ status: "ok" }) }]);
  assert.deepEqual(await createMetaCaller({ transport: notResult.transport, ...fast }).call(request, { inode: 1 }), { status: Status.IO });
  assert.equal(sent.length, 1);
});

test("abort ends pending retries at once", async () => {
  const { transport } = scripted([]);
  const caller = createMetaCaller({ transport, ...fast, retryTotalMs: 60_000, backoffMinMs: 1000, backoffMaxMs: 1000 });
  const pending = caller.call(request, { inode: 1 });
  setTimeout(() => caller.abort(), 20);
  const started = Date.now();
  assert.deepEqual(await pending, { status: Status.EAGAIN });
  assert.ok(Date.now() - started < 500);
});

test("nats.js errors are classified by name", () => {
  const named = (name: string, extra: object = {}) => Object.assign(new Error("x"), { name }, extra);
  assert.deepEqual(classifyRequestError(named("TimeoutError")), { kind: "timeout" });
  assert.equal(classifyRequestError(named("RequestError", { isNoResponders: () => true })).kind, "unavailable");
  assert.equal(classifyRequestError(named("RequestError", { isNoResponders: () => false })).kind, "timeout");
  assert.equal(classifyRequestError(named("ClosedConnectionError")).kind, "unavailable");
});

function percentileOf(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** A transport whose attempts are answered by `answer(attempt)` after its delay (null: never, like a dead leader). */
function timed(answer: (attempt: number) => { afterMs: number; outcome: AttemptOutcome } | null): { transport: MetaTransport; sentAt: number[] } {
  const sentAt: number[] = [];
  const started = Date.now();
  return {
    sentAt,
    transport: {
      request(_subject, _body, _headers, timeoutMs) {
        sentAt.push(Date.now() - started);
        const planned = answer(sentAt.length);
        return new Promise((resolve) => {
          if (planned === null || planned.afterMs >= timeoutMs) setTimeout(() => resolve({ kind: "timeout" }), timeoutMs);
          else setTimeout(() => resolve(planned.outcome), planned.afterMs);
        });
      },
    },
  };
}

test("an attempt lost with a dead leader is hedged long before its timeout, and the new leader's reply wins", async () => {
  // Attempt 1 reaches a leader that dies (no reply for 2 s); hedges find no responders until the
  // standby serves ~500 ms in; then a reply.
  const started = Date.now();
  const { transport, sentAt } = timed((attempt) => {
    if (attempt === 1) return null;
    return Date.now() - started < 500 ? { afterMs: 1, outcome: { kind: "unavailable", reason: "no responders" } } : { afterMs: 1, outcome: { kind: "reply", data: encodeMessage({ status: 0 }) } };
  });
  const caller = createMetaCaller({ transport, log: quietLog, attemptTimeoutMs: 2000, retryTotalMs: 10_000, backoffMinMs: 25, backoffMaxMs: 500, hedgeMs: 250 });
  assert.deepEqual(await caller.call(request, { inode: 1 }), { status: 0 });
  const elapsed = Date.now() - started;
  // Without the hedge the answer would wait for the 2 s attempt timeout. (Bounds leave room for
  // timers running late on a loaded machine.)
  assert.ok(elapsed < 1500, `answered after ${elapsed} ms (attempts at ${sentAt.join(", ")})`);
  assert.ok(sentAt[1]! >= 240 && sentAt[1]! < 700, `first hedge at ${sentAt[1]} ms`);
  // No-responder retries during the failover window stay close (backoff capped at 50 ms).
  const gaps = sentAt.slice(2).map((at, i) => at - sentAt[i + 1]!);
  assert.ok(gaps.length >= 3, `only ${gaps.length} retries`);
  assert.ok(percentileOf(gaps, 50) <= 80, `retry gaps ${gaps.join(", ")}`);
});

test("a slow reply to the first attempt still wins over its hedges; hedges double and stay bounded", async () => {
  const { transport, sentAt } = timed((attempt) => (attempt === 1 ? { afterMs: 900, outcome: { kind: "reply", data: encodeMessage({ status: 7 }) } } : null));
  const caller = createMetaCaller({ transport, log: quietLog, attemptTimeoutMs: 2000, retryTotalMs: 10_000, hedgeMs: 100 });
  assert.deepEqual(await caller.call(request, { inode: 1 }), { status: 7 });
  // Hedges at ~100 and ~300 (100 + 200) and ~700 (+400): three, not one per 100 ms.
  assert.ok(sentAt.length >= 2 && sentAt.length <= 4, `attempts at ${sentAt.join(", ")}`);
  assert.ok((sentAt[2] ?? Infinity) >= 280 && (sentAt[3] ?? Infinity) >= 680, `attempts at ${sentAt.join(", ")}`);
});

test("backoff after no responders grows beyond the failover cap only after the failover window", async () => {
  const { transport, sentAt } = timed(() => ({ afterMs: 0, outcome: { kind: "unavailable", reason: "no responders" } }));
  const caller = createMetaCaller({ transport, log: quietLog, attemptTimeoutMs: 2000, retryTotalMs: 700, backoffMinMs: 10, backoffMaxMs: 400, failoverWindowMs: 300, failoverBackoffMs: 20 });
  assert.deepEqual(await caller.call(request, { inode: 1 }), { status: Status.EAGAIN });
  const gaps = sentAt.slice(1).map((at, i) => at - sentAt[i]!);
  const early = gaps.filter((_, i) => sentAt[i + 1]! < 280);
  assert.ok(early.length >= 5 && percentileOf(early, 50) <= 45, `gaps in the window: ${early.join(", ")}`);
  assert.ok(gaps.some((gap) => gap >= 70), `gaps after it: ${gaps.join(", ")}`);
});

test("the retries end when the deadline passes between scheduling an attempt and sending it", { timeout: 10_000 }, async () => {
  // A clock that jumps 40 ms per reading: the deadline is crossed between the two.
  let clock = 0;
  const { transport, sent } = scripted([]);
  const caller = createMetaCaller({ transport, log: quietLog, attemptTimeoutMs: 50, retryTotalMs: 250, backoffMinMs: 1, backoffMaxMs: 8, nowMs: () => (clock += 40) });
  assert.deepEqual(await caller.call(request, { inode: 1 }), { status: Status.EAGAIN });
  assert.ok(sent.length >= 1 && sent.length < 10, `${sent.length} attempts`);
});

test("MOVED and TXLOCKED replies are retried with the same request id and never reach the client", async () => {
  const { transport, sent } = scripted([
    { kind: "reply", data: encodeMessage({ status: Status.MOVED }) },
    { kind: "reply", data: encodeMessage({ status: Status.TXLOCKED }) },
    { kind: "reply", data: encodeMessage({ status: Status.TXLOCKED }) },
    { kind: "reply", data: encodeMessage({ status: Status.OK, attr: { type: 2 } }) },
  ]);
  const result = await createMetaCaller({ transport, ...fast }).call(request, { inode: 1 });
  assert.deepEqual(result, { status: Status.OK, attr: { type: 2 } });
  assert.equal(sent.length, 4);
  assert.deepEqual(new Set(sent.map((s) => s.headers.get(Header.requestId))), new Set(["boot:1"]));
  assert.ok(sent.every((s) => JSON.stringify(s.body) === JSON.stringify(request)), "every attempt carries the same request");
});

test("a request that stays MOVED or TXLOCKED until the bound gets EAGAIN, retried at the failover pace", async () => {
  for (const status of [Status.MOVED, Status.TXLOCKED]) {
    const { transport, sentAt } = timed(() => ({ afterMs: 0, outcome: { kind: "reply", data: encodeMessage({ status }) } }));
    const caller = createMetaCaller({ transport, log: quietLog, attemptTimeoutMs: 200, retryTotalMs: 400, backoffMinMs: 10, backoffMaxMs: 400, failoverWindowMs: 10_000, failoverBackoffMs: 20 });
    assert.deepEqual(await caller.call(request, { inode: 1 }), { status: Status.EAGAIN }, `status ${status}`);
    // Retried, but paced by the failover backoff (20 ms), not immediately.
    assert.ok(sentAt.length >= 5 && sentAt.length <= 40, `status ${status}: ${sentAt.length} attempts at ${sentAt.join(", ")}`);
    const gaps = sentAt.slice(1).map((at, i) => at - sentAt[i]!);
    assert.ok(percentileOf(gaps, 50) >= 8, `status ${status}: gaps ${gaps.join(", ")}`);
  }
});
