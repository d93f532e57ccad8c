import assert from "node:assert/strict";
import { test } from "node:test";
import type { LeaseObservation, LeaseRecord } from "@antler/ops";
import { seededRandom } from "@antler/testkit";
import { Election, type ElectionAction, type ElectionOptions } from "./election.ts";
import { isEarlierIncarnation, leaseHolderId, leaseHolderReplica, leaseReplicaName } from "./holder.ts";

const timing = { leaseMs: 400, takeoverMs: 500, renewIntervalMs: 100 } as const;
const election = (holder: string, extra: Partial<ElectionOptions> = {}) => new Election({ holder, ...timing, ...extra });
const seen = (revision: number, record: LeaseRecord | null): LeaseObservation => ({ revision, record });
const cas = (record: LeaseRecord, expectedRevision: number): ElectionAction => ({ kind: "cas", record, expectedRevision });

/** Drives `e` to leadership on an empty key at time `at`; the lease is at revision 1. */
function leaderAt(e: Election, holder: string, at = 0): void {
  assert.deepEqual(e.onObserved(seen(0, null), at), [cas({ holder, epoch: 1, renewals: 0 }, 0)]);
  assert.deepEqual(e.onCasResult(1, at), [{ kind: "become-leader", epoch: 1 }]);
}

test("a standby claims a missing key at once and leads after the CAS", () => {
  const e = election("a/1");
  assert.deepEqual(e.tick(0), [], "nothing before the key was observed");
  leaderAt(e, "a/1", 10);
  assert.equal(e.role, "leader");
  assert.equal(e.epoch, 1);
  assert.ok(e.isLeader(10));
});

test("the leader renews every renewIntervalMs with one CAS at a time", () => {
  const e = election("a/1");
  leaderAt(e, "a/1", 0);
  assert.deepEqual(e.tick(50), []);
  assert.deepEqual(e.tick(100), [cas({ holder: "a/1", epoch: 1, renewals: 1 }, 1)]);
  assert.deepEqual(e.tick(250), [], "the first renewal is still in flight");
  assert.deepEqual(e.onCasResult(2, 160), []);
  assert.deepEqual(e.tick(199), []);
  assert.deepEqual(e.tick(200), [cas({ holder: "a/1", epoch: 1, renewals: 2 }, 2)]);
  // An answer slower than the interval is followed by the next renewal at once.
  assert.deepEqual(e.onCasResult(3, 320), [cas({ holder: "a/1", epoch: 1, renewals: 3 }, 3)]);
});

test("renewIntervalMs 0 renews on every tick", () => {
  const e = election("a/1", { renewIntervalMs: 0 });
  leaderAt(e, "a/1", 0);
  assert.deepEqual(e.tick(1), [cas({ holder: "a/1", epoch: 1, renewals: 1 }, 1)]);
});

test("the lease runs out leaseMs after the last successful renewal was sent, not answered", () => {
  const e = election("a/1");
  leaderAt(e, "a/1", 0);
  e.tick(100);
  e.onCasResult(2, 390); // sent at 100: valid until 500
  assert.ok(e.isLeader(499));
  assert.ok(!e.isLeader(500));
  e.tick(490); // renewal sent at 490, never answered
  assert.deepEqual(e.tick(499), []);
  assert.deepEqual(e.tick(500), [{ kind: "step-down", reason: "no lease renewal succeeded for 400 ms" }]);
  assert.equal(e.role, "standby");
  assert.deepEqual(e.onCasResult(3, 510), [], "a renewal answered after the step-down changes nothing");
  assert.equal(e.role, "standby");
});

test("a renewal that finds the revision moved steps down at once", () => {
  const e = election("a/1");
  leaderAt(e, "a/1", 0);
  e.tick(100);
  assert.deepEqual(e.onCasResult(null, 101), [{ kind: "step-down", reason: "the lease revision moved under a renewal" }]);
  assert.ok(!e.isLeader(101));
});

