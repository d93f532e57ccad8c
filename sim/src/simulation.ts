/**
 * One simulation run: builds the cluster from a seed, runs the workload under faults (safety
 * phase), heals everything and lets every pending request finish (liveness phase), and runs the
 * checkers along the way and at the end. The result is a pure function of the options.
 */
import { limits } from "@antler/base";
import { leaseBucket, shardLeaseKey, shardLogStream } from "@antler/ops";
import { createStateMachine, leaseReplicaName } from "@antler/shard-core";
import { checkAcknowledged, checkLinearizable, checkLog, checkNamespace, checkServing, findResendsOfApplied } from "./checkers.ts";
import { NodeClock } from "./clock.ts";
import { MountClient } from "./client.ts";
import { defaultClientTiming, DirectClient } from "./direct-client.ts";
import { SessionStore, SimGateway, type ReplyExecs } from "./gateway.ts";
import { FaultInjector } from "./faults.ts";
import { History } from "./history.ts";
import { FakeJetStream, type JetStreamFaults } from "./jetstream.ts";
import { EventLoop } from "./loop.ts";
import { createModelStateMachine } from "./model-state-machine.ts";
import { Network, type NetworkFaults } from "./network.ts";
import { Prng } from "./prng.ts";
import { decodeRecord, type StateMachine } from "./shard-driver.ts";
import { defaultShardTiming, ShardNode, type MetaMessage } from "./shard-node.ts";
import type { VariantFaults } from "./variants.ts";

export interface SimulationOptions {
  readonly seed: number;
  /** Client operations issued in the safety phase, over all clients. */
  readonly steps: number;
  /** Deliberately broken variants of the shard driver or the gateway (to prove the checkers catch them). */
  readonly variant?: VariantFaults;
  /** "real": shard-core's state machine; "model": the reference model as a stand-in. */
  readonly stateMachine?: "real" | "model";
  /** Lines of the event trail kept for the report (default 30). */
  readonly trailLines?: number;
  /** The slot of a new directory (the real BLAKE3 placement, or FNV-1a by default). */
  readonly directorySlot?: (parent: number, name: string) => number;
  /** Overrides of the seed's swarm (scenario tests pin the shape of the cluster). */
  readonly swarm?: Partial<Swarm>;
  /** Scripted faults on top of (or, with faultMeanIntervalMs: Infinity, instead of) random ones. */
  readonly script?: (world: World) => void;
  /** "gateway" (default): mounts speak the MooseFS protocol through gateways; "direct": clients send commands to the shard. */
  readonly path?: "gateway" | "direct";
  /** How simulated mounts number their requests (see MountOptions.msgids). */
  readonly msgids?: "per-thread" | "unique";
}

export interface SimulationResult {
  readonly seed: number;
  readonly failure: string | null;
  readonly stats: {
    readonly events: number;
    readonly simulatedMs: number;
    readonly logRecords: number;
    readonly opsIssued: number;
    readonly opsAnswered: number;
    /** Mutating requests re-sent after a reconnect although already applied (see findResendsOfApplied). */
    readonly resendsOfApplied: number;
    /** Of those, the ones that took effect twice (a failure). */
    readonly doubleExecutions: number;
    /** Of those, the ones answered with a failure although a retry of theirs took effect (reported). */
    readonly phantomApplies: number;
    readonly crashes: number;
    readonly partitions: number;
    readonly outages: number;
    readonly pauses: number;
    readonly swarm: Swarm;
  };
  /** The last notable events before the end (leader changes, faults), for a failure report. */
  readonly trail: readonly string[];
}

/** The shape of one run, drawn from the seed (TigerBeetle's options_swarm). */
export interface Swarm {
  readonly replicas: number;
  readonly clients: number;
  readonly gateways: number;
  /** Worker threads per mount (requests in flight per session). */
  readonly threads: number;
  readonly network: NetworkFaults;
  readonly jetstream: JetStreamFaults;
  readonly faultMeanIntervalMs: number;
  readonly clockDriftMax: number;
  /**
   * Trash time of the root (every file inherits it): 0 frees files at their last unlink; one
   * hour lets trash expire when a leader's clock jumps hours ahead.
   */
  readonly trashTimeSeconds: number;
}

/** What a scenario script can reach. */
export interface World {
  readonly loop: EventLoop;
  readonly replicas: readonly ShardNode[];
  readonly gateways: readonly SimGateway[];
  readonly network: Network<MetaMessage>;
  readonly js: FakeJetStream;
  readonly history: History;
  /** The replica leading now, if any. */
  leader(): ShardNode | undefined;
}

