/**
 * The routing key of a request: header `Antler-Slot`, the decimal slot of the inode that owns the
 * request, or "*" for requests every shard must see (statfs, session bookkeeping).
 */
import { limits } from "@antler/base";

export type SlotTarget = { readonly slot: number } | "all";

/** The target named by the header, or null when it is missing or malformed. */
export function parseSlotHeader(text: string): SlotTarget | null {
  if (text === "*") return "all";
  if (!/^(0|[1-9]\d{0,5})$/.test(text)) return null;
  const slot = Number(text);
  return slot < limits.slotCount ? { slot } : null;
}
