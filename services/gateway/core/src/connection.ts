/**
 * One mount (or tools) connection on the client port, as a pure state machine: bytes and answers
 * in, actions out (api.ts). It follows mfsmaster's matoclserv for the session lifecycle
 * (protocol §2): an unregistered connection accepts only REGISTER (and ANTOAN_GET_VERSION); a
 * registered one gets every FUSE request translated into a Command (translate.ts) and answered
 * with the reply layout mfsmount expects, echoing the request's msgid; replies may leave in any
 * order, exactly one per request.
 *
 * Malformed input (a frame over the size limit, a payload that does not match its layout, a
 * REGISTER in the wrong state) closes this connection only, as mfsmaster's KILL does.
 */
import { assert, AssertionError, limits } from "@antler/base";
import {
  DecodeError,
  FrameDecoder,
  FrameError,
  RegisterCode,
  codes,
  decodeRequest,
  encodeReply,
  isKnownRequestType,
  type ClientRequest,
  type CltomaFuseRegister,
  type Frame,
  type MasterReply,
} from "@antler/mfs-wire";
import {
  NodeType,
  Status,
  commandFingerprint,
  nameFromBytes,
  readOnlyKinds,
  routeOf,
  type Command,
  type Ctx,
  type Result,
} from "@antler/ops";
import type { ChunkserverLocator, ClientConnection, ConnectionAction, SessionDraft, SessionRecord, UnansweredRequest } from "./api.ts";
import type { ChunkserverSpaceTotals } from "./chunkserver-api.ts";
import { matchExport, type ExportRule } from "./exports.ts";
import { ctxFor, type Caller } from "./identity.ts";
import { LockWaiters, type LockWaiter } from "./lock-waiters.ts";
import { clientRequestId } from "./request-ids.ts";
import { translateRequest, type Plan, type SessionKind } from "./translate.ts";

export interface ClientConnectionOptions {
  /** The cluster's metaid (REGISTER replies; RECONNECT/CLOSESESSION must carry the same). */
  readonly metaId: bigint;
  /** Export rules, in file order (parseExports). */
  readonly exports: readonly ExportRule[];
  /** The peer's IPv4 address as a u32 (10.0.0.1 = 0x0a000001). */
  readonly peerIp: number;
  /**
   * The chunkservers' space for STATFS replies. Shards know nothing about disks and answer 0 for
   * total/avail/free; the server passes the registry's (cached) sum here. Absent: the shard's
   * values go out unchanged.
   */
  readonly chunkserverSpace?: () => ChunkserverSpaceTotals;
  /**
   * Makes this connection's request ids unique in the cluster. mfsmount reuses one msgid per
   * worker thread and the per-connection counter restarts with every connection, so without a
   * prefix that differs between connections (and gateway restarts) a request after a reconnect
   * could carry an earlier request's id, and the shard would answer it with that request's
   * remembered result. The server passes a random boot id plus a link counter.
   */
  readonly requestIdPrefix?: string;
  /**
   * The chunkserver registry's addresses for the csids shards name in READ_CHUNK / WRITE_CHUNK /
   * CHECK results. Absent: those requests are answered ENOTSUP (no chunk tier).
   */
  readonly chunkserverLocator?: ChunkserverLocator;
}

/** The version text ANTOAN_GET_VERSION reports with limits.announcedVersion. */
const versionText = new TextEncoder().encode("3.0.117");
/** RECONNECT replies carry `version:32 status:8` for clients ≥ 3.0.95. */
const reconnectVersionReplyMin = 0x000300be;

type CallPlan = Extract<Plan, { kind: "call" }>;

type Pending =
  | { readonly kind: "request"; readonly plan: CallPlan }
  | { readonly kind: "lock-try"; readonly waiter: LockWaiter }
  | { readonly kind: "closesession" }
  | { readonly kind: "root-lookup"; readonly resolve: RootResolution }
  | { readonly kind: "session-create" }
  | { readonly kind: "session-reuse"; readonly draft: SessionDraft }
  | { readonly kind: "session-resume"; readonly rcode: 3 | 4; readonly version: number };

/** Walking the subfolder a NEWSESSION asked for, one LOOKUP per path component. */
interface RootResolution {
  readonly request: Extract<CltomaFuseRegister, { rcode: 2 }>;
  readonly rule: ExportRule;
  readonly components: readonly string[];
  readonly index: number;
}

