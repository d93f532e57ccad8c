/**
 * A short fingerprint of a command's content. The gateway stores it with each unanswered request
 * of a session: a packet mfsmount re-sends after reconnecting is recognised as the same request
 * (and given the original request id) only when its msgid AND its content match. Fingerprints are
 * only ever compared with the one stored for the same session and msgid, so 64 bits are ample.
 */
import type { Command } from "./command.ts";

/** Stable text of a command: bigints and byte strings spelled out, fields in the sender's order. */
function canonical(cmd: Command): string {
  return JSON.stringify(cmd, (_key, value: unknown) => {
    if (typeof value === "bigint") return `${value}n`;
    if (value instanceof Uint8Array) return Array.from(value);
    return value;
  });
}

/** Two 32-bit FNV-1a hashes with different seeds (64 bits together), as 16 hex digits. */
export function commandFingerprint(cmd: Command): string {
  const text = canonical(cmd);
  let a = 0x811c9dc5;
  let b = 0x5bd1e995;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ ((c << 7) | (c >>> 9)), 0x01000193);
  }
  return (a >>> 0).toString(16).padStart(8, "0") + (b >>> 0).toString(16).padStart(8, "0");
}
