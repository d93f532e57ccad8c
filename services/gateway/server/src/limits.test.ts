/**
 * How the gateway's limits (libs/base/src/limits.ts) must relate, asserted so that changing one
 * without the others fails here rather than in production.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { limits } from "@antler/base";

test("metadata request retries: backoff grows within a bound shorter than the retry budget", () => {
  assert.ok(limits.metaRequestBackoffMinMs > 0);
  assert.ok(limits.metaRequestBackoffMinMs <= limits.metaRequestBackoffMaxMs);
  assert.ok(limits.metaRequestBackoffMaxMs < limits.metaRequestRetryTotalMs);
  // At least a few attempts fit in the budget, so a restarting router/shard is waited for.
  assert.ok(limits.metaRequestAttemptTimeoutMs * 3 <= limits.metaRequestRetryTotalMs);
});

test("the shared tick is fast enough for MooseFS keepalives (NOP after 1 s idle, protocol §1.5)", () => {
  assert.ok(limits.gatewayTickMs <= 500);
});

test("one connection cannot take the whole gateway's call budget", () => {
  assert.ok(limits.connectionCallsInFlightMax < limits.gatewayCallsInFlightMax);
  // The shell stops reading before the core would have to close the connection for flooding.
  assert.ok(limits.connectionCallsInFlightMax < limits.clientRequestsInFlightMax);
  assert.ok(limits.connectionWriteBufferBytesMax > 0);
});

test("liveness and session keys are refreshed well before they expire", () => {
  assert.ok(limits.gatewayLivenessTtlMs >= 2 * limits.gatewayLivenessIntervalMs);
  assert.ok(limits.sessionTouchIntervalMs * 10 <= limits.sessionSustainSeconds * 1000);
});
