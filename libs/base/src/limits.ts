/**
 * Every limit of the system has a name and lives here, with one line on what it protects.
 * limits.test.ts asserts how they relate to each other.
 */

/** Largest client→master payload mfsmaster accepts (CLTOMA_MAXPACKETSIZE); larger closes the link. */
export const clientPacketBytesMax = 50_000_000;
/** Largest chunkserver→master payload (CSTOMA_MAXPACKETSIZE). */
export const chunkserverPacketBytesMax = 500_000_000;
/** Largest master→chunkserver payload a 3.0.117 chunkserver accepts (MATOCS_MAXPACKETSIZE). */
export const masterToChunkserverPacketBytesMax = 10_000;
/** Longest file name (NAME is length:8). */
export const nameBytesMax = 255;
/** Longest symlink target / path MooseFS stores (MFS_PATH_MAX). */
export const pathBytesMax = 1024;
/** Most supplementary groups a request may carry (MFS_GIDS_MAX in mfsmaster). */
export const groupsMax = 256;
/** Longest xattr name and value, and the longest xattr name list (MooseFS limits; ERANGE beyond). */
export const xattrNameBytesMax = 255;
export const xattrValueBytesMax = 65_536;
export const xattrListBytesMax = 65_536;
/** Most named ACL entries per ACL (each of users and groups). */
export const aclEntriesMax = 4096;
/** Most entries in one SUSTAINED_INODES / AMTIME_INODES packet we accept. */
export const inodeListEntriesMax = 1_000_000;

/** mfsmount reserves inodes >= this for its own special files; never allocate them. */
export const inodeReservedMin = 0x7ffffff0;
/** The root directory's inode. */
export const rootInode = 1;

/** Inode layout (ARCHITECTURE §3): slot:11 | local:20. Change only with a migration story. */
export const slotBits = 11;
export const localBits = 20;
export const slotCount = 1 << slotBits;
export const inodesPerSlot = 1 << localBits;

/** Chunk size: 64 MiB = 1024 blocks of 64 KiB. */
export const chunkBytes = 64 * 1024 * 1024;

/** Default trash time for new files (seconds), as mfsmaster's default. */
export const trashTimeDefaultSeconds = 86_400;
/** Default goal (number of copies) for new files, as mfsmaster's default. */
export const goalDefault = 1;
/** Disconnected sessions are kept this long so the same mount can reconnect (SESSION_SUSTAIN_TIME). */
export const sessionSustainSeconds = 86_400;

/** The MooseFS version Antler announces: 3.0.117 community (major<<16 | mid<<8 | minor*2). */
export const announcedVersion = 0x000300ea;
