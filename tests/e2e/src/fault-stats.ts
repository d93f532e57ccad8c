// The fault test's arithmetic: the stall a client saw around one kill, percentiles, and the
// summary table printed at the end (Antler and mfsmaster side by side). Pure: no I/O, no clock.

/**
 * The longest client-visible stall of one round: the longest gap between consecutive
 * acknowledgements that ends after the kill (so the gap the kill fell into counts whole, and so
 * does any later hiccup until the round ends). When nothing was acknowledged after the kill,
 * the gap runs from the last acknowledgement to `endMs`.
 */
export function longestStall(acknowledgedAtMs: readonly number[], killAtMs: number, endMs: number): number {
  let previous: number | undefined;
  let longest = 0;
  let sawAfterKill = false;
  for (const at of acknowledgedAtMs) {
    if (at > endMs) break;
    if (at >= killAtMs) {
      sawAfterKill = true;
      longest = Math.max(longest, at - (previous ?? killAtMs));
    }
    previous = at;
  }
  if (!sawAfterKill) longest = Math.max(longest, endMs - (previous ?? killAtMs));
  return longest;
}

/** Nearest-rank percentile (p in 0..100) of `values`; NaN for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

export interface RoundResult {
  /** "Antler" or "mfsmaster". */
  readonly system: string;
  /** What was killed: "shard leader", "gateway", "router", "NATS (log leader)", "redis", "mfsmaster". */
  readonly kind: string;
  /** The process killed (name and PID). */
  readonly target: string;
  /** Longest gap between acknowledged creates around the kill, in ms. */
  readonly stallMs: number;
  /** Acknowledged creates missing after the round. */
  readonly lost: readonly string[];
  /** Creates that returned an error during the round. */
  readonly failedCreates: readonly string[];
}

export interface KindSummary {
  readonly system: string;
  readonly kind: string;
  readonly rounds: number;
  readonly stallP50Ms: number;
  readonly stallMaxMs: number;
  readonly lost: number;
  readonly roundsWithLoss: number;
  readonly failedCreates: number;
}

/** One line per (system, kind), in the order the kinds first appear. */
export function summarize(rounds: readonly RoundResult[]): KindSummary[] {
  const groups = new Map<string, RoundResult[]>();
  for (const round of rounds) {
    const key = `${round.system}\u0000${round.kind}`;
    const group = groups.get(key) ?? [];
    group.push(round);
    groups.set(key, group);
  }
  return [...groups.values()].map((group) => {
    const stalls = group.map((round) => round.stallMs);
    return {
      system: group[0]!.system,
      kind: group[0]!.kind,
      rounds: group.length,
      stallP50Ms: percentile(stalls, 50),
      stallMaxMs: Math.max(...stalls),
      lost: group.reduce((sum, round) => sum + round.lost.length, 0),
      roundsWithLoss: group.filter((round) => round.lost.length > 0).length,
      failedCreates: group.reduce((sum, round) => sum + round.failedCreates.length, 0),
    };
  });
}

/** A fixed-width text table of the summaries. */
export function formatSummary(summaries: readonly KindSummary[]): string {
  const header = ["system", "fault", "rounds", "stall p50 ms", "stall max ms", "lost acked creates", "failed creates"];
  const rows = summaries.map((line) => [
    line.system,
    line.kind,
    String(line.rounds),
    String(Math.round(line.stallP50Ms)),
    String(Math.round(line.stallMaxMs)),
    line.lost === 0 ? "0" : `${line.lost} (in ${line.roundsWithLoss} of ${line.rounds} rounds)`,
    String(line.failedCreates),
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const format = (row: readonly string[]): string =>
    row.map((cell, column) => (column >= 2 ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!))).join("  ");
  return [format(header), widths.map((width) => "-".repeat(width)).join("  "), ...rows.map(format)].join("\n");
}
