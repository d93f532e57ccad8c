/**
 * Attributes of nodes that live on other shards (shard-core Execution.remote): a LOOKUP of a remote
 * entry, a READDIR with attributes listing remote entries, ".." of a directory whose parent is
 * remote. Each inode's shard is asked for GETATTR through the routers, as a gateway would ask
 * (metaRequestSubject with the Antler-Slot header of the inode's slot), with the client's ctx, so
 * the answer is exactly what the client would get by asking itself.
 *
 * An attempt that finds no responders, times out or meets a stale shard map (MOVED) is retried a
 * few times (limits.remoteAttr*): a shard in failover is found again within them. ENOENT is an
 * answer (the node is gone: null) and the completion decides what a missing node means (a lookup
 * answers ENOENT, a readdir leaves the entry out). A node still unreachable after the last attempt
 * is NOT reported missing — that would make a client cache a negative lookup for a node that
 * exists while its shard fails over — but listed as unreachable: the shell then answers nothing
 * and the gateway's own retry (same request id, after its hedge) asks again. Many inodes are asked concurrently, at most limits.remoteAttrConcurrencyMax at once.
 */
import { limits } from "@antler/base";
import { newHeaders, request, type NatsConnection } from "@antler/io-nats";
import { CodecError, decodeMessage, encodeMessage, Header, metaRequestSubject, slotOfInode, Status, type Attr, type Ctx, type MetaRequest } from "@antler/ops";
import type { Logger } from "@antler/telemetry";

export interface RemoteAttrFetcherOptions {
  readonly nc: NatsConnection;
  readonly logger: Logger;
  readonly attemptTimeoutMs?: number;
  readonly attempts?: number;
  readonly retryPauseMs?: number;
  readonly concurrencyMax?: number;
}

/** Attributes of `inodes` as their shards answer them to `ctx` (null = gone), and the inodes no shard answered for. Never rejects. */
export type RemoteAttrFetcher = (inodes: readonly number[], ctx: Ctx) => Promise<RemoteAttrAnswers>;

export interface RemoteAttrAnswers {
  readonly attrs: Map<number, Attr | null>;
  readonly unreachable: readonly number[];
}

/** One attempt's outcome: an answer (attr or null), or "retry". */
type AttemptOutcome = { readonly kind: "answer"; readonly attr: Attr | null } | { readonly kind: "retry"; readonly reason: string };

export function createRemoteAttrFetcher(options: RemoteAttrFetcherOptions): RemoteAttrFetcher {
  const { nc, logger } = options;
  const attemptTimeoutMs = options.attemptTimeoutMs ?? limits.remoteAttrAttemptTimeoutMs;
  const attempts = Math.max(1, options.attempts ?? limits.remoteAttrAttempts);
  const retryPauseMs = options.retryPauseMs ?? limits.remoteAttrRetryPauseMs;
  const concurrencyMax = Math.max(1, options.concurrencyMax ?? limits.remoteAttrConcurrencyMax);

  const attempt = async (inode: number, body: Uint8Array, requestId: string | undefined, sessionId: number): Promise<AttemptOutcome> => {
    const headers = newHeaders();
    headers.set(Header.slot, String(slotOfInode(inode)));
    headers.set(Header.session, String(sessionId));
    if (requestId !== undefined) headers.set(Header.requestId, requestId);
    let data: Uint8Array;
    try {
      data = (await request(nc, metaRequestSubject, body, headers, attemptTimeoutMs)).data;
    } catch (err) {
      return { kind: "retry", reason: err instanceof Error ? err.message : String(err) };
    }
    let reply: unknown;
    try {
      reply = decodeMessage(data);
    } catch (err) {
      if (!(err instanceof CodecError)) throw err;
      logger.warn("undecodable GETATTR reply for a remote node", { inode, err });
      return { kind: "answer", attr: null };
    }
    const status = (reply as { status?: unknown } | null)?.status;
    const attr = (reply as { attr?: unknown } | null)?.attr;
    if (status === Status.OK && attr !== null && typeof attr === "object") return { kind: "answer", attr: attr as Attr };
    if (status === Status.ENOENT) return { kind: "answer", attr: null };
    // A router with an older shard map sent it to a shard that gave the slot away: ask again.
    if (status === Status.MOVED) return { kind: "retry", reason: "moved" };
    logger.warn("GETATTR of a remote node failed", { inode, status });
    return { kind: "answer", attr: null };
  };

  const fetchOne = async (inode: number, ctx: Ctx): Promise<Attr | null | undefined> => {
    // A request of its own (not the client's packet): no resend identity, its own request id.
    const requestId = ctx.requestId === undefined ? undefined : `${ctx.requestId}/attr/${inode}`;
    const subCtx: Ctx = {
      sessionId: ctx.sessionId,
      uid: ctx.uid,
      gids: ctx.gids,
      sesflags: ctx.sesflags,
      rootInode: ctx.rootInode,
      ...(requestId !== undefined ? { requestId } : {}),
    };
    const message: MetaRequest = { ctx: subCtx, cmd: { kind: "getattr", inode, opened: false } };
    const body = encodeMessage(message);
    let reason = "";
    for (let n = 1; n <= attempts; n++) {
      const outcome = await attempt(inode, body, requestId, ctx.sessionId);
      if (outcome.kind === "answer") return outcome.attr;
      reason = outcome.reason;
      if (n < attempts) await new Promise((resolve) => setTimeout(resolve, retryPauseMs));
    }
    logger.warn("remote node unreachable; the request is left to the gateway's retry", { inode, attempts, reason });
    return undefined;
  };

  return async (inodes, ctx) => {
    const unique = [...new Set(inodes)];
    const attrs = new Map<number, Attr | null>();
    const unreachable: number[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < unique.length) {
        const inode = unique[next++]!;
        try {
          const attr = await fetchOne(inode, ctx);
          if (attr === undefined) unreachable.push(inode);
          else attrs.set(inode, attr);
        } catch (err) {
          logger.error("fetching a remote node's attributes failed", { inode, err });
          unreachable.push(inode);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrencyMax, unique.length) }, worker));
    return { attrs, unreachable };
  };
}
