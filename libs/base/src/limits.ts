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

// Gateway server (services/gateway/server): calls to the metadata tier, sockets, Redis keys.
/** One NATS request attempt waits this long for the shard's reply before it is retried. */
export const metaRequestAttemptTimeoutMs = 2_000;
/** Backoff between attempts grows from min to max (doubling) while the router/shard restarts. */
export const metaRequestBackoffMinMs = 25;
export const metaRequestBackoffMaxMs = 500;
/** After this long without an answer the client gets a status instead of waiting forever. */
export const metaRequestRetryTotalMs = 30_000;
/** Client requests one gateway keeps in flight to the metadata tier (beyond: reading pauses). */
export const gatewayCallsInFlightMax = 4096;
/** Per connection: unanswered calls before the gateway stops reading that socket. */
export const connectionCallsInFlightMax = 256;
/** Per connection: bytes queued for the socket before the gateway stops reading it. */
export const connectionWriteBufferBytesMax = 8 * 1024 * 1024;
/** Period of the gateway's shared tick (keepalives, timeouts of every connection). */
export const gatewayTickMs = 250;
/** A connected session's TTL in Redis is refreshed this often (it lasts sessionSustainSeconds). */
export const sessionTouchIntervalMs = 60_000;
/** A gateway's liveness key in Redis: refreshed every interval, gone after the TTL. */
export const gatewayLivenessIntervalMs = 1_000;
export const gatewayLivenessTtlMs = 5_000;
/** Most sessions a status listing returns (SCAN is bounded by it). */
export const sessionListMax = 100_000;
/** Graceful shutdown: connections get this long to flush before they are destroyed. */
export const gatewayDrainMs = 2_000;

// Gateway ⇄ chunkserver link (port 9420, protocol §4).
/** A chunkserver that sends timeout 0 gets mfsmaster's default (MATOCS_TIMEOUT); it closes a link silent this long. */
export const chunkserverTimeoutDefaultSeconds = 10;
/** mfsmaster refuses a chunkserver timeout of 1..9 s (keepalives every timeout/3 would be too tight). */
export const chunkserverTimeoutMinSeconds = 10;
/** csid is a u16 on the wire and 0 means "none yet": ids are 1..this. */
export const chunkserverIdMax = 0xffff;
/** Chunk copies one chunkserver link keeps in memory; beyond, they are only counted (a CS with more is not expected). */
export const chunkserverCopiesTrackedMax = 4_000_000;
/** A chunkserver's registry record in Redis lives this long unless its link refreshes it (a dead gateway's CS vanish). */
export const chunkserverRecordTtlMs = 30_000;
/** A connected chunkserver's registry record is rewritten at least this often (refreshes its TTL). */
export const chunkserverRecordRefreshMs = 5_000;
/** STATFS reads the registry's space sum at most this often (cached in between). */
export const chunkserverSpaceCacheMs = 1_000;
/** A chunk operation sent to a chunkserver that has not answered after this long counts as failed (CSNOTPRESENT); well below the gateway's 30 s request budget so the client gets the shard's answer, not a timeout. */
export const chunkOpTimeoutMs = 10_000;
/** A chunk locked by WRITE_CHUNK unlocks by itself after this long without WRITE_CHUNK_END (mfsmaster: 120 s). */
export const chunkWriteLockMs = 120_000;
/** Most chunk commands one housekeeping pass of a shard leader issues (replication/deletion are rate-limited). */
export const chunkHousekeepingCommandsPerPass = 64;
/** How often a shard leader runs chunk housekeeping. */
export const chunkHousekeepingIntervalMs = 1_000;
/** Most copies one chunkscopies/chunksgone command carries (a registration is split into batches this size). */
export const chunkReportBatchMax = 10_000;
/** Most chunkservers' replications one chunkserver serves as a source at a time. */
export const chunkReplicationsPerServerMax = 4;
/** Most chunkserver records a registry listing returns. */
export const chunkserverListMax = 65_535;

// Shard core (services/shard/core): the metadata state machine.
/** Longest symlink target mfsmaster accepts (MFS_SYMLINK_MAX); longer is EINVAL. */
export const symlinkBytesMax = 4096;
/** Most hard links to one node (MAX_ALLOWED_HARD_LINKS default); beyond is NOSPACE. */
export const hardLinksMax = 32_767;
/**
 * Recent client request ids (and their results) a shard remembers to answer retries once. A
 * packet mfsmount re-sends after reconnecting is recognised by its original id, so this bounds how
 * long a reconnect may take: 50,000 mutations are ≥ 10 s at one leader's peak create rate
 * (docs/benchmarks.md), minutes at ordinary rates. About 25 MB of results at the bound.
 */
