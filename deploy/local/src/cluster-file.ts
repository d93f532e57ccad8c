/**
 * Reading DIR/cluster.json. Light on purpose (no NATS client behind it): the CLI reads it before
 * deciding whether to run a command again inside the cluster's namespace.
 */
import { readFileSync } from "node:fs";
import { parseClusterConfig, type ClusterConfig, type Layout } from "./config.ts";

/** The stored configuration; undefined when DIR holds none. A malformed file is a UsageError. */
export function readClusterConfig(layout: Layout): ClusterConfig | undefined {
  let text: string;
  try {
    text = readFileSync(layout.clusterFile, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return parseClusterConfig(undefined, layout.clusterFile);
  }
  return parseClusterConfig(value, layout.clusterFile);
}
