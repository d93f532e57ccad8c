export { startRouter, type Router, type RouterOptions } from "./router.ts";
export { loadOrCreateShardMap } from "./shard-map-store.ts";
export { createDecisionStore, type DecisionStore, type DecisionStoreOptions } from "./coordinator-decisions.ts";
export { bucketLeaseStore, coordinatorLeaseTiming, startCoordinatorLease, type CoordinatorLease, type CoordinatorLeaseOptions, type CoordinatorLeaseStore } from "./coordinator-lease.ts";
export { natsCoordinatorPorts, type NatsCoordinatorPortsOptions } from "./coordinator-ports.ts";
export { parseCoordinatorRequest, startCoordinatorService, type CoordinatorService, type CoordinatorServiceOptions, type CoordinatorStats } from "./coordinator-service.ts";
