/**
 * A sharded run: 2–4 shard groups (each with its replicas, lease and log, as in simulation.ts),
 * the 2048 slots split between them by the real shard map (rendezvous over BLAKE3), new
 * directories placed by the real BLAKE3 directory slot, so that about half of them land on
 * another shard than their parent. Mounts and gateways send each request to the shard owning its
 * routing inode's slot; a shard that cannot carry a request out alone forwards it to the
 * simulated coordinator, which runs the real `Coordinator` (@antler/router-core) over the
 * simulated network and a fake decision bucket; shard leaders resolve prepared transactions left
 * without a decision. Faults hit the shard leaders and the coordinator at random points.
 *
 * The coordinator is promise-based, so this runner is asynchronous: after every event that settled
 * one of the coordinator's port promises it lets the microtask queue drain before the next event.
 * Everything else is as deterministic as the single-shard run: the result is a function of the
 * options.
 */
import { limits } from "@antler/base";
import { leaseBucket, routeOf, shardLeaseKey, shardLogStream, txnBucket, type Command, type Ctx } from "@antler/ops";
import { initialShardMap, shardForSlot, type ShardMap } from "@antler/router-core";
import { createStateMachine, leaseReplicaName } from "@antler/shard-core";
import type { Placement } from "@antler/slots";
import { slotOfInode } from "@antler/slots";
import { checkLog, checkNamespace, checkServing } from "./checkers.ts";
import { NodeClock } from "./clock.ts";
import { MountClient } from "./client.ts";
import { SimCoordinatorLease } from "./coordinator-lease.ts";
import { CoordinatorNode, coordinatorCallTiming } from "./coordinator-node.ts";
import { defaultClientTiming, DirectClient } from "./direct-client.ts";
import { FaultInjector } from "./faults.ts";
import { SessionStore, SimGateway, type ReplyExecs } from "./gateway.ts";
import { describeCommand, History } from "./history.ts";
import { FakeJetStream } from "./jetstream.ts";
import { EventLoop } from "./loop.ts";
import { Network } from "./network.ts";
import { Prng } from "./prng.ts";
import { decodeRecord, type Execution, type StateMachine } from "./shard-driver.ts";
import { checkAtomicity, checkShardedAcknowledged, checkShardedLinearizable, findOrphans, type CoordinatorReply, type ShardedRun } from "./sharded-checkers.ts";
import { defaultShardTiming, ShardNode, type MetaMessage, type MetaRequestRef, type ShardObserver } from "./shard-node.ts";
import { drawSwarm, type Swarm } from "./simulation.ts";
import type { VariantFaults } from "./variants.ts";
import { shardedOperationWeights } from "./workload.ts";

export interface ShardedSimulationOptions {
  readonly seed: number;
  /** Client operations issued in the safety phase, over all clients. */
  readonly steps: number;
  /** The real placement (BLAKE3): directory slots and the shard map (createPlacement()). */
  readonly placement: Placement;
  /** Shard groups (2–4); drawn from the seed when omitted. */
  readonly shards?: number;
  /**
   * Routers that can coordinate (1–2; drawn from the seed when omitted): one, as the minimal
   * profile, where a dead coordinator's transactions are finished by the shards' resolvers or its
   * own restart; two, as the ha profile, sharing the coordinator lease (coordinator-lease.ts).
   */
  readonly routers?: number;
  /** Broken on purpose (variants.ts): the coordinator's, the shard drivers' or the gateways' faults. */
  readonly variant?: VariantFaults;
  readonly swarm?: Partial<Swarm>;
  readonly path?: "gateway" | "direct";
  readonly trailLines?: number;
  /** Called with everything the checkers saw, at the end (debugging, tests of the checkers). */
  readonly inspect?: (run: ShardedRun) => void;
}