test("a leader that sees another holder's newer record steps down; older records are ignored", () => {
  const e = election("a/1");
  leaderAt(e, "a/1", 0);
  e.tick(100);
  e.onCasResult(5, 100);
  assert.deepEqual(e.onObserved(seen(4, { holder: "b/1", epoch: 2, renewals: 0 }), 120), [], "older than our revision");
  assert.deepEqual(e.onObserved(seen(6, { holder: "b/1", epoch: 2, renewals: 0 }), 130), [{ kind: "step-down", reason: 'the lease passed to "b/1" (epoch 2)' }]);
  assert.deepEqual(e.onObserved(seen(7, null), 140), [cas({ holder: "a/1", epoch: 3, renewals: 0 }, 7)], "a deleted key is claimed, with a higher epoch");
});

test("a standby claims only after takeoverMs without a change, and every change restarts the wait", () => {
  const e = election("b/1");
  const held = (revision: number, renewals: number) => seen(revision, { holder: "a/1", epoch: 3, renewals });
  assert.deepEqual(e.onObserved(held(10, 7), 0), []);
  assert.deepEqual(e.tick(499), []);
  assert.deepEqual(e.onObserved(held(11, 8), 499), []);
  assert.deepEqual(e.onObserved(held(11, 8), 700), [], "a repeated revision is no change, and no claim yet");
  assert.deepEqual(e.tick(998), []);
  assert.deepEqual(e.tick(999), [cas({ holder: "b/1", epoch: 4, renewals: 0 }, 11)]);
  assert.deepEqual(e.tick(1200), [], "one CAS at a time");
  assert.deepEqual(e.onCasResult(12, 1001), [{ kind: "become-leader", epoch: 4 }]);
});

test("a released key or one held by an earlier incarnation of ourselves is claimed at once", () => {
  const released = election("b/1");
  assert.deepEqual(released.onObserved(seen(3, { holder: "", epoch: 2, renewals: 9 }), 0), [cas({ holder: "b/1", epoch: 3, renewals: 0 }, 3)]);
  const restarted = election("s0.r1/p2", { inheritsFrom: (holder) => isEarlierIncarnation("s0.r1/p2", holder) });
  assert.deepEqual(restarted.onObserved(seen(3, { holder: "s0.r1/p1", epoch: 2, renewals: 9 }), 0), [cas({ holder: "s0.r1/p2", epoch: 3, renewals: 0 }, 3)]);
  const other = election("s0.r2/p1", { inheritsFrom: (holder) => isEarlierIncarnation("s0.r2/p1", holder) });
  assert.deepEqual(other.onObserved(seen(3, { holder: "s0.r1/p1", epoch: 2, renewals: 9 }), 0), [], "another replica's lease is not inherited");
  const earlier = election("s0.r1/p1", { inheritsFrom: (holder) => isEarlierIncarnation("s0.r1/p1", holder) });
  assert.deepEqual(earlier.onObserved(seen(4, { holder: "s0.r1/p2", epoch: 3, renewals: 0 }), 0), [], "a later incarnation's lease is not taken back");
});

test("incarnations order by length, then characters: two live processes of one replica never take turns", () => {
  assert.equal(isEarlierIncarnation("s0.r1/10", "s0.r1/9"), true);
  assert.equal(isEarlierIncarnation("s0.r1/9", "s0.r1/10"), false);
  assert.equal(isEarlierIncarnation("s0.r1/b", "s0.r1/a"), true);
  assert.equal(isEarlierIncarnation("s0.r1/a", "s0.r1/b"), false);
  assert.equal(isEarlierIncarnation("s0.r1/a", "s0.r1/a"), false);
});

test("a lost race leaves the standby waiting for the winner's record", () => {
  const e = election("b/1");
  e.onObserved(seen(3, { holder: "", epoch: 2, renewals: 1 }), 0);
  assert.deepEqual(e.onCasResult(null, 1), []);
  assert.equal(e.role, "standby");
  assert.deepEqual(e.onObserved(seen(4, { holder: "c/1", epoch: 3, renewals: 0 }), 2), []);
  assert.deepEqual(e.tick(501), []);
  assert.deepEqual(e.tick(502), [cas({ holder: "b/1", epoch: 4, renewals: 0 }, 4)]);
});

test("a claim answered after the lease it grants ran out is not used", () => {
  const e = election("b/1");
  e.onObserved(seen(0, null), 0);
  assert.deepEqual(e.onCasResult(1, 400), []);
  assert.equal(e.role, "standby");
  // Our stale record is then judged like anyone's and claimed again after takeoverMs.
  assert.deepEqual(e.tick(899), []);
  assert.deepEqual(e.tick(900), [cas({ holder: "b/1", epoch: 2, renewals: 0 }, 1)]);
});