export const requestIdsRememberedMax = 50_000;
/** Expired trash entries one maintenance log entry purges (keeps entries and pauses small). */
export const trashPurgeBatchMax = 1_000;
/** How long a removed directory entry keeps its tombstone for late/duplicate CRDT deltas. */
export const direntTombstoneRetentionMs = 3_600_000;
/** Tombstones one maintenance log entry drops. */
export const tombstonePurgeBatchMax = 10_000;

/** Largest shard log record (one append = one batch of entries); JetStream's default max payload is 1 MiB. */
export const shardLogRecordBytesMax = 1_000_000;
/** Most state-machine entries in one shard log record (bounds a group-commit batch). */
export const shardLogBatchEntriesMax = 4096;
/** How long JetStream remembers a log append's Nats-Msg-Id, so a retried append is not stored twice. */
export const shardLogDuplicateWindowMs = 120_000;
/** Most shards a cluster may have (a shard owns at least one slot). */
export const shardCountMax = slotCount;

/** Gateway ⇄ mount keepalive: a NOP goes to a registered mount whose output was idle this long. */
export const clientNopIdleMs = 1_000;
/** A mount connection from which nothing was read this long is closed (mfsmaster does the same). */
export const clientReadTimeoutMs = 10_000;
/**
 * A reply counts as received by the mount once its connection stayed open this long after it was
 * written; only then does the gateway forget the request as unanswered. Written bytes are not
 * received bytes: a gateway killed right after a write, or a reset connection, loses them, and
 * mfsmount re-sends the request after reconnecting. Longer keeps more re-sends recognised after
 * lossy networks; shorter narrows the one ambiguity left (a thread whose reply did arrive, whose
 * connection then dropped, and whose next request is identical to the last is answered from memory).
 */
export const replyReceivedAfterMs = 2_000;
/** Requests one mount connection may have waiting for the metadata tier; beyond, it is closed. */
export const clientRequestsInFlightMax = 10_000;
/** A blocking lock that would block is retried (as its TRY variant) this often. */
export const lockRetryIntervalMs = 50;
/** At most this many waiting locks are retried per connection per tick, to bound a tick's work. */
export const lockRetriesPerTickMax = 64;
/** Most blocking lock requests one connection may have waiting at once. */
export const lockWaitersMax = 1_024;

/**
 * Largest piece of a reply sent as one NATS message. NATS refuses messages above the server's
 * max_payload (1 MiB by default); larger replies (a READDIR of a big directory) travel in parts.
 */
export const replyPartBytesMax = 768 * 1024;
/** Largest reply assembled from parts (a READDIR of ~1M entries with attributes fits). */
export const replyBytesMax = 512 * 1024 * 1024;
/** Parts of replies that were never claimed are dropped after this long. */
export const replyPartsRetentionMs = 30_000;

// Shard snapshots (services/shard/server snapshotter, libs/io-nats SnapshotStore; ADR 0006).
/** A snapshot is taken once this many log entries were committed since the previous one. */
export const shardSnapshotEntries = 100_000;
/** ...but at most once per this interval (a snapshot costs a full export in the worker). */
export const shardSnapshotIntervalMinMs = 60_000;
/** A shard with any new entry is snapshotted at least this often, so a slow log is still truncated. */
export const shardSnapshotIntervalMaxMs = 3_600_000;
/** Snapshots kept per shard; the log is truncated only behind the oldest kept one (fallback on corruption). */
export const shardSnapshotsRetained = 2;
/** Object store chunk size of a snapshot (below the JetStream max payload). */
export const shardSnapshotChunkBytes = 512 * 1024;

// Shard leader lease (services/shard/core lease, ARCHITECTURE §4). Budget for a leader's death:
// its last renewal is at most shardLeaseRenewMs old, a standby claims after shardLeaseExpiryMs
// without a change (+ one tick), then a CAS, the log tail and a subscribe (a few ms): ~0.6–0.7 s
// to a serving standby, leaving ~0.3 s of the 1 s target for the gateway's retries (≤ 50 ms apart).
/** A shard leader renews its lease (one KV compare-and-set) this often. */
export const shardLeaseRenewMs = 100;
/**
 * A standby that saw the lease key unchanged this long (its own clock) claims it. 6 renewals: a
 * leader survives event-loop stalls or slow KV writes of up to ~400 ms (seen on a 2-core box at
 * load 15); shorter expiries made loaded leaders lose their lease spuriously.
 */