export function drawSwarm(prng: Prng): Swarm {
  const swarm: Swarm = {
    replicas: prng.pick([1, 2, 3, 3]),
    clients: prng.int(1, 5),
    gateways: prng.int(1, 2),
    threads: prng.int(1, 3),
    network: {
      delayMinMs: 0,
      delayMaxMs: prng.int(1, 30),
      lossProbability: prng.pick([0, 0.001, 0.01, 0.05]),
      duplicateProbability: prng.pick([0, 0.01, 0.05]),
    },
    jetstream: {
      delayMinMs: 0,
      delayMaxMs: prng.int(1, 20),
      answerLossProbability: prng.pick([0, 0.005, 0.02, 0.05]),
      requestLossProbability: prng.pick([0, 0.005, 0.02]),
    },
    faultMeanIntervalMs: prng.pick([1_000, 2_000, 5_000, Infinity]),
    clockDriftMax: prng.pick([0, 0.01, 0.05]),
    trashTimeSeconds: prng.pick([limits.trashTimeDefaultSeconds, 3_600, 0]),
  };
  // Drawn after the rest, so that adding it left every other draw of a seed as it was.
  const stallProbability = prng.pick([0, 0, 0.001, 0.01]);
  return { ...swarm, jetstream: { ...swarm.jetstream, stallProbability, stallMaxMs: 2_000 } };
}

const shardStream = shardLogStream(0);
const leaseKey = shardLeaseKey(0);

/**
 * A swarm where failovers happen in every seed (three replicas, a fault every half second,
 * drifting clocks): where the broken variants are hunted (`npm run sim -- --hostile`).
 */
export const hostileSwarm = {
  replicas: 3,
  faultMeanIntervalMs: 500,
  clockDriftMax: 0.05,
  clients: 4,
  threads: 3,
  jetstream: { delayMinMs: 0, delayMaxMs: 10, answerLossProbability: 0.02, requestLossProbability: 0.005, stallProbability: 0.01, stallMaxMs: 2_000 },
} as const satisfies Partial<Swarm>;

/**
 * The slot of a new directory. Production hashes with BLAKE3 (libs/slots, asynchronous to set
 * up); where a directory's slot lands does not matter to a single-shard simulation as long as it
 * is deterministic, so FNV-1a serves unless a caller passes the real placement.
 */
export function fnvDirectorySlot(parent: number, name: string): number {
  let h = 0x811c9dc5;
  const mix = (byte: number): void => {
    h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  };
  for (let i = 0; i < 4; i++) mix((parent >>> (24 - 8 * i)) & 0xff);
  for (let i = 0; i < name.length; i++) mix(name.charCodeAt(i) & 0xff);
  return h % limits.slotCount;
}

function realStateMachine(directorySlot: (parent: number, name: string) => number, trashTimeSeconds: number): () => StateMachine {
  return () => createStateMachine({ shardId: 0, metaId: 0x5eed_5eedn, slotOfNewDirectory: directorySlot, defaultTrashtimeSeconds: trashTimeSeconds });
}

/** What the simulation needs of a client, direct or through a gateway. */
interface SimClient {
  readonly id: string;
  readonly busy: boolean;
  readonly remaining: number;
  start(count: number): void;
  stop(): void;
  describe(): string;
}

