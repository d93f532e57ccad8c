/**
 * Reading DIR/cluster.json. Light on purpose (no NATS client behind it): the CLI reads it before
 * deciding whether to run a command again inside the cluster's namespace.
 */
import { parseClusterConfig, type ClusterConfig, type Layout } from "./config.ts";
import { readJsonFile } from "./state.ts";

/** The stored configuration; undefined when DIR holds none. A malformed file is a UsageError. */
export function readClusterConfig(layout: Layout): ClusterConfig | undefined {
  const found = readJsonFile(layout.clusterFile);
  return found === undefined ? undefined : parseClusterConfig(found.value, layout.clusterFile);
}
