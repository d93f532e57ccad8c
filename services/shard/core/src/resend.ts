/**
 * Re-sent client packets (Ctx.resendKey / maybeResend). mfsmount re-sends an unanswered request
 * after it reconnects, with the same msgid but a new requestId, so the requestId memory cannot
 * recognise it. Each log entry made for a command that carried a resendKey remembers, under that
 * key, a fingerprint of the command's content and its result; a command marked maybeResend whose
 * key and fingerprint match is answered from memory instead of running again (a re-sent CREATE
 * neither creates twice nor fails with EEXIST). Filled by applying entries, so every replica has
 * the same memory. Bounded: the oldest keys are forgotten first.
 */
import { limits } from "@antler/base";
import type { Command, Ctx, Result } from "@antler/ops";
import type { State } from "./state.ts";

/** Stable text of a command: bigints and byte strings spelled out, fields in the sender's order. */
function canonical(cmd: Command): string {
  return JSON.stringify(cmd, (_key, value: unknown) => {
    if (typeof value === "bigint") return `${value}n`;
    if (value instanceof Uint8Array) return Array.from(value);
    return value;
  });
}

/**
 * Two 32-bit FNV-1a hashes with different seeds (64 bits together): a short fingerprint that is
 * only ever compared with the one remembered under the same resend key.
 */
export function fingerprintOf(cmd: Command): string {
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

export function rememberResend(st: State, key: string, fingerprint: string, result: Result): void {
  st.resends.delete(key);
  st.resends.set(key, { fingerprint, result });
  if (st.resends.size > limits.resendKeysRememberedMax) {
    const oldest = st.resends.keys().next();
    if (oldest.done !== true) st.resends.delete(oldest.value);
  }
}

/** The remembered result for a re-sent command, or undefined when it must run. */
export function recalledResend(st: State, ctx: Ctx, cmd: Command): Result | undefined {
  if (ctx.maybeResend !== true || ctx.resendKey === undefined) return undefined;
  const memory = st.resends.get(ctx.resendKey);
  return memory !== undefined && memory.fingerprint === fingerprintOf(cmd) ? memory.result : undefined;
}

/** The `resend` field of an entry made for `cmd` under `ctx`. */
export function resendOf(ctx: Ctx, cmd: Command): { key: string; fingerprint: string } | undefined {
  return ctx.resendKey === undefined ? undefined : { key: ctx.resendKey, fingerprint: fingerprintOf(cmd) };
}
