/**
 * The caller's identity in FUSE requests (protocol §3.1):
 *
 *   CRED = uid:32 gcnt:32 gcnt × [ gid:32 ]     (3.0.117 client, "full permissions")
 *        | uid:32 gid:32                        (old form: the caller has no group list)
 *
 * The two forms are told apart by the bytes the message leaves for the block, as mfsmaster does:
 * exactly 8 bytes is the old form (mfsmount then sends gid 0xFFFFFFFF), anything else must be
 * `8 + 4·gcnt` with gcnt within limits.groupsMax.
 */
import { limits } from "@antler/base";
import { DecodeError } from "./errors.ts";
import type { Reader } from "./reader.ts";
import type { Writer } from "./writer.ts";

export interface Credentials {
  readonly uid: number;
  /** gids[0] is the primary group. One entry in the "single" form. */
  readonly gids: readonly number[];
  /** "list" = uid gcnt gids…; "single" = the old uid gid form. Kept so re-encoding is exact. */
  readonly form: "list" | "single";
}

/** Reads a CRED block that is followed by exactly `trailingBytes` more bytes of the message. */
export function readCredentials(reader: Reader, trailingBytes: number, what: string): Credentials {
  const credBytes = reader.remaining - trailingBytes;
  if (credBytes < 8) throw new DecodeError(`${what}: ${credBytes} bytes left for credentials, need at least 8`);
  const uid = reader.u32("uid");
  if (credBytes === 8) return { uid, gids: [reader.u32("gid")], form: "single" };
  const gcnt = reader.u32("gcnt");
  if (gcnt > limits.groupsMax) throw new DecodeError(`${what}: ${gcnt} groups, max ${limits.groupsMax}`);
  if (credBytes !== 8 + 4 * gcnt) throw new DecodeError(`${what}: credentials take ${credBytes} bytes, gcnt ${gcnt} says ${8 + 4 * gcnt}`);
  const gids: number[] = [];
  for (let i = 0; i < gcnt; i++) gids.push(reader.u32("gid"));
  return { uid, gids, form: "list" };
}

export function writeCredentials(writer: Writer, credentials: Credentials): void {
  writer.u32(credentials.uid);
  if (credentials.form === "single") {
    writer.u32(credentials.gids[0] ?? 0xffffffff);
    return;
  }
  writer.u32(credentials.gids.length);
  for (const gid of credentials.gids) writer.u32(gid);
}
