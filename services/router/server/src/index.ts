export { startRouter, type Router, type RouterOptions } from "./router.ts";
export { loadOrCreateShardMap } from "./shard-map-store.ts";