export const shardLeaseExpiryMs = 600;
/**
 * A leader stops serving once no renewal succeeded for shardLeaseExpiryMs minus this margin,
 * measured from when that renewal was sent: it has stopped before any standby may claim, with
 * room for clock-rate differences and the time between its checks.
 */
export const shardLeaseSelfFenceMarginMs = 100;
/** How often the lease logic is ticked (takeover detection granularity). */
export const shardLeaseTickMs = 25;
/** One lease KV operation (read or CAS) waits this long; a leader must renew within its lease anyway. */
export const shardLeaseOpTimeoutMs = 400;

// Shard core chunk table (services/shard/core/src/chunks).
/** On-disk header of a chunk (MFSHDRSIZE): counted in sizes as mfsmaster does, and needed free on a server for a new copy. */
export const chunkHeaderBytes = 0x2000;
/** Largest chunk index a file may have (MAX_INDEX); beyond is INDEXTOOBIG. */
export const chunkIndexMax = 0x7fffffff;
/** Chunks one housekeeping pass looks at (the rest wait for the next pass; bounds a pass's CPU time). */
export const chunkHousekeepingChunksPerPass = 10_000;

// Gateway → shard retries across a shard leader failover (gateway meta-caller).
/**
 * An attempt still unanswered after this long is sent again (same request id) while it keeps
 * waiting: a request that reached a leader which then died is retried at the new leader instead
 * of waiting out metaRequestAttemptTimeoutMs. Doubles per hedge; far above a healthy reply time.
 */
export const metaRequestHedgeMs = 250;
/** During this first part of a request's retries (a leader failover: lease expiry + takeover)... */
export const metaRequestFailoverWindowMs = 3_000;
/** ...the backoff between attempts that found no responders stays at most this small. */
export const metaRequestFailoverBackoffMs = 50;

// Router: forwarding to a shard whose leader may be changing (services/router).
/**
 * A shard whose lease has not changed for this long (2 renewals) is suspect: the router forwards
 * its requests as its own requests, so a missing leader is told to the gateway at once (no
 * responders) instead of letting the request vanish until the gateway's hedge.
 */
export const routerLeaderSuspectMs = 200;
/** After a new holder took a shard's lease, its requests stay checked this long (it subscribes moments later). */
export const routerTakeoverGraceMs = 300;
/** A checked forward waits this long for the shard's reply before giving up (the gateway hedges anyway). */
export const routerCheckedForwardTimeoutMs = 2_000;

// Cross-shard transactions (@antler/ops txn.ts; services/router coordinator, services/shard).
/**
 * A participant holding a prepared transaction this long without a commit or abort resolves it
 * itself from the decision bucket (absent: it writes "abort"). Far above a healthy transaction
 * (a few ms), below the client's patience.
 */
export const txResolveAfterMs = 2_000;
/** How often a shard leader looks for prepared transactions to resolve. */
export const txResolveIntervalMs = 500;
/**
 * Decided transaction ids (committed or aborted) a shard remembers, so a repeated txcommit is
 * answered OK and a late txprepare of a decided txid is refused; oldest forgotten first.
 */
export const txDecidedRememberedMax = 10_000;
/** Client request ids a shard remembers as taken by a transaction (a retry goes to the coordinator). */
export const txRequestsRememberedMax = 10_000;
/** A request blocked by a prepared transaction's lock (TXLOCKED) is re-executed after this long... */
export const txLockedRetryMs = 5;
/** ...and gets EAGAIN after this long in all (the transaction is then being resolved). */
export const txLockedWaitMaxMs = 10_000;
/** The pause between re-executions of a TXLOCKED request grows (×1.5) up to this. */
export const txLockedRetryMaxMs = 50;
/** Requests a shard leader holds for a lock at once; beyond it a TXLOCKED request gets EAGAIN at once. */
export const txLockedParkedMax = 10_000;
/**
 * Remote attributes (a LOOKUP or READDIR naming nodes of other shards): the shard asks each node's
 * shard for GETATTR through the routers, each attempt waiting this long...
 */