export interface ShardedSimulationResult {
  readonly seed: number;
  readonly failure: string | null;
  readonly stats: {
    readonly shards: number;
    readonly events: number;
    readonly simulatedMs: number;
    readonly logRecords: number;
    readonly opsIssued: number;
    readonly opsAnswered: number;
    /** Client requests the coordinator answered (forwarded by a shard). */
    readonly coordinated: number;
    /** Times a stalled coordinator and its successor were both subscribed (both coordinated). */
    readonly coordinatorOverlaps: number;
    /** Transactions committed on at least one shard / aborted everywhere they were prepared. */
    readonly txCommitted: number;
    readonly txAborted: number;
    /** Transactions a shard's resolver finished (its coordinator died or went silent). */
    readonly resolvedCommit: number;
    readonly resolvedAbort: number;
    readonly crashes: number;
    readonly partitions: number;
    readonly outages: number;
    readonly pauses: number;
    readonly swarm: Swarm;
  };
  readonly trail: readonly string[];
}

const metaId = 0x5eed_5eedn;

/** A seed's number of shard groups, drawn from its own stream so the swarm's draws stay as they are. */
export function drawShardCount(root: Prng): number {
  return root.fork("shards").int(2, 4);
}

/** A seed's number of routers, drawn from its own stream too. */
export function drawRouterCount(root: Prng): number {
  return root.fork("routers").int(1, 2);
}

/** Shard maps by placement and shard count: 2048 rendezvous hashes are worth computing once. */
const shardMaps = new WeakMap<Placement, Map<number, ShardMap>>();

function shardMapOf(placement: Placement, shardCount: number): ShardMap {
  let maps = shardMaps.get(placement);
  if (maps === undefined) {
    maps = new Map();
    shardMaps.set(placement, maps);
  }
  let map = maps.get(shardCount);
  if (map === undefined) {
    map = initialShardMap(placement, shardCount);
    maps.set(shardCount, map);
  }
  return map;
}

