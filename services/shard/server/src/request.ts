/**
 * Decoding a MetaRequest ({ ctx, cmd }) from a request body: @antler/ops parseMetaRequest (the
 * coordinator reads the same envelope), re-exported here where the shard server's callers find it.
 */
export { parseMetaRequest } from "@antler/ops";