export const remoteAttrAttemptTimeoutMs = 1_000;
/** ...up to this many attempts (a missing leader is usually found again within a failover)... */
export const remoteAttrAttempts = 3;
/** ...pausing this long between them... */
export const remoteAttrRetryPauseMs = 50;
/** ...and with at most this many GETATTRs of one request in flight (a big READDIR). */
export const remoteAttrConcurrencyMax = 64;
/**
 * A coordinated operation whose attempts conflict (TXLOCKED) is retried until it has waited this
 * long, then the client gets EAGAIN. It must outlast the locks of a transaction whose coordinator
 * died after preparing it: those go only when its participants' resolvers abort it, at most
 * txResolveAfterMs + txResolveIntervalMs (2.5 s) after the prepare, plus their decision write and
 * abort under load. The client's own earlier attempt is such a transaction when the coordinator
 * is killed mid-operation: the re-run of a directory move finds its own locks on its ancestry
 * walk. With 20 attempts and no time bound the re-run gave up after ~1–1.5 s, before the
 * resolvers (EAGAIN in the sharded crash e2e, ha profile, after a coordinator kill). Far below
 * the gateway's metaRequestRetryTotalMs: the client is answered long before it gives up.
 */
export const txConflictPatienceMs = 5_000;
/**
 * Attempts of one coordinated operation at most (each is a txid, and a later retry of the request
 * reads the decisions of all of them): a bound above what txConflictPatienceMs allows with the
 * backoff below (~100), so the patience is what ends a conflict.
 */
export const txAttemptsMax = 200;
/** Random backoff between conflicting attempts: up to this × attempt number... */
export const txConflictBackoffMs = 5;
/** ...but at most this (a lock's release is noticed within it). */
export const txConflictBackoffMaxMs = 100;
/**
 * The coordinator lease (router): the holder renews every coordinatorLeaseRenewMs and stops
 * coordinating after coordinatorLeaseMs without a successful renewal; another router claims a
 * key unchanged for coordinatorLeaseTakeoverMs (> coordinatorLeaseMs, so the old holder has
 * stopped by then unless it stalled, which the transactions' safety does not depend on).
 */
export const coordinatorLeaseRenewMs = 100;
export const coordinatorLeaseMs = 400;
export const coordinatorLeaseTakeoverMs = 600;
/** Per-call timeout of the coordinator's requests to a shard (the shard retries within its failover). */
export const txShardCallTimeoutMs = 5_000;
/**
 * A coordinator call to a shard still unanswered after this long is sent again (same request id)
 * while the first sending keeps waiting; the delay doubles up to txShardCallHedgeMaxMs. A leader
 * that loses its lease (a stall of ~0.5 s on a loaded box is enough) drops the requests it took
 * without answering, and its standby serves ~0.4 s later: without the hedge the call waited out
 * txShardCallTimeoutMs and the client got EAGAIN for a failover (sharded crash e2e, ha profile).
 * Same first delay as the gateway's metaRequestHedgeMs: far above a healthy txprepare/txcommit
 * (one log append, a few ms; ~100 ms under heavy load), so a healthy shard rarely sees a copy, and
 * a copy costs it only a lookup (request-id memory, or joining the request in progress).
 */
export const txShardCallHedgeMs = 250;
/** The largest pause between two hedges of one coordinator call (a stall plus a failover can outlast the first few). */
export const txShardCallHedgeMaxMs = 1_000;
/** Ancestors a directory move may walk before it gives up (deeper trees: ELOOP-like EINVAL). */
export const txAncestryDepthMax = 10_000;
/**
 * How long the coordinator keeps telling an unreachable participant a decision (txcommit/txabort)
 * before it answers the client; the participant's resolver applies the stored decision anyway.
 */
export const txCommitPatienceMs = 10_000;
/**
 * The directory-move lock (router-core move-lock.ts) whose record has not changed for this long
 * is taken over: its holder died or stalls (a stalled holder's fence then fails, so it never
 * commits). Bounds how long a dead coordinator blocks directory moves.
 */
export const txMoveLockStaleMs = 5_000;
/** Successful coordinated answers a coordinator remembers per request id (a retry gets the same answer). */
export const txAnswersRememberedMax = 10_000;
/**
 * A decision whose participants all acknowledged is deleted this long after (not at once), so a
 * client's retry of the request still finds it and is answered from the participants.
 */
export const txDecisionRetainMs = 60_000;
/** Decisions waiting for their deletion at most; beyond it the oldest is deleted at once. */
export const txDecisionsRetainedMax = 100_000;
/** Nodes per fsck page (one fsckdump reply). */
export const fsckPageNodesMax = 2_000;
/** Window over which a shard leader reports its requests per second (`antler status`). */
export const shardStatsWindowMs = 10_000;
