/**
 * Scripted scenarios on the simulation harness (style §2.5), named after what happens. Each runs
 * with random faults off, so the scripted fault is the only one; the checkers run as always.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { reliableJetStream } from "./jetstream.ts";
import { runSimulation, type SimulationOptions, type SimulationResult, type World } from "./simulation.ts";
import { variants } from "./variants.ts";

function scenario(script: (world: World) => void, extra: Partial<SimulationOptions> = {}): SimulationResult {
  return runSimulation({
    seed: 5,
    steps: 3_000,
    trailLines: 10_000,
    swarm: {
      replicas: 3,
      clients: 3,
      gateways: 1,
      threads: 2,
      faultMeanIntervalMs: Infinity,
      clockDriftMax: 0.02,
      network: { delayMinMs: 1, delayMaxMs: 5, lossProbability: 0, duplicateProbability: 0 },
      jetstream: { ...reliableJetStream, delayMaxMs: 3 },
    },
    script,
    ...extra,
  });
}

const at = (world: World, ms: number, label: string, run: () => void): void => {
  world.loop.after(ms, label, run);
};

function leaders(result: SimulationResult): string[] {
  return result.trail.filter((line) => / leads epoch /.test(line));
}

test("shard: leader paused past its lease (a standby takes over, the old leader steps down when it wakes)", () => {
  // Paused between two appends, so that it wakes up to the requests that queued meanwhile.
  const pauseLeader = (world: World): void => {
    const whenIdle = (): void => {
      const leader = world.leader();
      if (leader === undefined || leader.driver!.inFlight !== null) {
        at(world, 1, "wait for an idle leader", whenIdle);
        return;
      }
      world.history.note(`script: pausing ${leader.id}`);
      leader.pause(3_000);
    };
    at(world, 2_000, "wait for an idle leader", whenIdle);
  };
  const result = scenario(pauseLeader);
  assert.equal(result.failure, null);
  assert.ok(leaders(result).length >= 2, "a standby took over during the pause");
  assert.ok(result.trail.some((line) => /stepped down/.test(line)), "the old leader stepped down when it woke up");
});

test("shard: leader cut from JetStream (lease expires, a standby takes over; clients still reach the old leader)", () => {
  const result = scenario((world) =>
    at(world, 3_000, "cut the leader from JetStream", () => {
      const leader = world.leader()!;
      world.history.note(`script: cutting ${leader.id} from JetStream`);
      world.network.partition([leader.id], ["nats"]);
      at(world, 4_000, "heal", () => world.network.heal());
    }),
  );
  assert.equal(result.failure, null);
  assert.ok(leaders(result).length >= 2);
  assert.ok(result.trail.some((line) => /exits: lease/.test(line)), "the old leader ended itself when its lease ran out");
});

test("shard: every replica crashes at once and restarts (every acknowledged write survives)", () => {
  const result = scenario((world) =>
    at(world, 2_500, "crash everything", () => {
      for (const replica of world.replicas) replica.crash();
      world.history.note("script: all replicas crashed");
      at(world, 1_000, "restart everything", () => {
        for (const replica of world.replicas) replica.start();
      });
    }),
  );
  assert.equal(result.failure, null);
  assert.equal(result.stats.opsAnswered, result.stats.opsIssued);
});

test("jetstream: unavailable for 5 s (appends are retried with the same id, nothing acknowledged is lost)", () => {
  const result = scenario((world) => at(world, 2_000, "outage", () => world.js.outage(world.loop.nowMs + 5_000)));
  assert.equal(result.failure, null);
  assert.equal(result.stats.opsAnswered, result.stats.opsIssued);
});

test("jetstream: an append's answer and its retry's answer lost (the leader finds its own record behind 'wrong last sequence')", () => {
  const result = scenario((world) =>
    at(world, 400, "lose two append answers", () => {
      let dropped = 0;
      world.js.dropAnswers((label) => label.startsWith("js.append") && dropped++ < 2);
    }),
  );
  assert.equal(result.failure, null);
  assert.ok(result.trail.some((line) => /found its own append/.test(line)), "a retry found its own record");
});

test("gateway: crashes with requests in flight (mounts reconnect, resume their sessions and re-send)", () => {
  const result = scenario((world) =>
    at(world, 2_000, "crash the gateway", () => {
      world.gateways[0]!.crash();
      at(world, 500, "restart it", () => world.gateways[0]!.restart());
    }),
  );
  assert.equal(result.failure, null);
  assert.ok(result.trail.some((line) => /lost its connection/.test(line)));
  assert.ok(!result.trail.some((line) => /reconnect refused/.test(line)), "sessions resume");
});

/** Crashes the gateway the moment the log stores a record, before any reply reaches a mount. */
function crashGatewayOnStore(world: World): void {
  at(world, 2_000, "arm the crash", () => {
    let armed = true;
    world.js.onStore(() => {
      if (!armed) return;
      armed = false;
      world.history.note("script: gateway crashes right after a record was stored");
      world.gateways[0]!.crash();
      at(world, 300, "restart it", () => world.gateways[0]!.restart());
    });
  });
}

test("gateway: crashes after the shard logged a request, before the reply went out (the mount's re-send is answered from memory, not run twice)", () => {
  const result = scenario(crashGatewayOnStore);
  assert.equal(result.failure, null);
  assert.ok(result.stats.resendsOfApplied >= 1, "a request that was already applied was re-sent");
  assert.equal(result.stats.doubleExecutions, 0);
  // Without the gateway marking re-sends, the same scenario applies one twice.
  const broken = scenario(crashGatewayOnStore, { variant: variants["forgotten-resends"] });
  assert.match(broken.failure ?? "", /took effect twice/);
});

test("shard: leader cut from the lease KV only (its lease runs out while the log still takes its appends; a standby takes over)", () => {
  const result = scenario((world) =>
    at(world, 3_000, "cut the leader from the KV", () => {
      const leader = world.leader()!;
      world.history.note(`script: cutting ${leader.id} from the lease KV`);
      world.network.partition([leader.id], ["nats-kv"]);
      at(world, 3_000, "heal", () => world.network.heal());
    }),
  );
  assert.equal(result.failure, null);
  assert.ok(leaders(result).length >= 2, "a standby took over");
  assert.ok(result.trail.some((line) => /exits: lease/.test(line)), "the old leader ended itself when its lease ran out");
});

test("shard: leader cut from the log only (its appends go unanswered, it exits, a standby takes over)", () => {
  const result = scenario((world) =>
    at(world, 3_000, "cut the leader from the log", () => {
      const leader = world.leader()!;
      world.history.note(`script: cutting ${leader.id} from the log stream`);
      world.network.partition([leader.id], ["nats-log"]);
      at(world, 12_000, "heal", () => world.network.heal());
    }),
  );
  assert.equal(result.failure, null);
  assert.ok(leaders(result).length >= 2, "a standby took over");
  assert.ok(result.trail.some((line) => /exits: append unanswered|exits: read barrier unanswered/.test(line)), "the old leader gave up on the log");
});
