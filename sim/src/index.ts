/**
 * The deterministic simulation of the cluster (docs/decisions/0005-deterministic-simulation.md).
 * Run it with `npm run sim`; import it to write scenario tests on the same harness.
 */
export { Prng, drawSeed, seedMax } from "./prng.ts";
export { EventLoop, type Timer } from "./loop.ts";
export { FakeJetStream, reliableJetStream, duplicateWindowMs, type JetStreamFaults } from "./jetstream.ts";
export { jetStreamContract, fakeContractSubject, type ContractSubject, type ContractLogStream, type ContractKv } from "./jetstream-contract.ts";
export { Network, BytePipe, reliableNetwork, type NetworkFaults } from "./network.ts";
export { ShardDriver, encodeRecord, decodeRecord, type DriverAction, type DriverFaults, type StateMachine } from "./shard-driver.ts";
export { NamespaceModel, compareResult } from "./model.ts";
export { runSimulation, drawSwarm, hostileSwarm, fnvDirectorySlot, type SimulationOptions, type SimulationResult, type Swarm, type World } from "./simulation.ts";
export { variants, type VariantName } from "./variants.ts";
export { runShardedSimulation, drawShardCount, type ShardedSimulationOptions, type ShardedSimulationResult } from "./sharded-simulation.ts";
export { shardedOnlyVariants } from "./variants.ts";
