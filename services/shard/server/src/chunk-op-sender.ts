/**
 * Sends one chunkserver command of a shard's ChunkWork to the gateway that holds that
 * chunkserver's link (gatewayChunkOpSubject, ChunkOpRequest → ChunkOpReply) and turns whatever
 * happens into the chunkserver's status: no registry record, nobody answering, no answer within
 * limits.chunkOpTimeoutMs (the whole send, registry lookup included), or an answer we cannot read
 * all give CSNOTPRESENT, as the contract in @antler/ops transport.ts says.
 */
import { limits } from "@antler/base";
import type { NatsConnection } from "@antler/io-nats";
import { decodeMessage, encodeMessage, gatewayChunkOpSubject, Status, type ChunkOpRequest } from "@antler/ops";
import type { ChunkCommand, ChunkCommandOutcome } from "@antler/shard-core";
import type { Logger } from "@antler/telemetry";
import type { ChunkserverDirectory } from "./chunk-directory.ts";

export interface ChunkOpSender {
  /** Never rejects: every failure is an outcome with a status. */
  send(command: ChunkCommand): Promise<ChunkCommandOutcome>;
}

export interface NatsChunkOpSenderOptions {
  readonly nc: NatsConnection;
  /** null: no registry configured, every command fails with CSNOTPRESENT. */
  readonly directory: ChunkserverDirectory | null;
  readonly logger: Logger;
  readonly timeoutMs?: number;
}

export function createNatsChunkOpSender(options: NatsChunkOpSenderOptions): ChunkOpSender {
  const { nc, directory, logger } = options;
  const timeoutMs = options.timeoutMs ?? limits.chunkOpTimeoutMs;

  const statusOf = async (command: ChunkCommand): Promise<number> => {
    if (directory === null) return Status.CSNOTPRESENT;
    const startedMs = performance.now();
    let gatewayId: string | undefined;
    try {
      gatewayId = await directory.gatewayOf(command.csid);
    } catch (err) {
      logger.warn("chunkserver registry read failed; chunk operation not sent", { csid: command.csid, err });
      return Status.CSNOTPRESENT;
    }
    if (gatewayId === undefined) return Status.CSNOTPRESENT;
    const remainingMs = Math.floor(timeoutMs - (performance.now() - startedMs));
    if (remainingMs <= 0) return Status.CSNOTPRESENT;
    const request: ChunkOpRequest = { csid: command.csid, command: command.command };
    let data: Uint8Array;
    try {
      data = (await nc.request(gatewayChunkOpSubject(gatewayId), encodeMessage(request), { timeout: remainingMs })).data;
    } catch (err) {
      // Timeout, no responders (the gateway is gone), or our own connection closing.
      logger.debug("chunk operation got no answer", { csid: command.csid, op: command.command.op, gatewayId, err });
      return Status.CSNOTPRESENT;
    }
    const status = replyStatus(data);
    if (status === null) {
      logger.error("unreadable chunk operation reply", { csid: command.csid, op: command.command.op, gatewayId });
      return Status.CSNOTPRESENT;
    }
    return status;
  };

  return {
    async send(command) {
      const status = await statusOf(command).catch((err: unknown) => {
        logger.error("chunk operation failed unexpectedly", { csid: command.csid, err });
        return Status.CSNOTPRESENT;
      });
      return { csid: command.csid, chunkId: command.command.chunkId, status };
    },
  };
}

function replyStatus(data: Uint8Array): number | null {
  try {
    const value = decodeMessage(data) as { status?: unknown } | null;
    const status = value?.status;
    return typeof status === "number" && Number.isInteger(status) && status >= 0 && status <= 255 ? status : null;
  } catch {
    return null;
  }
}
