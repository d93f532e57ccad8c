/**
 * Message codes of the chunkserver⇄master link (port 9420), with MooseFS's names
 * (MFSCommunication.h, v3.0.117, PROTO_BASE 0) so `grep` works across both codebases.
 * This link carries no msgid: replies to chunk operations are matched by chunkid and type.
 */
export const ANTOAN_NOP = 0;
/** Sent by a peer that did not understand us; mfsmaster ignores both ("for future use"). */
export const ANTOAN_UNKNOWN_COMMAND = 1;
export const ANTOAN_BAD_COMMAND_SIZE = 2;

export const CSTOMA_REGISTER = 100;
export const CSTOMA_SPACE = 101;
export const CSTOMA_CHUNK_DAMAGED = 102;
export const CSTOMA_CURRENT_LOAD = 103;
export const MATOCS_MASTER_ACK = 104;
export const CSTOMA_CHUNK_LOST = 105;
export const CSTOMA_ERROR_OCCURRED = 106;
export const CSTOMA_CHUNK_NEW = 107;
export const CSTOMA_LABELS = 109;

export const MATOCS_CREATE = 110;
export const CSTOMA_CREATE = 111;
export const MATOCS_DELETE = 120;
export const CSTOMA_DELETE = 121;
export const MATOCS_DUPLICATE = 130;
export const CSTOMA_DUPLICATE = 131;
export const MATOCS_SET_VERSION = 140;
export const CSTOMA_SET_VERSION = 141;
export const MATOCS_REPLICATE = 150;
export const CSTOMA_REPLICATE = 151;
export const MATOCS_TRUNCATE = 160;
export const CSTOMA_TRUNCATE = 161;
export const MATOCS_DUPTRUNC = 170;
export const CSTOMA_DUPTRUNC = 171;

/** The first byte of a CSTOMA_REGISTER payload ("rver"): which step of registration it is. */
export const RegisterStep = {
  /** Version-5 fallback (a CS whose version-6 attempts were killed three times). */
  BEGIN_V5: 50,
  CHUNKS_V5: 51,
  END_V5: 52,
  /** Version 6: what a 3.0.117 chunkserver sends. */
  BEGIN: 60,
  CHUNKS: 61,
  END: 62,
  /** Graceful disconnect: the CS is going down on purpose. */
  BYE: 63,
} as const;

/** CSTOMA_CURRENT_LOAD's hlstatus (heavy-load status). */
export const HlStatus = {
  DEFAULT: 0,
  OK: 1,
  OVERLOADED: 2,
  REBALANCE: 3,
} as const;