type Phase = "unregistered" | "registering" | SessionKind | "closed";

export function createClientConnection(options: ClientConnectionOptions): ClientConnection {
  return new Connection(options);
}

class Connection implements ClientConnection {
  readonly #options: ClientConnectionOptions;
  readonly #decoder = new FrameDecoder(limits.clientPacketBytesMax);
  readonly #pending = new Map<number, Pending>();
  readonly #locks = new LockWaiters();
  #phase: Phase = "unregistered";
  #session: SessionRecord | null = null;
  #nextToken = 1;
  #requestCounter = 0;
  readonly #requestIdPrefix: string;
  #lastReadMs: number | null = null;
  #lastSendMs: number | null = null;
  /**
   * The session's unanswered requests from before this connection, by msgid (loaded with the
   * session on a RECONNECT, or a NEWSESSION that got its old session back). The first packet with
   * that msgid here takes its entry: mfsmount re-sends each unanswered request right after
   * re-registering, so a mutating packet with the same content IS that re-send and keeps the
   * original request id (the shard answers it from memory if it ran); anything else means the
   * thread moved on and the entry is dropped.
   */
  readonly #inherited = new Map<number, UnansweredRequest>();
  /**
   * msgid → the request this connection recorded as unanswered in the session store, and when its
   * reply was written (null: not yet). The record is replaced by the thread's next request, dropped
   * by its next read, and cleared once the reply has surely arrived (limits.replyReceivedAfterMs
   * with the connection open): until then a reconnect may be a re-send of it.
   */
  readonly #recorded = new Map<number, { readonly requestId: string; repliedAtMs: number | null }>();
  #actions: ConnectionAction[] = [];
  #nowMs = 0;

  constructor(options: ClientConnectionOptions) {
    this.#options = options;
    this.#requestIdPrefix = options.requestIdPrefix ?? "";
  }

