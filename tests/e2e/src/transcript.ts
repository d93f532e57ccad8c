// Transcripts: what a workload observed, as normalised text lines that two clusters must agree
// on. Normalising keeps what POSIX and MooseFS promise (file types, modes, link counts, owners,
// sizes, names, link targets, xattr values, errno names, exit codes) and drops what legitimately
// differs between runs (inode numbers, clock times, directory order where it is unspecified).
// Comparing is a line diff, printed in unified format so a failure shows exactly which step
// answered differently.

/** One observation: the step that made it and its normalised text. */
export interface TranscriptLine {
  readonly step: string;
  readonly text: string;
}

/** The subset of fs.Stats a transcript keeps. */
export interface StatLike {
  readonly mode: number;
  readonly nlink: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
}

const fileTypes: ReadonlyArray<readonly [number, string]> = [
  [0o140000, "socket"],
  [0o120000, "symlink"],
  [0o100000, "file"],
  [0o060000, "blockdev"],
  [0o040000, "dir"],
  [0o020000, "chardev"],
  [0o010000, "fifo"],
];

export function fileTypeName(mode: number): string {
  const format = mode & 0o170000;
  return fileTypes.find(([bits]) => bits === format)?.[1] ?? `type-0${format.toString(8)}`;
}

/** Permission bits including suid/sgid/sticky, as four octal digits ("4755"). */
export function formatMode(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, "0");
}

/** "file mode=0644 nlink=1 uid=0 gid=0 size=0": everything but inode numbers and times. */
export function formatStat(stat: StatLike): string {
  return `${fileTypeName(stat.mode)} mode=${formatMode(stat.mode)} nlink=${stat.nlink} uid=${stat.uid} gid=${stat.gid} size=${stat.size}`;
}

/**
 * The errno name of a failed system call ("ENOENT"), from a Node error's `code` or, for
 * anything else, a stable marker that still fails a comparison with a real errno.
 */
export function formatError(error: unknown): string {
  if (typeof error === "object" && error !== null && "code" in error && typeof error.code === "string") {
    return /^E[A-Z0-9]+$/.test(error.code) ? error.code : `error:${error.code}`;
  }
  return `error:${error instanceof Error ? error.name : typeof error}`;
}

/** Names in a listing whose order is unspecified (readdir, listxattr), sorted by code unit. */
export function sortedNames(names: readonly string[]): string {
  return `[${[...names].sort(compareCodeUnits).join(",")}]`;
}

function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Collapses runs of whitespace so column alignment in tool output does not matter. */
export function squashSpaces(text: string): string {
  return text.trim().replace(/\s+/g, " ");
}

/** An xattr value (hex): printable ASCII as quoted text, short binary as hex, long as a digest. */
export function formatXattrValue(hex: string): string {
  const bytes = (hex.match(/../g) ?? []).map((pair) => parseInt(pair, 16));
  if (bytes.every((byte) => byte >= 0x20 && byte < 0x7f) && bytes.length <= 256) return JSON.stringify(String.fromCharCode(...bytes));
  if (bytes.length <= 64) return `hex:${hex}`;
  return `${bytes.length} bytes fnv1a=${fnv1a32(bytes).toString(16).padStart(8, "0")}`;
}

/** Long names and values keep their start, their length and a digest, so lines stay readable. */
export function abbreviate(text: string, maxChars = 100): string {
  if (text.length <= maxChars) return text;
  const codes = Array.from(new TextEncoder().encode(text));
  return `${text.slice(0, 16)}…(${text.length} chars fnv1a=${fnv1a32(codes).toString(16).padStart(8, "0")})`;
}

/** 32-bit FNV-1a: a short, stable digest for long values in a transcript. */
export function fnv1a32(bytes: readonly number[]): number {
  let hash = 0x811c9dc5;
  for (const byte of bytes) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return hash;
}

export function renderTranscript(lines: readonly TranscriptLine[]): string[] {
  return lines.map((line) => `${line.step}: ${line.text}`);
}

