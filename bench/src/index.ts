/**
 * @antler/bench: Antler side by side with mfsmaster (docs/benchmarks.md). The entry point is
 * cli.ts (`npm run bench`); these exports let other packages reuse the pieces, e.g. an e2e test
 * that puts protocol-level load on a cluster.
 */
export { Histogram, HistogramFormatError, type HistogramJson } from "./histogram.ts";
export { runProtocolWorkload, protocolPhases, type ProtocolWorkloadConfig, type ProtocolPhase } from "./protocol-workload.ts";
export { runMountWorkload, mountPhases, type MountWorkloadConfig, type MountPhase } from "./mount-workload.ts";
export { Session, SessionClosedError, RequestTimeoutError, type SessionOptions, type Timed } from "./session.ts";
export { type LoadResult, type PhaseResult, type PhaseSummary, summarizePhase, parseLoadResult, ResultFormatError } from "./result.ts";
export { computeBreakdown, hops, commandGroups, type Breakdown, type CommandBreakdown, type GroupBreakdown, type Hop, type Stats } from "./breakdown.ts";
export { readSpanFiles, parseSpanLine, type SpanFiles } from "./span-files.ts";