test("a claim seen by the watch before its answer makes us leader; the late answer is ignored", () => {
  const e = election("b/1");
  e.onObserved(seen(0, null), 0);
  assert.deepEqual(e.onObserved(seen(1, { holder: "b/1", epoch: 1, renewals: 0 }), 5), [{ kind: "become-leader", epoch: 1 }]);
  assert.deepEqual(e.onCasResult(1, 6), []);
  assert.ok(e.isLeader(399));
  assert.ok(!e.isLeader(400), "the lease counts from when the claim was sent");
});

test("a claim without an answer that did happen is recognised from the watch", () => {
  const e = election("b/1");
  e.onObserved(seen(0, null), 0);
  // The claim is retried at once; if the first one landed, the retry finds the revision moved.
  assert.deepEqual(e.onCasError(300), [cas({ holder: "b/1", epoch: 1, renewals: 0 }, 0)]);
  assert.deepEqual(e.onCasResult(null, 305), []);
  // The shell reads the key after an error: the first claim had landed.
  assert.deepEqual(e.onObserved(seen(1, { holder: "b/1", epoch: 1, renewals: 0 }), 310), [{ kind: "become-leader", epoch: 1 }]);
  assert.ok(!e.isLeader(400));
});

test("a retried claim still in flight when the first one shows up counts from the first send", () => {
  const e = election("b/1");
  e.onObserved(seen(0, null), 0);
  e.onCasError(300); // retried at once
  assert.deepEqual(e.onObserved(seen(1, { holder: "b/1", epoch: 1, renewals: 0 }), 310), [{ kind: "become-leader", epoch: 1 }]);
  assert.ok(!e.isLeader(400));
  assert.deepEqual(e.onCasResult(null, 311), [], "the retry's answer no longer matters");
  assert.ok(e.isLeader(311));
});

test("after a renewal without an answer, the leader renews only once an observation tells the revision", () => {
  const e = election("a/1");
  leaderAt(e, "a/1", 0);
  e.tick(100);
  assert.deepEqual(e.onCasError(150), []);
  assert.deepEqual(e.tick(300), [], "the revision is unknown");
  // The read shows the renewal did happen: its send time renews the lease.
  assert.deepEqual(e.onObserved(seen(2, { holder: "a/1", epoch: 1, renewals: 1 }), 310), []);
  assert.ok(e.isLeader(499));
  assert.deepEqual(e.tick(320), [cas({ holder: "a/1", epoch: 1, renewals: 2 }, 2)]);
});

test("a renewal without an answer that did not happen: the unchanged revision resumes renewals", () => {
  const e = election("a/1");
  leaderAt(e, "a/1", 0);
  e.tick(100);
  e.onCasError(150);
  assert.deepEqual(e.onObserved(seen(1, { holder: "a/1", epoch: 1, renewals: 0 }), 200), []);
  assert.deepEqual(e.tick(210), [cas({ holder: "a/1", epoch: 1, renewals: 1 }, 1)]);
  assert.ok(!e.isLeader(400), "the unanswered renewal did not extend the lease");
});

test("a leader's own records seen by the watch before the answer do not disturb it", () => {
  const e = election("a/1");
  leaderAt(e, "a/1", 0);
  e.tick(100);
  assert.deepEqual(e.onObserved(seen(2, { holder: "a/1", epoch: 1, renewals: 1 }), 101), []);
  assert.deepEqual(e.onCasResult(2, 102), []);
  assert.deepEqual(e.tick(200), [cas({ holder: "a/1", epoch: 1, renewals: 2 }, 2)]);
});

test("release hands the key over (holder empty, same epoch) and ends the election", () => {
  const e = election("a/1");
  leaderAt(e, "a/1", 0);
  assert.deepEqual(e.release(50), [{ kind: "step-down", reason: "released" }, cas({ holder: "", epoch: 1, renewals: 1 }, 1)]);
  assert.ok(!e.isLeader(51));
  assert.deepEqual(e.onCasResult(2, 52), []);
  assert.deepEqual(e.tick(1000), []);
  assert.deepEqual(e.onObserved(seen(2, { holder: "", epoch: 1, renewals: 1 }), 1001), [], "a released election never claims");
  assert.equal(e.role, "released");
});