export function runSimulation(options: SimulationOptions): SimulationResult {
  const root = Prng.fromSeed(options.seed);
  const swarm: Swarm = { ...drawSwarm(root.fork("swarm")), ...options.swarm };
  const loop = new EventLoop();
  const trailLines = options.trailLines ?? 30;
  const history = new History(() => loop.nowMs, trailLines);
  const newStateMachine =
    options.stateMachine === "model" ? createModelStateMachine : realStateMachine(options.directorySlot ?? fnvDirectorySlot, swarm.trashTimeSeconds);

  const network = new Network<MetaMessage>(loop, root.fork("network"), swarm.network);
  // The NATS server a node connects to ("nats"), and behind it the stream leader ("nats-log") and
  // the KV's ("nats-kv"), which a partition can cut separately.
  for (const node of ["nats", "nats-log", "nats-kv"]) network.register(node, () => {});
  const replicaIncarnation = new Map<string, () => number>();
  const js = new FakeJetStream(loop, root.fork("jetstream"), swarm.jetstream, {
    reach: (client, service) =>
      !network.connected(client, "nats") ? "disconnected" : network.connected(client, service === "kv" ? "nats-kv" : "nats-log") ? "reachable" : "unrouted",
    generation: (client) => replicaIncarnation.get(client)?.() ?? 0,
  });

  let failure: string | null = null;
  const fail = (reason: string | null): void => {
    if (failure === null && reason !== null) failure = reason;
  };

  // The checkers' own replica: applies every stored record the moment it is stored; the log and
  // namespace invariants run after every event that stored one.
  let logGrew = false;
  const checkerSm = newStateMachine();
  js.onStore((_stream, message) => {
    logGrew = true;
    history.stored(message);
    try {
      for (const bytes of decodeRecord(message.data).entries) checkerSm.apply(checkerSm.decodeEntry(bytes));
    } catch (error) {
      fail(`log replay failed at seq ${message.seq}: ${describeError(error)}`);
    }
  });

  const clockPrng = root.fork("clocks");
  const replicaIds = Array.from({ length: swarm.replicas }, (_, i) => `shard0-r${i}`);
  const replicas = replicaIds.map(
    (id, index) =>
      new ShardNode({
        id,
        replicaName: leaseReplicaName(0, index),
        stream: shardStream,
        leaseBucket,
        leaseKey,
        loop,
        js,
        network,
        clock: new NodeClock(loop, clockPrng.int(0, 1_000_000), 1 + (clockPrng.float() * 2 - 1) * swarm.clockDriftMax),
        timing: defaultShardTiming,
        createStateMachine: newStateMachine,
        observer: history,
        faults: options.variant,
      }),
  );
  for (const replica of replicas) {
    replicaIncarnation.set(replica.id, () => replica.incarnation);
    replica.start();
  }

  const workload = root.fork("workload");
  const replyExecs: ReplyExecs = new Map();
  const sessions = new SessionStore();
  const gateways =
    options.path === "direct"
      ? []
      : Array.from(
          { length: swarm.gateways },
          (_, i) =>
            new SimGateway({
              id: `gw${i}`,
              loop,
              network,
              prng: root.fork(`gateway${i}`),
              replicas: replicaIds,
              sessions,
              history,
              replyExecs,
              metaId: 0x5eed_5eedn,
              callAttemptTimeoutMs: 500,
              forgottenResends: options.variant?.forgottenResends ?? false,
            }),
        );
  const clients: SimClient[] = Array.from({ length: swarm.clients }, (_, i) =>
    options.path === "direct"
      ? new DirectClient({
          id: `client${i}`,
          sessionId: i + 1,
          loop,
          network,
          prng: workload.fork(`client${i}`),
          replicas: replicaIds,
          history,
          timing: defaultClientTiming,
        })
      : new MountClient({
          id: `mount${i}`,
          loop,
          prng: workload.fork(`mount${i}`),
          gateways,
          history,
          replyExecs,
          threads: swarm.threads,
          peerIp: 0x0a010000 + i,
          msgids: options.msgids ?? "per-thread",
          fail: (reason) => fail(reason),
        }),
  );
  const perClient = Math.ceil(options.steps / clients.length);
  for (const client of clients) client.start(perClient);

  const faults = new FaultInjector(
    { loop, prng: root.fork("faults"), replicas, gateways, clientIds: clients.map((c) => c.id), network, js, history },
    swarm.faultMeanIntervalMs,
    // Jumps of hours make a one-hour trash expire within a run.
    swarm.trashTimeSeconds > 0 && swarm.trashTimeSeconds <= 3_600 ? 2 * 3_600_000 : 3_000,
  );
  faults.start();
  options.script?.({ loop, replicas, gateways, network, js, history, leader: () => replicas.find((r) => r.alive && r.driver?.role === "leader") });

  const periodicChecks = (): void => {
    fail(checkLog(history) ?? checkServing(history) ?? checkNamespace(checkerSm, null));
  };

  const allDone = (): boolean => clients.every((c) => c.remaining === 0 && !c.busy);
  const runUntil = (until: () => boolean, deadlineMs: number): void => {
    while (failure === null && !until()) {
      if (loop.nowMs > deadlineMs) return;
      try {
        if (!loop.step()) return;
      } catch (error) {
        fail(`a node crashed on an exception: ${describeError(error)}`);
        return;
      }
      if (history.requestIdReuse !== null) fail(history.requestIdReuse);
      if (logGrew) {
        logGrew = false;
        periodicChecks();
      }
    }
  };

  // Safety phase: the workload under faults.
  const safetyBudgetMs = 600_000;
  runUntil(allDone, safetyBudgetMs);
  // Liveness phase: heal, restart, no more faults; every request in flight must finish.
  for (const client of clients) client.stop();
  history.note("liveness phase: faults off, everything healed");
  faults.stop();
  network.setFaults({ ...swarm.network, lossProbability: 0, duplicateProbability: 0 });
  js.setFaults({ ...swarm.jetstream, answerLossProbability: 0, requestLossProbability: 0 });
  for (const replica of replicas) if (!replica.alive) replica.start();
  for (const gateway of gateways) if (!gateway.alive) gateway.restart();
  // A leader is elected and serving within a bounded time: the lease takeover, a restart and
  // the catch-up take well under a second each.
  const serving = (): boolean => replicas.some((r) => r.alive && r.driver?.role === "leader" && r.holdsLease);
  const electionBoundMs = 10_000;
  runUntil(serving, loop.nowMs + electionBoundMs);
  if (failure === null && !serving()) {
    fail(`liveness: no replica serves ${electionBoundMs / 1000}s after the cluster was healed; replicas: ${replicas.map((r) => r.describe()).join("; ")}`);
  }
  const livenessDeadline = loop.nowMs + 60_000;
  runUntil(allDone, livenessDeadline);
  if (failure === null && !allDone()) {
    const stuck = clients.filter((c) => c.busy || c.remaining > 0).map((c) => c.describe());
    fail(`liveness: clients ${stuck.join(", ")} still waiting 60s after the cluster was healed; replicas: ${replicas.map((r) => r.describe()).join("; ")}`);
  }

  // Every replica catches up with the log; then all of them must hold the very same state as the
  // checkers' replica, byte for byte: live execution and replay are one function.
  if (failure === null) {
    const caughtUp = (): boolean => replicas.every((r) => r.driver !== null && r.driver.logSeq === history.log.length && r.driver.inFlight === null);
    runUntil(caughtUp, loop.nowMs + 10_000);
    if (failure === null && !caughtUp()) fail(`liveness: replicas did not catch up with the log (${history.log.length}): ${replicas.map((r) => r.describe()).join("; ")}`);
    fail(checkReplicasAgree(checkerSm, replicas));
  }
  if (failure === null) {
    periodicChecks();
    fail(checkAcknowledged(history));
  }
  if (failure === null) {
    const { failure: linearizability, model } = checkLinearizable(history, {
      decodeEntry: (bytes) => checkerSm.decodeEntry(bytes),
      trashTimeSeconds: options.stateMachine === "model" ? limits.trashTimeDefaultSeconds : swarm.trashTimeSeconds,
    });
    fail(linearizability ?? checkNamespace(checkerSm, model));
  }
  const resends = findResendsOfApplied(history);
  const doubled = resends.filter((r) => r.outcome === "doubled");
  if (doubled.length > 0) fail(`a re-sent request took effect twice (${doubled.length} in all): ${doubled[0]!.text}`);

  return {
    seed: options.seed,
    failure,
    stats: {
      events: loop.executed,
      simulatedMs: loop.nowMs,
      logRecords: history.log.length,
      opsIssued: history.ops.length,
      opsAnswered: history.ops.filter((op) => op.execId !== undefined).length,
      resendsOfApplied: resends.length,
      doubleExecutions: doubled.length,
      phantomApplies: resends.filter((r) => r.outcome === "phantom").length,
      ...faults.counts,
      swarm,
    },
    trail: history.events.slice(-trailLines),
  };
}

/** Each replica's state, exported, equals the state rebuilt from the log. */
function checkReplicasAgree(reference: StateMachine, replicas: readonly ShardNode[]): string | null {
  if (reference.exportState === undefined) return null;
  const expected = reference.exportState();
  for (const replica of replicas) {
    const state = replica.driver!.stateMachine.exportState!();
    if (state.length !== expected.length || state.some((byte, i) => byte !== expected[i])) {
      return `${replica.id} (${replica.driver!.role}) holds a state that differs from the one rebuilt from the log at seq ${replica.driver!.logSeq}`;
    }
  }
  return null;
}

function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}\n${error.stack?.split("\n").slice(1, 6).join("\n") ?? ""}`;
  return String(error);
}