/** Lets every microtask queued so far (and those they queue) run. */
function drainMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export async function runShardedSimulation(options: ShardedSimulationOptions): Promise<ShardedSimulationResult> {
  const root = Prng.fromSeed(options.seed);
  const swarm: Swarm = { ...drawSwarm(root.fork("swarm")), ...options.swarm };
  const shardCount = options.shards ?? drawShardCount(root);
  const loop = new EventLoop();
  const trailLines = options.trailLines ?? 30;
  const main = new History(() => loop.nowMs, trailLines);
  const placement = options.placement;
  const directorySlot = (parent: number, name: string): number => placement.directorySlot(parent, name);
  const map = shardMapOf(placement, shardCount);
  const slotsOf = Array.from({ length: shardCount }, (_, shard) => map.slots.flatMap((owner, slot) => (owner === shard ? [slot] : [])));
  const shardOfInode = (inode: number): number => shardForSlot(map, slotOfInode(inode));
  const replicaIds = Array.from({ length: shardCount }, (_, shard) => Array.from({ length: swarm.replicas }, (_, i) => `shard${shard}-r${i}`));
  const coordinatorIds = ["coord", "coord2"].slice(0, options.routers ?? drawRouterCount(root));

  const newStateMachine = (shard: number) => (): StateMachine =>
    createStateMachine({ shardId: shard, metaId, slots: slotsOf[shard]!, slotOfNewDirectory: directorySlot, defaultTrashtimeSeconds: swarm.trashTimeSeconds });

  const network = new Network<MetaMessage>(loop, root.fork("network"), swarm.network);
  for (const node of ["nats", "nats-log", "nats-kv"]) network.register(node, () => {});
  const incarnations = new Map<string, () => number>();
  const js = new FakeJetStream(loop, root.fork("jetstream"), swarm.jetstream, {
    reach: (client, service) =>
      !network.connected(client, "nats") ? "disconnected" : network.connected(client, service === "kv" ? "nats-kv" : "nats-log") ? "reachable" : "unrouted",
    generation: (client) => incarnations.get(client)?.() ?? 0,
  });

  let failure: string | null = null;
  const fail = (reason: string | null): void => {
    if (failure === null && reason !== null) failure = reason;
  };

  // The checkers' replica of every shard, and the global order of all stored records.
  // A tx command names its shard by any slot it owns: a repeat through another owned slot is the
  // same command (the coordinator's recovery addresses participants by slotOfShard).
  const shardHistories = Array.from({ length: shardCount }, () => new History(() => loop.nowMs, trailLines, (cmd) => describeCommand(cmd.kind.startsWith("tx") && "slot" in cmd ? { ...cmd, slot: 0 } : cmd)));
  const checkerSms = Array.from({ length: shardCount }, (_, shard) => newStateMachine(shard)());
  const streamShard = new Map(Array.from({ length: shardCount }, (_, shard) => [shardLogStream(shard), shard]));
  const globalPos = new Map<string, number>();
  let stored = 0;
  let logGrew = false;
  js.onStore((stream, message) => {
    const shard = streamShard.get(stream);
    if (shard === undefined) return;
    stored++;
    logGrew = true;
    globalPos.set(message.msgId ?? `${stream}-${message.seq}`, stored);
    shardHistories[shard]!.stored(message);
    const sm = checkerSms[shard]!;
    try {
      for (const bytes of decodeRecord(message.data).entries) sm.apply(sm.decodeEntry(bytes));
    } catch (error) {
      fail(`shard ${shard} log replay failed at seq ${message.seq}: ${describeError(error)}`);
    }
  });

  /**
   * Each shard's replicas report to their shard's history (its log, epochs, request ids) and to
   * the main one (every reply, for the clients' checks; the trail). Request ids are checked per
   * shard and for writes only: the coordinator reuses one id for the inspections of an attempt.
   */
  const observerOf = (shard: number): ShardObserver => {
    const own = shardHistories[shard]!;
    return {
      appendSent: (node, msgId, writes) => {
        own.appendSent(node, msgId, writes);
        if (!main.batches.has(msgId)) main.batches.set(msgId, writes);
      },
      replied: (node, execId, execution) => {
        if (execution.wrote) own.replied(node, execId, execution);
        else own.replies.set(execId, { node, execution });
        main.replies.set(execId, { node, execution });
      },
      serving: (node, epoch, seq) => {
        own.serving(node, epoch, seq);
        main.note(`${node} leads shard ${shard} epoch ${epoch} from seq ${seq}`);
      },
      steppedDown: (node, reason) => main.note(`${node} stepped down: ${reason}`),
      note: (text) => main.note(text),
      resolved: (_node, _txid, decision) => {
        resolved[decision]++;
      },
    };
  };
  const resolved = { commit: 0, abort: 0 };

  const clockPrng = root.fork("clocks");
  const newClock = (): NodeClock => new NodeClock(loop, clockPrng.int(0, 1_000_000), 1 + (clockPrng.float() * 2 - 1) * swarm.clockDriftMax);
  const replicas: ShardNode[] = [];
  for (let shard = 0; shard < shardCount; shard++) {
    const observer = observerOf(shard);
    for (let index = 0; index < swarm.replicas; index++) {
      const replica = new ShardNode({
        id: replicaIds[shard]![index]!,
        replicaName: leaseReplicaName(shard, index),
        stream: shardLogStream(shard),
        leaseBucket,
        leaseKey: shardLeaseKey(shard),
        loop,
        js,
        network,
        clock: newClock(),
        timing: defaultShardTiming,
        createStateMachine: newStateMachine(shard),
        observer,
        faults: options.variant,
        cluster: {
          shardId: shard,
          slot: slotsOf[shard]![0]!,
          coordinators: () => coordinatorLease.subscribers(),
          replicasOfInode: (inode) => replicaIds[shardOfInode(inode)]!,
          decisionBucket: txnBucket,
          resolveAfterMs: limits.txResolveAfterMs,
          resolveIntervalMs: limits.txResolveIntervalMs,
        },
        stamp: () => stored,
      });
      replicas.push(replica);
      incarnations.set(replica.id, () => replica.incarnation);
    }
  }

  const coordinatorReplies = new Map<string, CoordinatorReply>();
  const forwarded = new Map<string, { readonly cmd: Command; readonly ctx: Ctx; readonly stamp: number }>();
  // Two routers able to coordinate; the lease decides which are subscribed (coordinator-lease.ts).
  const coordinators = coordinatorIds.map(
    (id) =>
      new CoordinatorNode({
        id,
        loop,
        network,
        js,
        clock: newClock(),
        prng: root.fork(id === "coord" ? "coordinator" : id),
        decisionBucket: txnBucket,
        shardOfSlot: (slot) => shardForSlot(map, slot),
        slotOfShard: (shard) => slotsOf[shard]![0]!,
        replicasOfShard: (shard) => replicaIds[shard]!,
        directorySlot,
        faults: options.variant,
        ...coordinatorCallTiming,
        observer: {
          forwarded: (cmd, ctx) => {
            main.note(`${id} gets ${cmd.kind} ${ctx.requestId ?? ""}`);
            if (ctx.requestId !== undefined && !forwarded.has(ctx.requestId)) forwarded.set(ctx.requestId, { cmd, ctx, stamp: stored });
          },
          coordinated: (execId, cmd, ctx, result) => {
            main.note(`${id} answers ${cmd.kind} ${ctx.requestId ?? ""} (${execId}): status ${result.status}`);
            coordinatorReplies.set(execId, { cmd, ctx, result, stamp: stored });
            // The clients check every reply against the execution that made it.
            const execution: Execution<MetaRequestRef> = { request: { from: id, token: 0 }, cmd, ctx, result, ref: { seq: 0 }, wrote: false };
            main.replies.set(execId, { node: id, execution });
          },
          note: (text) => main.note(text),
        },
      }),
  );
  const coordinatorLease = new SimCoordinatorLease(loop, root.fork("coordinator-lease"), main, coordinators);
  for (const coordinator of coordinators) {
    incarnations.set(coordinator.id, () => coordinator.incarnation);
    coordinator.start();
  }
  for (const replica of replicas) replica.start();

  const route = (cmd: Command): readonly string[] => {
    const target = routeOf(cmd);
    // Session bookkeeping goes to every shard in production (merged replies); the simulated mounts
    // never end their sessions, so the root's shard answers what little of it there is.
    const slot = target === "all" ? 0 : "slot" in target ? target.slot : slotOfInode(target.inode);
    return replicaIds[shardForSlot(map, slot)]!;
  };

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
              replicas: [],
              route,
              sessions,
              history: main,
              replyExecs,
              metaId,
              callAttemptTimeoutMs: 500,
              forgottenResends: options.variant?.forgottenResends ?? false,
            }),
        );
  const clients =
    options.path === "direct"
      ? Array.from(
          { length: swarm.clients },
          (_, i) =>
            new DirectClient({
              id: `client${i}`,
              sessionId: i + 1,
              loop,
              network,
              prng: workload.fork(`client${i}`),
              replicas: [],
              route,
              history: main,
              timing: defaultClientTiming,
              weights: shardedOperationWeights,
            }),
        )
      : Array.from(
          { length: swarm.clients },
          (_, i) =>
            new MountClient({
              id: `mount${i}`,
              loop,
              prng: workload.fork(`mount${i}`),
              gateways,
              history: main,
              replyExecs,
              threads: swarm.threads,
              peerIp: 0x0a010000 + i,
              weights: shardedOperationWeights,
              fail: (reason) => fail(reason),
            }),
        );
  const perClient = Math.ceil(options.steps / clients.length);
  for (const client of clients) client.start(perClient);

  const faults = new FaultInjector(
    { loop, prng: root.fork("faults"), replicas, gateways, clientIds: clients.map((c) => c.id), network, js, history: main, coordinators: { nodes: coordinators, lease: coordinatorLease } },
    swarm.faultMeanIntervalMs,
    swarm.trashTimeSeconds > 0 && swarm.trashTimeSeconds <= 3_600 ? 2 * 3_600_000 : 3_000,
  );
  faults.start();

  const periodicChecks = (): void => {
    for (const history of shardHistories) fail(checkLog(history) ?? checkServing(history));
  };

  const allDone = (): boolean => clients.every((c) => c.remaining === 0 && !c.busy);
  const runUntil = async (until: () => boolean, deadlineMs: number): Promise<void> => {
    while (failure === null && !until()) {
      if (loop.nowMs > deadlineMs) return;
      try {
        if (!loop.step()) return;
      } catch (error) {
        fail(`a node crashed on an exception: ${describeError(error)}`);
        return;
      }
      if (coordinators.some((c) => c.activity)) {
        for (const c of coordinators) c.activity = false;
        await drainMicrotasks();
      }
      if (main.requestIdReuse !== null) fail(main.requestIdReuse);
      for (const history of shardHistories) if (history.requestIdReuse !== null) fail(history.requestIdReuse);
      if (logGrew) {
        logGrew = false;
        periodicChecks();
      }
    }
  };

  const describeCluster = (): string => [...replicas.map((r) => r.describe()), ...coordinators.map((c) => c.describe()), coordinatorLease.describe()].join("; ");

  // Safety phase.
  await runUntil(allDone, 600_000);
  // Liveness phase: heal, restart, no more faults.
  for (const client of clients) client.stop();
  main.note("liveness phase: faults off, everything healed");
  faults.stop();
  network.setFaults({ ...swarm.network, lossProbability: 0, duplicateProbability: 0 });
  js.setFaults({ ...swarm.jetstream, answerLossProbability: 0, requestLossProbability: 0 });
  for (const replica of replicas) if (!replica.alive) replica.start();
  for (const gateway of gateways) if (!gateway.alive) gateway.restart();
  for (const coordinator of coordinators) {
    if (coordinator.alive) continue;
    coordinator.start();
    coordinatorLease.restarted();
  }
  coordinatorLease.settle();
  const leaderOf = (shard: number): ShardNode | undefined =>
    replicas.find((r) => r.id.startsWith(`shard${shard}-`) && r.alive && r.driver?.role === "leader" && r.holdsLease);
  const everyShardServes = (): boolean => Array.from({ length: shardCount }, (_, shard) => leaderOf(shard)).every((r) => r !== undefined);
  await runUntil(everyShardServes, loop.nowMs + 10_000);
  if (failure === null && !everyShardServes()) fail(`liveness: a shard has no serving leader 10s after the cluster was healed; ${describeCluster()}`);
  await runUntil(allDone, loop.nowMs + 60_000);
  if (failure === null && !allDone()) {
    const stuck = clients.filter((c) => c.busy || c.remaining > 0).map((c) => c.describe());
    fail(`liveness: clients ${stuck.join(", ")} still waiting 60s after the cluster was healed; ${describeCluster()}`);
  }
  // Quiet: no transaction prepared anywhere (the resolvers finish what the coordinator left), the
  // coordinator idle, every replica caught up with its shard's log.
  // Only a stored record changes what is prepared: computed once per log growth.
  let preparedAt = -1;
  let preparedCache: { shard: number; txid: string }[] = [];
  const preparedNow = (): { shard: number; txid: string }[] => {
    if (preparedAt !== stored) {
      preparedAt = stored;
      preparedCache = checkerSms.flatMap((sm, shard) => (sm.preparedTransactions?.() ?? []).map((txn) => ({ shard, txid: txn.txid })));
    }
    return preparedCache;
  };
  const caughtUp = (): boolean =>
    replicas.every((r) => {
      const history = shardHistories[Number(/^shard(\d+)-/.exec(r.id)![1])]!;
      return r.driver !== null && r.driver.logSeq === history.log.length && r.driver.inFlight === null;
    });
  const quiet = (): boolean => coordinators.every((c) => c.running === 0) && caughtUp() && preparedNow().length === 0;
  await runUntil(quiet, loop.nowMs + limits.txResolveAfterMs + limits.txCommitPatienceMs + 20_000);
  const run: ShardedRun = {
    shards: shardHistories,
    main,
    globalPos,
    coordinatorReplies,
    forwarded,
    decodeEntry: (shard, bytes) => checkerSms[shard]!.decodeEntry(bytes),
    trashTimeSeconds: swarm.trashTimeSeconds,
  };
  if (failure === null) {
    const atomicity = checkAtomicity(run, preparedNow());
    const stuck = preparedNow()[0];
    const txn = stuck === undefined ? undefined : checkerSms[stuck.shard]!.preparedTransactions?.().find((t) => t.txid === stuck.txid);
    const leader = stuck === undefined ? undefined : leaderOf(stuck.shard);
    const why =
      txn !== undefined && leader !== undefined && leader.wallClockMs() - txn.preparedAtMs < limits.txResolveAfterMs
        ? ` (why: its prepare stamp says ${txn.preparedAtMs}ms, the leader ${leader.id}'s wall clock reads ${leader.wallClockMs()}ms: ` +
          `the resolver ages it by the stamp, which an earlier leader's faster clock put ahead, and waits until its own clock passes it)`
        : "";
    fail(atomicity === null ? null : `${atomicity}${why}`);
  }
  if (failure === null && !caughtUp()) fail(`liveness: replicas did not catch up with their shards' logs; ${describeCluster()}`);
  if (failure === null) {
    for (const replica of replicas) {
      const shard = Number(/^shard(\d+)-/.exec(replica.id)![1]);
      fail(stateDiffers(checkerSms[shard]!, replica));
    }
  }
  if (failure === null) {
    periodicChecks();
    fail(checkShardedAcknowledged(run));
  }
  if (failure === null) {
    const { failure: linearizability, model } = checkShardedLinearizable(run);
    fail(linearizability);
    const reached = new Set<number>();
    if (failure === null) fail(checkNamespace((inode) => checkerSms[shardOfInode(inode)]!, model, reached));
    if (failure === null) fail(findOrphans(checkerSms.map((sm, shard) => ({ shard, sm, slot: slotsOf[shard]![0]! })), reached));
  }

  options.inspect?.(run);
  const txOutcomes = countTransactions(shardHistories);
  return {
    seed: options.seed,
    failure,
    stats: {
      shards: shardCount,
      events: loop.executed,
      simulatedMs: loop.nowMs,
      logRecords: stored,
      opsIssued: main.ops.length,
      opsAnswered: main.ops.filter((op) => op.execId !== undefined).length,
      coordinated: coordinatorReplies.size,
      coordinatorOverlaps: coordinatorLease.overlaps,
      ...txOutcomes,
      resolvedCommit: resolved.commit,
      resolvedAbort: resolved.abort,
      ...faults.counts,
      swarm,
    },
    trail: main.events.slice(-trailLines),
  };
}

function countTransactions(histories: readonly History[]): { txCommitted: number; txAborted: number } {
  const committed = new Set<string>();
  const aborted = new Set<string>();
  for (const history of histories) {
    for (const record of history.log) {
      for (const write of history.batches.get(record.msgId) ?? []) {
        if (write?.cmd.kind === "txcommit") committed.add(write.cmd.txid);
        if (write?.cmd.kind === "txabort") aborted.add(write.cmd.txid);
      }
    }
  }
  return { txCommitted: committed.size, txAborted: [...aborted].filter((txid) => !committed.has(txid)).length };
}

function stateDiffers(reference: StateMachine, replica: ShardNode): string | null {
  if (reference.exportState === undefined) return null;
  const expected = reference.exportState();
  const state = replica.driver!.stateMachine.exportState!();
  if (state.length !== expected.length || state.some((byte, i) => byte !== expected[i])) {
    return `${replica.id} (${replica.driver!.role}) holds a state that differs from the one rebuilt from its shard's log at seq ${replica.driver!.logSeq}`;
  }
  return null;
}

function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}\n${error.stack?.split("\n").slice(1, 6).join("\n") ?? ""}`;
  return String(error);
}
