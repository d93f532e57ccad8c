/**
 * Decoding a MetaRequest ({ ctx, cmd }) from a request body. Only the envelope is checked here
 * (the command's own fields are the state machine's to validate); anything else is null and the
 * caller answers EINVAL.
 */
import { CodecError, decodeMessage, type MetaRequest } from "@antler/ops";

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