test("release during a renewal waits for its answer and releases on the new revision", () => {
  const e = election("a/1");
  leaderAt(e, "a/1", 0);
  e.tick(100);
  assert.deepEqual(e.release(110), [{ kind: "step-down", reason: "released" }]);
  assert.ok(!e.isLeader(111));
  assert.deepEqual(e.tick(120), []);
  assert.deepEqual(e.onCasResult(2, 130), [cas({ holder: "", epoch: 1, renewals: 2 }, 2)]);
  assert.deepEqual(e.onCasResult(3, 131), []);
});

test("resign hands the key over but stays a standby that does not claim again for takeoverMs", () => {
  const e = election("a/1");
  leaderAt(e, "a/1", 0);
  assert.deepEqual(e.resign(50, "stalled"), [{ kind: "step-down", reason: "stalled" }, cas({ holder: "", epoch: 1, renewals: 1 }, 1)]);
  assert.equal(e.role, "standby");
  assert.ok(!e.isLeader(51));
  assert.deepEqual(e.onCasResult(2, 52), []);
  assert.deepEqual(e.onObserved(seen(2, { holder: "", epoch: 1, renewals: 1 }), 53), [], "its own hand-over is not claimed at once");
  assert.deepEqual(e.tick(549), []);
  assert.deepEqual(e.tick(550), [cas({ holder: "a/1", epoch: 2, renewals: 0 }, 2)], "alone, it takes the lease back after takeoverMs");
  assert.deepEqual(e.resign(600), [], "a standby has nothing to resign");
});

test("resign during a renewal hands over on the renewal's revision; a renewal that lost hands over nothing", () => {
  const e = election("a/1");
  leaderAt(e, "a/1", 0);
  e.tick(100);
  assert.deepEqual(e.resign(110), [{ kind: "step-down", reason: "resigned" }]);
  assert.deepEqual(e.onCasResult(2, 120), [cas({ holder: "", epoch: 1, renewals: 2 }, 2)]);
  const lost = election("a/1");
  leaderAt(lost, "a/1", 0);
  lost.tick(100);
  lost.resign(110);
  assert.deepEqual(lost.onCasResult(null, 120), []);
  assert.equal(lost.role, "standby");
});

test("a standby's release just stops it", () => {
  const e = election("b/1");
  e.onObserved(seen(1, { holder: "a/1", epoch: 1, renewals: 0 }), 0);
  assert.deepEqual(e.release(1), []);
  assert.deepEqual(e.tick(10_000), []);
});

test("options are validated", () => {
  assert.throws(() => new Election({ holder: "", leaseMs: 1, takeoverMs: 2 }));
  assert.throws(() => new Election({ holder: "a", leaseMs: 500, takeoverMs: 500 }));
});

test("holder ids name the replica slot and the incarnation", () => {
  const holder = leaseHolderId(leaseReplicaName(3, 1), "p42");
  assert.equal(holder, "s3.r1/p42");
  assert.equal(leaseHolderReplica(holder), "s3.r1");
  assert.equal(leaseHolderReplica(""), null);
  assert.equal(leaseHolderReplica("junk"), null);
  assert.ok(isEarlierIncarnation("s3.r1/p43", holder));
  assert.ok(!isEarlierIncarnation(holder, holder));
  assert.ok(!isEarlierIncarnation("s3.r2/p43", holder));
  assert.ok(!isEarlierIncarnation("s3.r1/p43", ""));
  assert.throws(() => leaseHolderId("s0.r0", "a/b"), RangeError);
});

/**
 * Three replicas against a model KV with random delays on every message, random pauses (a frozen
 * process: no ticks, its messages wait), resignations, and crashes with restarts. Invariant: at no instant do two
 * replicas consider themselves leader (isLeader by their own, equally fast clocks). Liveness: the
 * lease is never leaderless for long while a replica runs unpaused.
 */
