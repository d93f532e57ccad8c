/**
 * The lease guard at the serving doors (requests in, replies out) and the watched log: a request
 * or reply meeting a run-out lease is dropped and reported; appends are passed through and their
 * outcomes reported, and refused once the log is closed.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { FencedError, type LogStream, type NatsConnection } from "@antler/io-nats";
import { leaseGuardedConnection, watchedLog } from "./lease-guard.ts";

type Callback = (err: Error | null, msg: FakeMsg) => void;
class FakeMsg {
  readonly data = new Uint8Array([1]);
  readonly replies: Uint8Array[] = [];
  respond(data: Uint8Array): boolean {
    this.replies.push(data);
    return true;
  }
}

function fakeConnection() {
  const subscriptions: { subject: string; callback: Callback }[] = [];
  const nc = {
    subscribe(subject: string, options: { callback: Callback }) {
      subscriptions.push({ subject, callback: options.callback });
      return { unsubscribe() {} };
    },
    flush: async () => "flushed",
  };
  return { nc: nc as unknown as NatsConnection, subscriptions };
}

test("requests pass while the lease holds; afterwards they are dropped and reported", () => {
  let allowed = true;
  let denied = 0;
  const { nc, subscriptions } = fakeConnection();
  const guarded = leaseGuardedConnection(nc, { allowed: () => allowed, onDenied: () => denied++ });
  const seen: FakeMsg[] = [];
  guarded.subscribe("shard.0", { callback: (_err, msg) => void seen.push(msg as unknown as FakeMsg) });
  const deliver = (msg: FakeMsg) => subscriptions[0]!.callback(null, msg);
  deliver(new FakeMsg());
  assert.equal(seen.length, 1);
  allowed = false;
  deliver(new FakeMsg());
  assert.equal(seen.length, 1, "a request after the lease ran out is not handled");
  assert.equal(denied, 1);
});

test("a reply after the lease ran out is dropped (a request taken before a pause, answered after it)", () => {
  let allowed = true;
  let denied = 0;
  const { nc, subscriptions } = fakeConnection();
  const guarded = leaseGuardedConnection(nc, { allowed: () => allowed, onDenied: () => denied++ });
  const taken: { respond(data: Uint8Array): boolean; data: Uint8Array }[] = [];
  guarded.subscribe("shard.0", { callback: (_err, msg) => void taken.push(msg as unknown as FakeMsg) });
  const raw = new FakeMsg();
  subscriptions[0]!.callback(null, raw);
  assert.deepEqual(taken[0]!.data, raw.data, "other properties pass through");
  assert.equal(taken[0]!.respond(new Uint8Array([7])), true);
  allowed = false;
  assert.equal(taken[0]!.respond(new Uint8Array([8])), false);
  assert.deepEqual(raw.replies, [new Uint8Array([7])]);
  assert.equal(denied, 1);
});

test("other connection methods pass through unchanged", async () => {
  const { nc } = fakeConnection();
  const guarded = leaseGuardedConnection(nc, { allowed: () => true, onDenied: () => {} });
  assert.equal(await guarded.flush(), "flushed");
});

test("the watched log reports outcomes and refuses appends once closed", async () => {
  let last = 0;
  const log = {
    name: "log",
    async append(_data: Uint8Array, expected: number) {
      if (expected !== last) throw new FencedError("log", expected);
      return ++last;
    },
    lastSeq: async () => last,
    readAll: async () => last,
  } satisfies LogStream;
  const events: string[] = [];
  let open = true;
  const watched = watchedLog(log, { open: () => open, onSuccess: () => events.push("ok"), onFailure: (err) => events.push((err as Error).name) });
  assert.equal(await watched.append(new Uint8Array(), 0), 1);
  await assert.rejects(watched.append(new Uint8Array(), 0), FencedError);
  assert.equal(await watched.lastSeq(), 1, "other methods pass through");
  open = false;
  await assert.rejects(watched.append(new Uint8Array(), 1), FencedError);
  assert.equal(last, 1, "a refused append never reaches the log");
  assert.deepEqual(events, ["ok", "FencedError", "FencedError"]);
});
