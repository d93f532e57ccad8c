/**
 * The leader's view of the live chunkservers (soft state from the registry, never logged) and the
 * deterministic choices made from it: which servers get a new chunk, the order copies are offered
 * to clients, which copy goes when there are too many.
 *
 * mfsmaster picks creation servers by weighted random over the least used ones. Here the choice is
 * deterministic (the core has no randomness): servers are ranked by used space in whole percent,
 * and within a percent by a mix of the chunk id and csid, so equally used servers share new chunks
 * instead of the lowest csid taking them all.
 */
import { limits } from "@antler/base";
import type { ChunkserverView } from "../api.ts";

export class ServerView {
  #byCsid = new Map<number, ChunkserverView>();

  replace(servers: readonly ChunkserverView[]): void {
    this.#byCsid = new Map(servers.map((s) => [s.csid, s]));
  }

  get(csid: number): ChunkserverView | undefined {
    return this.#byCsid.get(csid);
  }

  isLive(csid: number): boolean {
    return this.#byCsid.has(csid);
  }

  all(): ChunkserverView[] {
    return [...this.#byCsid.values()];
  }

  /** Servers that take new copies: registered (not in maintenance) with room for a whole chunk. */
  writable(): ChunkserverView[] {
    return this.all().filter((s) => s.state === "registered" && s.availSpace >= chunkSpaceNeeded);
  }
}

/** A new copy may grow to a full chunk plus its header. */
const chunkSpaceNeeded = BigInt(limits.chunkBytes + limits.chunkHeaderBytes);

/** Used space in whole percent (0..100); a server reporting no total counts as full. */
export function usedPercent(s: ChunkserverView): number {
  if (s.totalSpace <= 0n) return 100;
  const used = s.totalSpace - s.availSpace;
  // A report with more free than total space (a racing update) counts as empty, not as negative.
  return used <= 0n ? 0 : Math.min(100, Number((used * 100n) / s.totalSpace));
}

/** A cheap deterministic spread of (chunk, server) pairs (64-bit multiplicative mix). */
function mix(chunkId: bigint, csid: number): bigint {
  const x = (chunkId ^ (BigInt(csid) * 0x9e3779b97f4a7c15n)) & 0xffffffffffffffffn;
  return ((x ^ (x >> 29n)) * 0xbf58476d1ce4e5b9n) & 0xffffffffffffffffn;
}

/** Least used first; ties spread by chunk id; csid last so the order is total. */
export function rankForChunk(servers: readonly ChunkserverView[], chunkId: bigint): ChunkserverView[] {
  return [...servers].sort((a, b) => {
    const byUse = usedPercent(a) - usedPercent(b);
    if (byUse !== 0) return byUse;
    const ma = mix(chunkId, a.csid);
    const mb = mix(chunkId, b.csid);
    if (ma !== mb) return ma < mb ? -1 : 1;
    return a.csid - b.csid;
  });
}

/** Servers for a new chunk: min(goal, writable servers), best ranked first. */
export function creationServers(view: ServerView, chunkId: bigint, goal: number): number[] {
  return rankForChunk(view.writable(), chunkId).slice(0, Math.max(goal, 1)).map((s) => s.csid);
}

/**
 * The order copies are offered to a client: registered servers before those in maintenance
 * (about to go away), then spread by chunk id so reads of different chunks hit different servers.
 */
export function offerOrder(view: ServerView, csids: readonly number[], chunkId: bigint): number[] {
  const live = csids.map((c) => view.get(c)).filter((s): s is ChunkserverView => s !== undefined);
  const registered = live.filter((s) => s.state === "registered");
  const maintenance = live.filter((s) => s.state !== "registered");
  const spread = (list: ChunkserverView[]): number[] => [...list]
    .sort((a, b) => {
      const ma = mix(chunkId, a.csid);
      const mb = mix(chunkId, b.csid);
      return ma !== mb ? (ma < mb ? -1 : 1) : a.csid - b.csid;
    })
    .map((s) => s.csid);
  return [...spread(registered), ...spread(maintenance)];
}
