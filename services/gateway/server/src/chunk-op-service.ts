/**
 * The gateway's end of the chunk-operation path: shard leaders ask for MATOCS_* operations on the
 * chunkservers whose links this gateway holds (gatewayChunkOpSubject(gatewayId), ChunkOpRequest →
 * ChunkOpReply in the internal JSON codec). Each request is carried out on the link of its csid
 * (chunkserver-link.ts sendChunkOp) and answered with the chunkserver's status.
 *
 * Answers that are not the chunkserver's: CSNOTPRESENT when this gateway holds no link for the
 * csid (the registry was stale), when the link goes, or after the timeout; CANTCONNECT for a
 * replication whose source chunkserver is not connected anywhere (the target would fail the same
 * way, and the target itself is fine); EINVAL for a request that is not a well-formed
 * ChunkOpRequest (a bug in the sender, logged).
 */
import { limits } from "@antler/base";
import type { MasterToChunkserver } from "@antler/mfs-wire";
import type { Msg, NatsConnection, Subscription } from "@antler/io-nats";
import { decodeMessage, encodeMessage, gatewayChunkOpSubject, Status, type ChunkOpCommand, type ChunkOpRequest } from "@antler/ops";
import type { Logger } from "@antler/telemetry";

/** The link operations the service needs (a ChunkserverLink fits). */
export interface ChunkOpLink {
  sendChunkOp(message: Extract<MasterToChunkserver, { chunkId: bigint } | { newChunkId: bigint }>): Promise<number>;
}

export interface ChunkOpServiceOptions {
  readonly nats: NatsConnection;
  readonly gatewayId: string;
  /** The link of a chunkserver on this gateway. */
  readonly linkOf: (csid: number) => ChunkOpLink | undefined;
  /** Where a connected chunkserver takes data connections (replication sources). */
  readonly addressOf: (csid: number) => Promise<{ readonly ip: number; readonly port: number } | undefined>;
  readonly log: Logger;
}

export interface ChunkOpService {
  /** Requests being carried out. */
  readonly inFlight: number;
  stop(): void;
}

export function serveChunkOps(options: ChunkOpServiceOptions): ChunkOpService {
  const { nats, linkOf, addressOf, log } = options;
  let inFlight = 0;

  const statusOf = async (request: ChunkOpRequest): Promise<number> => {
    const link = linkOf(request.csid);
    if (link === undefined) return Status.CSNOTPRESENT;
    const command = request.command;
    if (command.op === "replicate") {
      const source = await addressOf(command.sourceCsid);
      if (source === undefined) return Status.CANTCONNECT;
      return link.sendChunkOp({ kind: "replicate", chunkId: command.chunkId, version: command.version, sourceIp: source.ip, sourcePort: source.port });
    }
    return link.sendChunkOp(masterMessageOf(command));
  };

  const handle = (msg: Msg): void => {
    const request = parseChunkOpRequest(msg.data);
    if (request === null) {
      log.error("malformed chunk operation request", { bytes: msg.data.length });
      respond(msg, Status.EINVAL);
      return;
    }
    inFlight++;
    statusOf(request)
      .catch((err: unknown) => {
        log.error("chunk operation failed unexpectedly", { csid: request.csid, op: request.command.op, err });
        return Status.CSNOTPRESENT;
      })
      .then((status) => {
        inFlight--;
        respond(msg, status);
      });
  };

  const respond = (msg: Msg, status: number): void => {
    try {
      msg.respond(encodeMessage({ status }));
    } catch (err) {
      // Our NATS connection is closing: the shard sees a timeout, which means the same.
      log.debug("chunk operation reply not sent", { err });
    }
  };

  const subscription: Subscription = nats.subscribe(gatewayChunkOpSubject(options.gatewayId), {
    callback: (err, msg) => {
      if (err !== null) {
        log.error("chunk operation subscription failed", { err });
        return;
      }
      handle(msg);
    },
  });

  return {
    get inFlight() {
      return inFlight;
    },
    stop() {
      subscription.unsubscribe();
    },
  };
}

function masterMessageOf(command: Exclude<ChunkOpCommand, { op: "replicate" }>): Extract<MasterToChunkserver, { chunkId: bigint } | { newChunkId: bigint }> {
  switch (command.op) {
    case "create":
      return { kind: "create", chunkId: command.chunkId, version: command.version };
    case "delete":
      return { kind: "delete", chunkId: command.chunkId, version: command.version };
    case "set-version":
      return { kind: "set-version", chunkId: command.chunkId, newVersion: command.version, oldVersion: command.oldVersion };
    case "duplicate":
      return { kind: "duplicate", newChunkId: command.chunkId, newVersion: command.version, oldChunkId: command.oldChunkId, oldVersion: command.oldVersion };
    case "truncate":
      return { kind: "truncate", chunkId: command.chunkId, length: command.length, newVersion: command.version, oldVersion: command.oldVersion };
    case "duptrunc":
      return {
        kind: "duptrunc",
        newChunkId: command.chunkId,
        newVersion: command.version,
        oldChunkId: command.oldChunkId,
        oldVersion: command.oldVersion,
        length: command.length,
      };
  }
}

const u64Max = (1n << 64n) - 1n;

/** The request, checked field by field (it crosses a process boundary); null if it is not one. */
export function parseChunkOpRequest(data: Uint8Array): ChunkOpRequest | null {
  let value: unknown;
  try {
    value = decodeMessage(data);
  } catch {
    return null;
  }
  if (!isRecord(value) || !isRecord(value.command)) return null;
  const csid = value.csid;
  if (!isUint(csid, limits.chunkserverIdMax) || csid === 0) return null;
  const c = value.command;
  const chunkId = (name: string): boolean => typeof c[name] === "bigint" && (c[name] as bigint) > 0n && (c[name] as bigint) <= u64Max;
  const u32 = (name: string): boolean => isUint(c[name], 0xffffffff);
  let ok: boolean;
  switch (c.op) {
    case "create":
    case "delete":
      ok = chunkId("chunkId") && u32("version");
      break;
    case "set-version":
      ok = chunkId("chunkId") && u32("version") && u32("oldVersion");
      break;
    case "duplicate":
      ok = chunkId("chunkId") && u32("version") && chunkId("oldChunkId") && u32("oldVersion");
      break;
    case "truncate":
      ok = chunkId("chunkId") && u32("version") && u32("oldVersion") && isUint(c.length, limits.chunkBytes);
      break;
    case "duptrunc":
      ok = chunkId("chunkId") && u32("version") && chunkId("oldChunkId") && u32("oldVersion") && isUint(c.length, limits.chunkBytes);
      break;
    case "replicate":
      ok = chunkId("chunkId") && u32("version") && isUint(c.sourceCsid, limits.chunkserverIdMax) && c.sourceCsid !== 0;
      break;
    default:
      ok = false;
  }
  return ok ? { csid, command: c as unknown as ChunkOpCommand } : null;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isUint(value: unknown, max: number): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= max;
}