  receive(bytes: Uint8Array, nowMs: number): ConnectionAction[] {
    if (this.#phase === "closed") return [];
    this.#begin(nowMs);
    this.#lastReadMs = nowMs;
    let frames: Frame[];
    try {
      frames = this.#decoder.push(bytes);
    } catch (error) {
      if (!(error instanceof FrameError)) throw error;
      this.#close(`bad frame: ${error.message}`);
      return this.#end();
    }
    for (const frame of frames) {
      if (this.#isClosed()) break;
      this.#frame(frame);
    }
    return this.#end();
  }

  tick(nowMs: number): ConnectionAction[] {
    if (this.#phase === "closed") return [];
    this.#begin(nowMs);
    this.#lastReadMs ??= nowMs;
    this.#lastSendMs ??= nowMs;
    if (nowMs - this.#lastReadMs >= limits.clientReadTimeoutMs) {
      this.#close(`nothing read for ${nowMs - this.#lastReadMs} ms`);
      return this.#end();
    }
    // Keepalives only to registered mounts: tools and unregistered peers would take a NOP
    // arriving before their answer as a protocol error (protocol §1.5).
    if (this.#phase === "mount" && nowMs - this.#lastSendMs >= limits.clientNopIdleMs) this.#send({ kind: "nop" });
    for (const waiter of this.#locks.due(nowMs)) this.#tryLock(waiter);
    for (const [msgid, record] of this.#recorded) {
      if (record.repliedAtMs !== null && nowMs - record.repliedAtMs >= limits.replyReceivedAfterMs) this.#forgetRecord(msgid);
    }
    return this.#end();
  }

  onResult(token: number, result: Result, nowMs: number): ConnectionAction[] {
    const pending = this.#take(token);
    if (this.#phase === "closed") return [];
    this.#begin(nowMs);
    switch (pending.kind) {
      case "request":
        this.#answer(pending.plan, result);
        break;
      case "lock-try":
        this.#lockResult(pending.waiter, result);
        break;
      case "closesession":
        break;
      case "root-lookup":
        this.#rootLookupResult(pending.resolve, result);
        break;
      default:
        assert(false, `result for a ${pending.kind} token`);
    }
    return this.#end();
  }

  onSessionCreated(token: number, record: SessionRecord, nowMs: number): ConnectionAction[] {
    const pending = this.#take(token);
    assert(pending.kind === "session-create", `session created for a ${pending.kind} token`);
    if (this.#phase === "closed") return [];
    this.#begin(nowMs);
    this.#registered(record);
    return this.#end();
  }

  onSessionLoaded(token: number, record: SessionRecord | null, nowMs: number, unanswered?: ReadonlyMap<number, UnansweredRequest>): ConnectionAction[] {
    const pending = this.#take(token);
    if (this.#phase === "closed") return [];
    this.#begin(nowMs);
    if (pending.kind === "session-reuse") {
      if (record !== null && sameRules(record, pending.draft)) {
        this.#registered(record);
        // The mount got its old session back (after RECONNECT said EPERM) and re-sends what was unanswered.
        this.#inherit(unanswered);
      } else {
        this.#createSession(pending.draft);
      }
    } else {
      assert(pending.kind === "session-resume", `session loaded for a ${pending.kind} token`);
      this.#resumed(pending.rcode, pending.version, record, unanswered);
    }
    return this.#end();
  }

  closed(): void {
    this.#phase = "closed";
  }

  // -------------------------------------------------------------------------------------------
  // Plumbing

  #isClosed(): boolean {
    return this.#phase === "closed";
  }

  #begin(nowMs: number): void {
    this.#nowMs = nowMs;
    this.#actions = [];
  }

  #end(): ConnectionAction[] {
    const actions = this.#actions;
    this.#actions = [];
    return actions;
  }

  #take(token: number): Pending {
    const pending = this.#pending.get(token);
    // The message is built only on failure: this runs for every answered request.
    if (pending === undefined) throw new AssertionError(`unknown token ${token}`);
    this.#pending.delete(token);
    return pending;
  }

  #token(pending: Pending): number {
    const token = this.#nextToken++;
    this.#pending.set(token, pending);
    if (this.#pending.size > limits.clientRequestsInFlightMax) this.#close(`more than ${limits.clientRequestsInFlightMax} requests in flight`);
    return token;
  }

  #send(reply: MasterReply): void {
    this.#actions.push({ kind: "send", bytes: encodeReply(reply) });
    this.#lastSendMs = this.#nowMs;
  }

  /** The answer to a registered request. */
  #reply(reply: MasterReply): void {
    this.#send(reply);
  }

  #close(reason: string): void {
    if (this.#phase === "closed") return;
    this.#phase = "closed";
    this.#actions.push({ kind: "close", reason });
  }

  #call(command: Command, ctx: Ctx, pending: Pending): void {
    const token = this.#token(pending);
    if (this.#phase === "closed") return;
    this.#actions.push({ kind: "call", token, request: { cmd: command, ctx }, route: routeOf(command) });
  }

  /** A new request id (request-ids.ts): unique per request and per lock attempt. */
  #ctx(caller: Caller, msgid: number): Ctx {
    const session = this.#session;
    assert(session !== null, "ctx without a session");
    return ctxFor(session, caller, clientRequestId(this.#requestIdPrefix, session.sessionId, msgid, this.#requestCounter++));
  }

  /**
   * Ctx of a client request that expects a reply. A mutating request of a mount session is
   * recorded as msgid's unanswered request (persisted with the session) until its reply goes out;
   * if it repeats with the same content the request this connection inherited for msgid, it is
   * mfsmount's re-send and keeps that request's id. Reads need neither (running one twice is
   * harmless), nor do tools sessions (they never re-send) or packets without msgid (SUSTAINED,
   * AMTIME_INODES: they would all share msgid 0).
   */
  #requestCtx(caller: Caller, msgid: number, command: Command, inherited: UnansweredRequest | undefined): Ctx {
    const session = this.#session;
    assert(session !== null, "ctx without a session");
    if (readOnlyKinds.has(command.kind) || this.#phase !== "mount") return this.#ctx(caller, msgid);
    const fingerprint = commandFingerprint(command);
    const requestId = inherited?.fingerprint === fingerprint ? inherited.requestId : undefined;
    const ctx = requestId === undefined ? this.#ctx(caller, msgid) : ctxFor(session, caller, requestId);
    this.#recorded.set(msgid, { requestId: ctx.requestId!, repliedAtMs: null });
    this.#actions.push({ kind: "unanswered-put", sessionId: session.sessionId, msgid, request: { requestId: ctx.requestId!, fingerprint } });
    return ctx;
  }

  /** Remembers the session's unanswered requests from before this connection (RECONNECT). */
  #inherit(unanswered: ReadonlyMap<number, UnansweredRequest> | undefined): void {
    for (const [msgid, request] of unanswered ?? []) this.#inherited.set(msgid, request);
  }

  /**
   * The inherited unanswered request of this packet's msgid, taken: only the first packet of a
   * msgid after the reconnect can be its re-send. Its record is cleared at once; a mutating packet
   * records itself right after (with the same id when it is the re-send).
   */
  #takeInherited(request: ClientRequest): UnansweredRequest | undefined {
    const msgid = this.#inherited.size === 0 || !("msgid" in request) ? null : request.msgid;
    if (msgid === null) return undefined;
    const inherited = this.#inherited.get(msgid);
    if (inherited === undefined) return undefined;
    this.#inherited.delete(msgid);
    this.#actions.push({ kind: "unanswered-clear", sessionId: this.#session!.sessionId, msgid, requestId: inherited.requestId });
    return inherited;
  }

  /** msgid's reply is being written: its record is cleared once the reply has surely arrived (tick). */
  #answered(msgid: number): void {
    const record = this.#recorded.get(msgid);
    if (record !== undefined) record.repliedAtMs = this.#nowMs;
  }

