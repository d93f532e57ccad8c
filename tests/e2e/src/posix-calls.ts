// Bridge to posix_ops.py: a batch of system calls run by /usr/bin/python3, optionally as another
// user (through setpriv), each answered with a value or an errno name. Used for what Node's fs
// cannot do: act as an unprivileged uid inside one process, and extended attributes.

import { readFileSync } from "node:fs";
import { describeFailure, run } from "./proc.ts";

// Passed with -c: the unprivileged user need not be able to read the repository.
const script = readFileSync(new URL("./posix_ops.py", import.meta.url), "utf8");
const python = "/usr/bin/python3";
const batchTimeoutMs = 60_000;

export type PosixCall =
  | readonly ["mkdir", string, number]
  | readonly ["create", string, number]
  | readonly ["open_read" | "open_write" | "unlink" | "rmdir" | "utime_now", string]
  | readonly ["rename" | "link" | "symlink", string, string]
  | readonly ["chmod", string, number]
  | readonly ["chown" | "lchown", string, number, number]
  | readonly ["utime", string, number, number]
  | readonly ["truncate", string, number]
  | readonly ["stat" | "lstat" | "listdir" | "listxattr", string]
  | readonly ["setxattr" | "lsetxattr", string, string, string, "" | "create" | "replace"]
  | readonly ["getxattr" | "removexattr", string, string];

export type PosixResult = { readonly ok: unknown } | { readonly errno: string };

/** A user to run as: uid and gid, with no supplementary groups. */
export interface Credentials {
  readonly uid: number;
  readonly gid: number;
}

/** The argv prefix that runs a command as `user` (or nothing for root). */
export function asUserPrefix(user: Credentials | undefined): string[] {
  if (user === undefined) return [];
  return ["setpriv", `--reuid=${user.uid}`, `--regid=${user.gid}`, "--clear-groups", "--"];
}

export async function posixCalls(calls: readonly PosixCall[], user?: Credentials): Promise<PosixResult[]> {
  const result = await run([...asUserPrefix(user), python, "-c", script], {
    timeoutMs: batchTimeoutMs,
    input: JSON.stringify(calls),
  });
  if (result.code !== 0) throw new Error(describeFailure(result));
  const parsed: unknown = JSON.parse(result.stdout);
  if (!Array.isArray(parsed) || parsed.length !== calls.length) {
    throw new Error(`posix_ops.py answered ${calls.length} calls with: ${result.stdout}`);
  }
  return parsed as PosixResult[];
}
