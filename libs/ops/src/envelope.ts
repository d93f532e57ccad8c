/**
 * The envelopes services exchange on NATS, decoded defensively: a MetaRequest ({ ctx, cmd }) as
 * shards and the coordinator receive it, and a Result as routers and the coordinator read shard
 * replies. Only the envelope is checked (a command's own fields are the state machine's to
 * validate); anything else is null and the receiver answers EINVAL or treats it as no answer.
 */
import { CodecError, decodeMessage } from "./codec.ts";
import type { Result } from "./result.ts";
import type { MetaRequest } from "./transport.ts";

const isUint32 = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;

export function parseMetaRequest(data: Uint8Array): MetaRequest | null {
  let value: unknown;
  try {
    value = decodeMessage(data);
  } catch (err) {
    if (err instanceof CodecError) return null;
    throw err;
  }
  if (value === null || typeof value !== "object") return null;
  const { ctx, cmd } = value as { ctx?: unknown; cmd?: unknown };
  if (ctx === null || typeof ctx !== "object" || cmd === null || typeof cmd !== "object") return null;
  const c = ctx as Record<string, unknown>;
  if (!isUint32(c.sessionId) || !isUint32(c.uid) || !isUint32(c.sesflags) || !isUint32(c.rootInode)) return null;
  if (!Array.isArray(c.gids) || c.gids.length === 0 || !c.gids.every(isUint32)) return null;
  if (c.requestId !== undefined && typeof c.requestId !== "string") return null;
  if (typeof (cmd as { kind?: unknown }).kind !== "string") return null;
  return value as MetaRequest;
}

/** A reply body as a Result ({ status: number, … }), or null when it is not one. */
export function parseResult(data: Uint8Array): Result | null {
  try {
    const value = decodeMessage(data) as { status?: unknown } | null;
    return value !== null && typeof value === "object" && typeof value.status === "number" ? (value as Result) : null;
  } catch {
    return null;
  }
}