// ---------------------------------------------------------------------------------------------
// Unified diff over lines (longest common subsequence; transcripts are a few hundred lines).

export interface DiffOptions {
  readonly contextLines?: number;
  readonly expectedLabel?: string;
  readonly actualLabel?: string;
}

type Edit = { readonly kind: " " | "-" | "+"; readonly text: string; readonly expectedIndex: number; readonly actualIndex: number };

/** Returns "" when the inputs are equal, else a unified diff from `expected` to `actual`. */
export function unifiedDiff(expected: readonly string[], actual: readonly string[], options: DiffOptions = {}): string {
  const contextLines = options.contextLines ?? 3;
  const edits = diffLines(expected, actual);
  if (edits.every((edit) => edit.kind === " ")) return "";
  const output = [`--- ${options.expectedLabel ?? "expected"}`, `+++ ${options.actualLabel ?? "actual"}`];
  for (const [start, end] of hunkRanges(edits, contextLines)) {
    const hunk = edits.slice(start, end);
    const first = hunk[0]!;
    const expectedCount = hunk.filter((edit) => edit.kind !== "+").length;
    const actualCount = hunk.filter((edit) => edit.kind !== "-").length;
    output.push(`@@ -${rangeStart(first.expectedIndex, expectedCount)},${expectedCount} +${rangeStart(first.actualIndex, actualCount)},${actualCount} @@`);
    for (const edit of hunk) output.push(`${edit.kind}${edit.text}`);
  }
  return `${output.join("\n")}\n`;
}

/** Unified diff ranges are 1-based, except that an empty range names the line before it. */
function rangeStart(index: number, count: number): number {
  return count === 0 ? index : index + 1;
}

function diffLines(expected: readonly string[], actual: readonly string[]): Edit[] {
  const rows = expected.length;
  const columns = actual.length;
  // lcs[i][j] = length of the longest common subsequence of expected[i..] and actual[j..].
  const lcs: Uint32Array[] = Array.from({ length: rows + 1 }, () => new Uint32Array(columns + 1));
  for (let i = rows - 1; i >= 0; i--) {
    for (let j = columns - 1; j >= 0; j--) {
      lcs[i]![j] = expected[i] === actual[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const edits: Edit[] = [];
  let i = 0;
  let j = 0;
  while (i < rows || j < columns) {
    if (i < rows && j < columns && expected[i] === actual[j]) {
      edits.push({ kind: " ", text: expected[i]!, expectedIndex: i, actualIndex: j });
      i++;
      j++;
    } else if (i < rows && (j === columns || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      // Deletions first on a tie, so a changed line reads "-old" then "+new".
      edits.push({ kind: "-", text: expected[i]!, expectedIndex: i, actualIndex: j });
      i++;
    } else {
      edits.push({ kind: "+", text: actual[j]!, expectedIndex: i, actualIndex: j });
      j++;
    }
  }
  return edits;
}

/** [start, end) ranges of edits to print: each change with `context` unchanged lines around. */
function hunkRanges(edits: readonly Edit[], context: number): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  edits.forEach((edit, index) => {
    if (edit.kind === " ") return;
    const start = Math.max(0, index - context);
    const end = Math.min(edits.length, index + context + 1);
    const last = ranges[ranges.length - 1];
    if (last !== undefined && start <= last[1]) last[1] = Math.max(last[1], end);
    else ranges.push([start, end]);
  });
  return ranges;
}

/** Steps whose lines differ between two transcripts, in the expected transcript's order. */
export function differingSteps(expected: readonly TranscriptLine[], actual: readonly TranscriptLine[]): string[] {
  const steps = [...new Set([...expected, ...actual].map((line) => line.step))];
  return steps.filter((step) => {
    const a = expected.filter((line) => line.step === step).map((line) => line.text);
    const b = actual.filter((line) => line.step === step).map((line) => line.text);
    return a.length !== b.length || a.some((text, index) => text !== b[index]);
  });
}
