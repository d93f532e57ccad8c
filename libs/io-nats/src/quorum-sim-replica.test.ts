/**
 * The simulation's in-memory replica (quorum-sim-replica.ts) against the QuorumReplica contract,
 * the same suite JournalReplica passes on a real nats-server (quorum-log-stream.test.ts): the
 * simulation's verdicts hold for the real journal only as far as the fake behaves like JetStream.
 */
import { quorumReplicaContract } from "./quorum-replica-contract.ts";
import { SimLoop, SimProcess } from "./quorum-sim-loop.ts";
import { SimRandom } from "./quorum-sim-prng.ts";
import { SimJournalNet, SimJournalServer, SimReplica, type SimNetConditions } from "./quorum-sim-replica.ts";

/** No faults: the contract is about what a healthy server does. */
const healthy: SimNetConditions = { baseDelayMaxMs: 2, spikeRate: 0, spikeMaxMs: 0, lossRate: 0, bufferRate: 0 };
/** Simulated time one call or wait may take before the harness gives up on it. */
const simulatedPatienceMs = 60_000;
const replicaTimeoutMs = 1_000;
const duplicateWindowMs = 120_000;

quorumReplicaContract("the simulation's in-memory replica", async () => {
  const loop = new SimLoop();
  const net = new SimJournalNet(loop, new SimRandom(1), healthy);
  const server = new SimJournalServer(0, net, duplicateWindowMs);
  const replicaOf = (name: string): SimReplica => new SimReplica(server, new SimProcess(name, loop), net, replicaTimeoutMs);
  return {
    replica: replicaOf("one"),
    other: replicaOf("other"),
    async run<T>(call: () => Promise<T>): Promise<T> {
      let settled = false;
      const result = call().finally(() => (settled = true));
      result.catch(() => {}); // Handled by the caller once the loop has run; not an unhandled rejection meanwhile.
      await loop.run(loop.nowMs + simulatedPatienceMs, () => settled);
      return result;
    },
    until: (check) => loop.run(loop.nowMs + simulatedPatienceMs, check),
    async dropStream() {
      server.deleteStream(server.stream!, "the contract test");
    },
  };
});
