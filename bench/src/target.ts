/**
 * A system under test: something that serves the MooseFS client protocol at an address inside a
 * network namespace. The driver starts each target once, runs rounds against it, and stops it.
 */
import type { Namespace } from "./netns.ts";

export const targetNames = ["antler", "mfsmaster"] as const;
export type TargetName = (typeof targetNames)[number];

export interface RunningTarget {
  name: TargetName;
  namespace: Namespace;
  /** The client port (9421) on namespace.address. */
  port: number;
  /** One line describing what runs (version, profile), for the report. */
  description: string;
  stop(): Promise<void>;
}
