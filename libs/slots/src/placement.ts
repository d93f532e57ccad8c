/**
 * Where new things go, decided by BLAKE3 (hash-wasm's WASM build: the fastest measured here, no
 * install scripts; see shared deps.md §4):
 * - a new directory's slot is BLAKE3(parent ‖ name) mod slotCount, so directories spread evenly;
 * - a slot's initial shard is the rendezvous winner argmax_shard BLAKE3(slot ‖ shard), so adding a
 *   shard moves only about 1/N of the slots.
 * Integers are hashed as 4 big-endian bytes. The functions are deterministic and synchronous once
 * the hasher exists (creating it is the only asynchronous step: WASM instantiation).
 */
import { assert, limits } from "@antler/base";
import { createBLAKE3, type IHasher } from "hash-wasm";

export interface Placement {
  /** BLAKE3 of arbitrary bytes (32 bytes). */
  hash(bytes: Uint8Array): Uint8Array;
  /** The slot of a new directory `name` under `parent`; `name` is a byte string. */
  directorySlot(parent: number, name: string): number;
  /** The shard among `shardIds` that wins `slot` by rendezvous hashing. */
  rendezvousShard(slot: number, shardIds: readonly number[]): number;
}

function be32(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, value >>> 0, false);
}

export async function createPlacement(): Promise<Placement> {
  const hasher: IHasher = await createBLAKE3();
  const hash = (bytes: Uint8Array): Uint8Array => {
    hasher.init();
    hasher.update(bytes);
    return hasher.digest("binary");
  };
  const scratch = new Uint8Array(8);
  const scratchView = new DataView(scratch.buffer);
  return {
    hash,
    directorySlot(parent, name) {
      const input = new Uint8Array(4 + name.length);
      be32(new DataView(input.buffer), 0, parent);
      for (let i = 0; i < name.length; i++) {
        const code = name.charCodeAt(i);
        assert(code < 256, "name is not a byte string");
        input[4 + i] = code;
      }
      const digest = hash(input);
      // slotCount divides 2^32, so the low bits of the first word are uniform.
      return new DataView(digest.buffer, digest.byteOffset).getUint32(0, false) % limits.slotCount;
    },
    rendezvousShard(slot, shardIds) {
      assert(shardIds.length > 0, "no shards");
      let best = -1;
      let bestScore = -1n;
      for (const shard of shardIds) {
        be32(scratchView, 0, slot);
        be32(scratchView, 4, shard);
        const digest = hash(scratch);
        const score = new DataView(digest.buffer, digest.byteOffset).getBigUint64(0, false);
        if (score > bestScore || (score === bestScore && shard < best)) {
          best = shard;
          bestScore = score;
        }
      }
      return best;
    },
  };
}

/** The initial slot → shard assignment for shards 0..shardCount-1. */
export function initialAssignment(placement: Placement, shardCount: number): number[] {
  assert(Number.isInteger(shardCount) && shardCount >= 1, "shard count must be >= 1");
  const shardIds = Array.from({ length: shardCount }, (_, i) => i);
  return Array.from({ length: limits.slotCount }, (_, slot) => placement.rendezvousShard(slot, shardIds));
}