  /** The thread sent a packet that is not a recorded mutation, or its reply arrived: forget its record. */
  #forgetRecord(msgid: number): void {
    const record = this.#recorded.get(msgid);
    if (record === undefined) return;
    this.#recorded.delete(msgid);
    this.#actions.push({ kind: "unanswered-clear", sessionId: this.#session!.sessionId, msgid, requestId: record.requestId });
  }

  // -------------------------------------------------------------------------------------------
  // Incoming frames

  #frame(frame: Frame): void {
    let request: ClientRequest;
    try {
      request = decodeRequest(frame);
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      this.#undecodable(frame, error);
      return;
    }
    if (request.kind === "nop") return;
    if (request.kind === "getversion") {
      this.#send({ kind: "version", msgid: request.msgid, version: limits.announcedVersion, text: versionText });
      return;
    }
    if (request.kind === "timesync") {
      this.#send({ kind: "timesync", msgid: request.msgid, usec: BigInt(Math.floor(this.#nowMs)) * 1000n });
      return;
    }
    switch (this.#phase) {
      case "unregistered":
        if (request.kind !== "register" || request.rcode === RegisterCode.CLOSESESSION) {
          this.#close(`${request.kind === "register" ? "CLOSESESSION" : request.kind} before registration`);
          return;
        }
        this.#register(request);
        return;
      case "registering":
        this.#close(`${request.kind} while registering`);
        return;
      case "mount":
      case "tools":
        if (request.kind === "register") {
          if (request.rcode !== RegisterCode.CLOSESESSION) this.#close(`REGISTER rcode ${request.rcode} on a registered connection`);
          else this.#closeSession(request);
          return;
        }
        this.#execute(request);
        return;
      case "closed":
        return;
    }
  }

  /**
   * An unknown request type on a registered session gets its expected reply type with ENOTSUP
   * when it has one (protocol §1.7); a malformed known one, or anything before registration,
   * closes the connection.
   */
  #undecodable(frame: Frame, error: DecodeError): void {
    const registered = this.#phase === "mount" || this.#phase === "tools";
    const replyType = codes.replyTypeOf(frame.type);
    if (registered && !isKnownRequestType(frame.type) && replyType !== null && frame.type !== codes.CLTOMA_FUSE_REGISTER && frame.payload.length >= 4) {
      const msgid = new DataView(frame.payload.buffer, frame.payload.byteOffset, 4).getUint32(0);
      this.#reply({ kind: "status", type: replyType, msgid, status: Status.ENOTSUP });
      return;
    }
    this.#close(`bad request: ${error.message}`);
  }

  #execute(request: ClientRequest): void {
    const session = this.#session;
    assert(session !== null && (this.#phase === "mount" || this.#phase === "tools"), "request without a session");
    const inherited = this.#takeInherited(request);
    const plan = translateRequest(session, this.#phase, request, this.#options.chunkserverLocator);
    // A packet that records no mutation shows that its thread got the reply it waited for.
    const records = plan.kind === "blocking-lock" || (plan.kind === "call" && plan.replyType !== null && !readOnlyKinds.has(plan.command.kind));
    const msgid = "msgid" in request ? request.msgid : null;
    if (!records && msgid !== null) this.#forgetRecord(msgid);
    switch (plan.kind) {
      case "none":
        return;
      case "reply":
        this.#reply(plan.reply);
        return;
      case "call": {
        const ctx = plan.replyType === null ? this.#ctx(plan.caller, plan.msgid) : this.#requestCtx(plan.caller, plan.msgid, plan.command, inherited);
        this.#call(plan.command, ctx, { kind: "request", plan });
        return;
      }
      case "blocking-lock": {
        if (this.#locks.full) {
          this.#reply({ kind: "status", type: plan.replyType, msgid: plan.msgid, status: Status.EAGAIN });
          return;
        }
        const waiter: LockWaiter = {
          msgid: plan.msgid,
          replyType: plan.replyType,
          command: plan.command as LockWaiter["command"],
          caller: plan.caller,
          retryAtMs: this.#nowMs,
          inFlight: false,
          interrupted: false,
          inherited,
        };
        this.#locks.add(waiter);
        this.#tryLock(waiter);
        return;
      }
      case "lock-interrupt": {
        const waiter = this.#locks.find(plan.inode, plan.owner, plan.reqid);
        if (waiter !== null) {
          if (waiter.inFlight) {
            waiter.interrupted = true;
          } else {
            this.#locks.remove(waiter);
            this.#answered(waiter.msgid);
            this.#reply({ kind: "status", type: waiter.replyType, msgid: waiter.msgid, status: Status.EINTR });
          }
        }
        this.#reply({ kind: "status", type: plan.replyType, msgid: plan.msgid, status: Status.OK });
        return;
      }
    }
  }

  #answer(plan: CallPlan, result: Result): void {
    if (plan.replyType === null) return;
    this.#answered(plan.msgid);
    if (result.status !== Status.OK) {
      // Never let internal "answer later" statuses reach a client (protocol §5).
      assert(result.status !== Status.WAITING && result.status !== Status.DELAYED, "deferred status in a result");
      this.#reply({ kind: "status", type: plan.replyType, msgid: plan.msgid, status: result.status });
      return;
    }
    this.#reply(this.#withChunkserverSpace(plan.success(result)));
  }

  #withChunkserverSpace(reply: MasterReply): MasterReply {
    const space = this.#options.chunkserverSpace;
    if (reply.kind !== "statfs" || space === undefined) return reply;
    const { totalSpace, availSpace, freeSpace } = space();
    return { ...reply, totalSpace, availSpace, freeSpace };
  }

  // -------------------------------------------------------------------------------------------
  // Blocking locks

  /**
   * Only the first attempt can be a re-send's: later ones are the gateway's own retries, each a
   * new request (a remembered EAGAIN answered to them again would keep the lock waiting for
   * nothing), each recorded as msgid's unanswered request in turn.
   */
  #tryLock(waiter: LockWaiter): void {
    waiter.inFlight = true;
    const ctx = this.#requestCtx(waiter.caller, waiter.msgid, waiter.command, waiter.inherited);
    waiter.inherited = undefined;
    this.#call(waiter.command, ctx, { kind: "lock-try", waiter });
  }

  #lockResult(waiter: LockWaiter, result: Result): void {
    waiter.inFlight = false;
    if (result.status === Status.EAGAIN && !waiter.interrupted) {
      waiter.retryAtMs = this.#nowMs + limits.lockRetryIntervalMs;
      return;
    }
    this.#locks.remove(waiter);
    this.#answered(waiter.msgid);
    const status = result.status === Status.OK ? Status.OK : waiter.interrupted ? Status.EINTR : result.status;
    this.#reply({ kind: "status", type: waiter.replyType, msgid: waiter.msgid, status });
  }

  // -------------------------------------------------------------------------------------------
  // Registration (protocol §2)

  #register(request: Exclude<CltomaFuseRegister, { rcode: 6 }>): void {
    switch (request.rcode) {
      case RegisterCode.GETRANDOM:
        // Password challenges need randomness and MD5, which this gateway does not do: a
        // password mount fails to register (documented; exports with passwords are refused).
        this.#send({ kind: "register-status", status: Status.ENOTSUP });
        return;
      case RegisterCode.NEWMETASESSION:
        // Meta mounts (mfsmount -o mfsmeta) are not supported: no export matches them.
        this.#send({ kind: "register-status", status: Status.EACCES });
        return;
      case RegisterCode.NEWSESSION:
        this.#newSession(request);
        return;
      case RegisterCode.RECONNECT:
      case RegisterCode.TOOLS:
        if (request.metaId !== undefined && request.metaId !== this.#options.metaId) {
          this.#resumeRefused(request.rcode, request.version, Status.BADSESSIONID);
          return;
        }
        this.#phase = "registering";
        this.#actions.push({
          kind: "session-load",
          token: this.#token({ kind: "session-resume", rcode: request.rcode, version: request.version }),
          sessionId: request.sessionId,
        });
        return;
    }
  }

  #newSession(request: Extract<CltomaFuseRegister, { rcode: 2 }>): void {
    const path = nameFromBytes(withoutNul(request.path));
    const match = matchExport(this.#options.exports, this.#options.peerIp, request.version, path);
    if (typeof match === "number") {
      this.#send({ kind: "register-status", status: match });
      return;
    }
    this.#phase = "registering";
    const components = path.split("/").filter((c) => c !== "" && c !== ".");
    this.#resolveRoot({ request, rule: match, components, index: 0 }, 1);
  }

  /** Looks up the next subfolder component from `inode`, or finishes with `inode` as the root. */
  #resolveRoot(resolve: RootResolution, inode: number): void {
    if (resolve.index === resolve.components.length) {
      this.#sessionFor(resolve.request, draftFor(resolve.request, resolve.rule, inode, this.#options.peerIp));
      return;
    }
    // The subfolder is resolved as mfsmaster's fs_getrootinode does: with no permission checks.
    const ctx: Ctx = { sessionId: 0, uid: 0, gids: [0], sesflags: 0, rootInode: 1, requestId: `${this.#requestIdPrefix}register:${this.#nextToken}` };
    const command: Command = { kind: "lookup", parent: inode, name: resolve.components[resolve.index]! };
    this.#call(command, ctx, { kind: "root-lookup", resolve });
  }

  #rootLookupResult(resolve: RootResolution, result: Result): void {
    if (result.status !== Status.OK) {
      this.#phase = "unregistered";
      this.#send({ kind: "register-status", status: result.status });
      return;
    }
    const found = result as Extract<Result, { inode: number; lflags: number }>;
    if (found.attr.type !== NodeType.DIRECTORY) {
      this.#phase = "unregistered";
      this.#send({ kind: "register-status", status: Status.ENOTDIR });
      return;
    }
    this.#resolveRoot({ ...resolve, index: resolve.index + 1 }, found.inode);
  }

  /** A NEWSESSION carrying the old session id (after RECONNECT said EPERM) reuses it if it can. */
  #sessionFor(request: Extract<CltomaFuseRegister, { rcode: 2 }>, draft: SessionDraft): void {
    const reusable = request.sessionId !== undefined && request.sessionId !== 0 && (request.metaId === undefined || request.metaId === this.#options.metaId);
    if (reusable) {
      this.#actions.push({ kind: "session-load", token: this.#token({ kind: "session-reuse", draft }), sessionId: request.sessionId! });
      return;
    }
    this.#createSession(draft);
  }

  #createSession(draft: SessionDraft): void {
    this.#actions.push({ kind: "session-create", token: this.#token({ kind: "session-create" }), draft });
  }

  #registered(record: SessionRecord): void {
    this.#session = record;
    this.#phase = "mount";
    this.#send({
      kind: "register-session",
      version: limits.announcedVersion,
      sessionId: record.sessionId,
      metaId: this.#options.metaId,
      sesflags: record.sesflags,
      umask: record.umask,
      rootUid: record.rootUid,
      rootGid: record.rootGid,
      mapAllUid: record.mapAllUid,
      mapAllGid: record.mapAllGid,
      minGoal: record.minGoal,
      maxGoal: record.maxGoal,
      minTrashTime: record.minTrashTime,
      maxTrashTime: record.maxTrashTime,
      disables: record.disables,
    });
  }

  /**
   * RECONNECT / TOOLS with a loaded session record. As mfsmaster: an unknown session is
   * BADSESSIONID (the mount registers anew); a session whose export rules changed, or that comes
   * from another address without DYNAMICIP, is EPERM (the mount re-registers with its id).
   */
  #resumed(rcode: 3 | 4, version: number, record: SessionRecord | null, unanswered: ReadonlyMap<number, UnansweredRequest> | undefined): void {
    if (record === null) {
      this.#resumeRefused(rcode, version, Status.BADSESSIONID);
      return;
    }
    const rule = matchExport(this.#options.exports, this.#options.peerIp, version, record.path);
    const fromElsewhere = (record.sesflags & 0x02) === 0 && record.peerIp !== this.#options.peerIp;
    if (typeof rule === "number" || fromElsewhere || !sameRules(record, { ...draftRules(rule), rootInode: record.rootInode })) {
      this.#resumeRefused(rcode, version, Status.EPERM);
      return;
    }
    this.#session = record;
    this.#phase = rcode === RegisterCode.RECONNECT ? "mount" : "tools";
    this.#sendResume(rcode, version, Status.OK);
    // Tools sessions (rcode 4) resume a session id but have nothing to re-send.
    if (rcode === RegisterCode.RECONNECT) this.#inherit(unanswered);
  }

  #resumeRefused(rcode: 3 | 4, version: number, status: number): void {
    this.#phase = "unregistered";
    this.#sendResume(rcode, version, status);
  }

  #sendResume(rcode: 3 | 4, version: number, status: number): void {
    if (rcode === RegisterCode.RECONNECT && version >= reconnectVersionReplyMin) {
      this.#send({ kind: "register-reconnect", version: limits.announcedVersion, status });
    } else {
      this.#send({ kind: "register-status", status });
    }
  }

  /** CLOSESESSION: drop the session everywhere, answer, and close (mfsmaster's FINISH). */
  #closeSession(request: Extract<CltomaFuseRegister, { rcode: 6 }>): void {
    const session = this.#session;
    assert(session !== null, "CLOSESESSION without a session");
    if (request.metaId !== undefined && request.metaId !== this.#options.metaId) {
      this.#send({ kind: "register-status", status: Status.BADSESSIONID });
    } else {
      const ctx: Ctx = { ...this.#ctx({ uid: 0, gids: [0] }, 0), sessionId: request.sessionId };
      this.#call({ kind: "closesession" }, ctx, { kind: "closesession" });
      this.#actions.push({ kind: "session-delete", sessionId: request.sessionId });
      this.#send({ kind: "register-status", status: Status.OK });
    }
    this.#close("session closed by the client");
  }
}