test("randomised: never two leaders at once, and a leader soon after any failure", () => {
  for (let seed = 1; seed <= 40; seed++) {
    const random = seededRandom(seed);
    const delay = () => Math.floor(random() * (random() < 0.05 ? 150 : 5));
    let kv: LeaseObservation = { revision: 0, record: null };
    let nextRevision = 1;
    type Replica = { election: Election; holder: string; pausedUntil: number; incarnation: number; inbox: { at: number; deliver: () => ElectionAction[] }[] };
    const makeReplica = (index: number, incarnation: number): Replica => {
      const holder = leaseHolderId(leaseReplicaName(0, index), `p${incarnation}`);
      return { election: election(holder, { inheritsFrom: (h) => isEarlierIncarnation(holder, h) }), holder, pausedUntil: 0, incarnation, inbox: [] };
    };
    const replicas = [0, 1, 2].map((i) => makeReplica(i, 1));
    const watchers: { replica: Replica; incarnation: number }[] = replicas.map((replica) => ({ replica, incarnation: replica.incarnation }));
    const broadcast = (now: number) => {
      const value = kv;
      for (const w of watchers) w.replica.inbox.push({ at: now + delay(), deliver: () => (w.replica.incarnation === w.incarnation ? w.replica.election.onObserved(value, clock) : []) });
    };
    let clock = 0;
    const perform = (replica: Replica, actions: ElectionAction[], now: number) => {
      for (const action of actions) {
        if (action.kind !== "cas") continue;
        const incarnation = replica.incarnation;
        const applyAt = now + delay();
        const lost = random() < 0.03;
        replica.inbox.push({
          at: applyAt,
          deliver: () => {
            // The CAS reaches the KV at applyAt; its answer travels back (or is lost).
            let result: number | null = null;
            if (kv.revision === action.expectedRevision) {
              kv = { revision: nextRevision++, record: action.record };
              result = kv.revision;
              broadcast(clock);
            }
            const answer = result;
            replica.inbox.push({
              at: clock + delay(),
              deliver: () => (replica.incarnation !== incarnation ? [] : lost ? replica.election.onCasError(clock) : replica.election.onCasResult(answer, clock)),
            });
            return [];
          },
        });
      }
    };
    broadcast(0);
    let leaderlessSince: number | null = 0;
    let longestLeaderless = 0;
    for (clock = 0; clock < 30_000; clock++) {
      for (const replica of replicas) {
        if (clock < replica.pausedUntil) continue;
        const due = replica.inbox.filter((m) => m.at <= clock);
        replica.inbox = replica.inbox.filter((m) => m.at > clock);
        for (const message of due) perform(replica, message.deliver(), clock);
        if (clock % 25 === 0) perform(replica, replica.election.tick(clock), clock);
      }
      // Faults, rarely: pause a replica (SIGSTOP) or crash and restart it.
      if (random() < 0.0008) {
        const victim = replicas[Math.floor(random() * 3)]!;
        victim.pausedUntil = clock + 200 + Math.floor(random() * 1500);
      } else if (random() < 0.0005) {
        // A leader that finds itself stalled resigns (hands over, stays a standby).
        const leader = replicas.find((r) => clock >= r.pausedUntil && r.election.role === "leader");
        if (leader !== undefined) perform(leader, leader.election.resign(clock), clock);
      } else if (random() < 0.0005) {
        const index = Math.floor(random() * 3);
        const old = replicas[index]!;
        const fresh = makeReplica(index, old.incarnation + 1);
        fresh.pausedUntil = clock + 100;
        replicas[index] = fresh;
        watchers.push({ replica: fresh, incarnation: fresh.incarnation });
        fresh.inbox.push({ at: clock + 100, deliver: () => fresh.election.onObserved(kv, clock) });
      }
      const leaders = replicas.filter((r) => clock >= r.pausedUntil && r.election.isLeader(clock));
      const frozenLeaders = replicas.filter((r) => clock < r.pausedUntil && r.election.isLeader(clock));
      assert.ok(leaders.length + frozenLeaders.length <= 1, `seed ${seed}: two leaders at ${clock}: ${[...leaders, ...frozenLeaders].map((r) => r.holder).join(", ")}`);
      if (leaders.length + frozenLeaders.length === 1) {
        if (leaderlessSince !== null) longestLeaderless = Math.max(longestLeaderless, clock - leaderlessSince);
        leaderlessSince = null;
      } else if (leaderlessSince === null) leaderlessSince = clock;
    }
    // A dead or paused leader is replaced after takeoverMs + a tick + message delays (≤ 150 ms each way).
    assert.ok(longestLeaderless < 2_500, `seed ${seed}: leaderless for ${longestLeaderless} ms`);
  }
});
