export { isAllocatableInode, localOfInode, makeChunkId, makeInode, slotOfChunkId, slotOfInode } from "./layout.ts";
export { createPlacement, initialAssignment, type Placement } from "./placement.ts";