function withoutNul(bytes: Uint8Array): Uint8Array {
  return bytes.length > 0 && bytes[bytes.length - 1] === 0 ? bytes.subarray(0, bytes.length - 1) : bytes;
}

/** The session fields an export rule decides. */
function draftRules(rule: ExportRule) {
  return {
    sesflags: rule.sesflags,
    umask: rule.umask,
    rootUid: rule.rootUid,
    rootGid: rule.rootGid,
    mapAllUid: rule.mapAllUid,
    mapAllGid: rule.mapAllGid,
    minGoal: rule.minGoal,
    maxGoal: rule.maxGoal,
    minTrashTime: rule.minTrashTime,
    maxTrashTime: rule.maxTrashTime,
    disables: rule.disables,
  };
}

function draftFor(request: Extract<CltomaFuseRegister, { rcode: 2 }>, rule: ExportRule, rootInode: number, peerIp: number): SessionDraft {
  const path = nameFromBytes(withoutNul(request.path));
  return {
    ...draftRules(rule),
    rootInode,
    info: nameFromBytes(withoutNul(request.info)),
    path: path === "" ? "/" : path,
    peerIp,
    clientVersion: request.version,
  };
}

function sameRules(record: SessionRecord, draft: ReturnType<typeof draftRules> & { readonly rootInode: number }): boolean {
  const rules = draftRules(record as unknown as ExportRule);
  return (
    record.rootInode === draft.rootInode &&
    (Object.keys(rules) as (keyof typeof rules)[]).every((key) => rules[key] === draft[key])
  );
}
