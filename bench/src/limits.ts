/**
 * The benchmark's own limits and timings, each with what it protects. They belong to an operator
 * tool, not to the metadata protocol, so they live here and not in @antler/base.
 */

/** Largest master→client frame payload the load generator buffers (a READDIR of a huge dir). */
export const replyBytesMax = 64 * 1024 * 1024;
/** A request without a reply after this long counts as an error and its slot moves on. */
export const requestTimeoutMs = 10_000;
/** TCP connect + REGISTER must finish within this long. */
export const registerTimeoutMs = 5_000;
/** The load generator sends a NOP when it has been silent this long (mfsmaster drops after 10 s). */
export const keepaliveIdleMs = 2_000;
/** Progress lines go to stderr about this often while a phase runs. */
export const progressIntervalMs = 1_000;

/** One phase stops after this long even if not all its operations ran (reported as truncated). */
export const phaseSecondsDefault = 300;
export const phaseSecondsMax = 3_600;
/** Bounds on user-settable sizes, to catch typos like --sessions 10000. */
export const sessionsMax = 256;
export const inflightPerSessionMax = 1_024;
export const opsMax = 10_000_000;
export const roundsMax = 50;
/** Files (and directories) per bucket directory, as mdtest's items per directory. */
export const entriesPerDirDefault = 100;
export const entriesPerDirMax = 100_000;

/** A server (mfsmaster, Antler, mfsmount) that does not serve within this long fails the run. */
export const serverReadyTimeoutMs = 120_000;
/** Readiness probes repeat this often. */
export const pollIntervalMs = 50;
/** Graceful stop: SIGTERM (or `antler down`), then SIGKILL after this long. */
export const stopGraceMs = 20_000;
/** The load-generator child gets this long beyond its phase budget before it is killed. */
export const childSlackMs = 60_000;
/** Bytes of a child's stdout kept (its JSON result); more is a protocol error. */
export const childStdoutBytesMax = 64 * 1024 * 1024;
