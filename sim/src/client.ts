/**
 * A simulated mfsmount session. It speaks the MooseFS client protocol through the real codec
 * (libs/mfs-wire) to a gateway, so the codec and the gateway core are in the loop:
 *
 * - it registers (NEWSESSION), then runs a few worker threads, each issuing one request at a time
 *   with its own msgid, reused for every request of that thread, as mfsmount does;
 * - it sends NOPs when idle, as the gateway drops silent connections;
 * - when a request is unanswered for too long or the connection resets, it reconnects (to any live
 *   gateway, REGISTER/RECONNECT with its session id) and re-sends the very same request bytes;
 * - every reply must answer an outstanding msgid exactly once, and must say what the shard
 *   computed (status, inode, attributes) after the gateway translated it.
 */
import { FrameDecoder, ReaddirFlag, decodeReply, encodeRequest, type ClientRequest, type Frame, type MasterReply } from "@antler/mfs-wire";
import { limits } from "@antler/base";
import { nameFromBytes, nameToBytes, Status, type Attr, type Command, type Result } from "@antler/ops";
import type { MountLink, ReplyExecs, SimGateway } from "./gateway.ts";
import type { ClientOp, History } from "./history.ts";
import type { EventLoop } from "./loop.ts";
import type { Prng } from "./prng.ts";
import { Knowledge, nextCaller, nextCommand, type Caller, type OperationKind } from "./workload.ts";

export interface MountTiming {
  /** A request unanswered this long makes the mount reconnect and re-send. */
  readonly requestTimeoutMs: number;
  readonly thinkMaxMs: number;
  readonly reconnectDelayMs: number;
}

export const defaultMountTiming: MountTiming = { requestTimeoutMs: 3_000, thinkMaxMs: 20, reconnectDelayMs: 100 };

interface Outstanding {
  readonly thread: number;
  readonly request: ClientRequest;
  readonly bytes: Uint8Array;
  readonly op: ClientOp;
  sentMs: number;
}

export interface MountOptions {
  readonly id: string;
  readonly loop: EventLoop;
  readonly prng: Prng;
  readonly gateways: readonly SimGateway[];
  readonly history: History;
  readonly replyExecs: ReplyExecs;
  readonly threads: number;
  /** The mount host's IPv4 address (a session resumes only from the same address). */
  readonly peerIp: number;
  /**
   * "per-thread" (as mfsmount): each worker thread reuses one msgid for all its requests.
   * "unique": every request gets a new msgid (a friendlier client, for comparison).
   */
  readonly msgids?: "per-thread" | "unique";
  readonly timing?: MountTiming;
  /** The operation mix (workload.ts operationWeights when omitted). */
  readonly weights?: Readonly<Record<OperationKind, number>>;
  /** Reports a protocol-level failure (the run stops with it). */
  readonly fail: (reason: string) => void;
}

export class MountClient {
  readonly id: string;
  readonly #o: MountOptions;
  readonly #timing: MountTiming;
  readonly #knowledge = new Knowledge();
  #link: MountLink | null = null;
  #decoder = new FrameDecoder(limits.clientPacketBytesMax);
  #sessionId = 0;
  #registered = false;
  #connecting = false;
  #connectionSerial = 0;
  /** msgid → the request waiting for its reply. */
  readonly #outstanding = new Map<number, Outstanding>();
  /** Threads with a request outstanding. */
  readonly #busyThreads = new Set<number>();
  #nextUniqueMsgid = 1;
  #remaining = 0;
  #requests = 0;
  #lastSendMs = 0;
  /** The REGISTER in flight (its reply is decoded against it). */
  #pendingRegister: ClientRequest | null = null;
  /** RECONNECT was refused with EPERM: register anew, asking for the same session id. */
  #reregister = false;
  #metaId = 0n;
  #reconnectScheduled = false;

  constructor(options: MountOptions) {
    this.id = options.id;
    this.#o = options;
    this.#timing = options.timing ?? defaultMountTiming;
  }

  get busy(): boolean {
    return this.#outstanding.size > 0;
  }
  get remaining(): number {
    return this.#remaining;
  }

  describe(): string {
    const waiting = [...this.#outstanding.values()].map((o) => `${o.op.requestId} (${o.op.cmd.kind})`).join(", ");
    return `${this.id}: session ${this.#sessionId}, ${this.#registered ? "registered" : "not registered"}, waiting for [${waiting}], ${this.#remaining} to go`;
  }

  start(count: number): void {
    this.#remaining = count;
    this.#connect();
    this.#scheduleWatchdog();
  }

  stop(): void {
    this.#remaining = 0;
  }

  #connect(): void {
    if (this.#connecting) return;
    this.#connecting = true;
    this.#registered = false;
    const live = this.#o.gateways.filter((g) => g.alive);
    const serial = ++this.#connectionSerial;
    if (live.length === 0) {
      this.#o.loop.after(this.#timing.reconnectDelayMs, `${this.id} reconnect`, () => {
        this.#connecting = false;
        this.#connect();
      });
      return;
    }
    const gateway = this.#o.prng.pick(live);
    this.#decoder = new FrameDecoder(limits.clientPacketBytesMax);
    const link = gateway.connect(
      this.#o.peerIp,
      (bytes) => {
        if (serial === this.#connectionSerial) this.#receive(bytes);
      },
      () => {
        if (serial === this.#connectionSerial) this.#lost("connection reset");
      },
    );
    this.#link = link;
    this.#connecting = false;
    if (link === null) {
      this.#lost("gateway refused");
      return;
    }
    const newSession = { kind: "register", rcode: 2, version: limits.announcedVersion, info: nameToBytes("/mnt/sim\0"), path: nameToBytes("/\0") } as const;
    const register: ClientRequest =
      this.#sessionId === 0
        ? newSession
        : this.#reregister
          ? { ...newSession, sessionId: this.#sessionId, metaId: this.#metaId }
          : { kind: "register", rcode: 3, sessionId: this.#sessionId, version: limits.announcedVersion, metaId: this.#metaId };
    this.#reregister = false;
    this.#pendingRegister = register;
    this.#send(encodeRequest(register));
  }


  /** The connection is gone: reconnect after a short delay; outstanding requests are re-sent. */
  #lost(reason: string): void {
    this.#o.history.note(`${this.id} lost its connection (${reason})`);
    this.#link?.close();
    this.#link = null;
    this.#registered = false;
    this.#connectionSerial++;
    if (this.#reconnectScheduled) return;
    this.#reconnectScheduled = true;
    this.#o.loop.after(this.#timing.reconnectDelayMs, `${this.id} reconnect`, () => {
      this.#reconnectScheduled = false;
      this.#connect();
    });
  }

  #send(bytes: Uint8Array): void {
    this.#lastSendMs = this.#o.loop.nowMs;
    this.#link?.write(bytes);
  }

  #receive(bytes: Uint8Array): void {
    let frames: Frame[];
    try {
      frames = this.#decoder.push(bytes);
    } catch (error) {
      this.#o.fail(`${this.id}: undecodable bytes from the gateway: ${String(error)}`);
      return;
    }
    for (const frame of frames) this.#frame(frame);
  }

  #frame(frame: Frame): void {
    if (!this.#registered) {
      const reply = this.#decode(frame, this.#pendingRegister);
      if (reply === null) return;
      if (reply.kind === "register-session") {
        this.#sessionId = reply.sessionId;
        this.#metaId = reply.metaId;
      } else if (reply.kind === "register-reconnect" || reply.kind === "register-status") {
        if (reply.status !== 0) {
          // As mfsmount: EPERM → register again asking for the same session; anything else
          // (BADSESSIONID: the session is unknown) → a new session.
          this.#o.history.note(`${this.id} reconnect refused with ${reply.status}`);
          if (reply.status === Status.EPERM) this.#reregister = true;
          else this.#sessionId = 0;
          this.#lost("session refused");
          return;
        }
      } else {
        this.#o.fail(`${this.id}: unexpected ${reply.kind} while registering`);
        return;
      }
      this.#registered = true;
      this.#pendingRegister = null;
      // Re-send what was in flight, byte for byte; start idle threads.
      for (const outstanding of this.#outstanding.values()) {
        outstanding.sentMs = this.#o.loop.nowMs;
        outstanding.op.attempts++;
        this.#send(outstanding.bytes);
      }
      for (let thread = 1; thread <= this.#o.threads; thread++) if (!this.#busyThreads.has(thread)) this.#issue(thread);
      return;
    }
    if (frame.payload.length >= 4 && new DataView(frame.payload.buffer, frame.payload.byteOffset, 4).getUint32(0) === 0) return; // NOP
    const msgid = frame.payload.length >= 4 ? new DataView(frame.payload.buffer, frame.payload.byteOffset, 4).getUint32(0) : -1;
    const outstanding = this.#outstanding.get(msgid);
    if (outstanding === undefined) {
      this.#o.fail(`${this.id}: a reply for msgid ${msgid} that has no request outstanding (a second reply, or a stray one)`);
      return;
    }
    const reply = this.#decode(frame, outstanding.request);
    if (reply === null) return;
    this.#outstanding.delete(msgid);
    this.#busyThreads.delete(outstanding.thread);
    const { op } = outstanding;
    op.respondedMs = this.#o.loop.nowMs;
    const execId = this.#o.replyExecs.get(`${this.#link!.id}:${msgid}`);
    if (execId !== undefined) op.execId = execId;
    const result = resultOf(reply);
    op.result = result;
    this.#knowledge.learn(op.cmd, result);
    this.#checkTranslation(op, result);
    this.#o.loop.after(this.#o.prng.int(0, this.#timing.thinkMaxMs), `${this.id} think`, () => this.#issue(outstanding.thread));
  }

  #decode(frame: Frame, request: ClientRequest | null): MasterReply | null {
    try {
      return decodeReply(frame, request);
    } catch (error) {
      this.#o.fail(`${this.id}: reply type ${frame.type} does not decode: ${String(error)}`);
      return null;
    }
  }

  #issue(thread: number): void {
    if (this.#remaining === 0 || !this.#registered || this.#busyThreads.has(thread)) return;
    this.#remaining--;
    const cmd = nextCommand(this.#o.prng, this.#knowledge, this.#o.weights);
    const caller = nextCaller(this.#o.prng);
    const msgid = this.#o.msgids === "unique" ? this.#nextUniqueMsgid++ : thread;
    const request = requestOf(cmd, msgid, caller);
    const bytes = encodeRequest(request);
    const op: ClientOp = {
      client: this.id,
      requestId: `${this.id}.${this.#requests++}`,
      cmd,
      ctx: { sessionId: this.#sessionId, uid: caller.uid, gids: caller.gids, sesflags: 0, rootInode: 1 },
      invokedMs: this.#o.loop.nowMs,
      attempts: 1,
    };
    this.#o.history.ops.push(op);
    this.#outstanding.set(msgid, { thread, request, bytes, op, sentMs: this.#o.loop.nowMs });
    this.#busyThreads.add(thread);
    this.#send(bytes);
  }

  /** The gateway must hand the shard's answer on unchanged (after its own translation). */
  #checkTranslation(op: ClientOp, wire: Result): void {
    if (op.execId === undefined) return;
    const execution = this.#o.history.replies.get(op.execId)?.execution;
    if (execution === undefined) return;
    // Exactly one reply per request, and it is this request's: with msgids reused per thread, a
    // stray second reply to an earlier request would otherwise pass for the answer to this one.
    if (execution.cmd.kind !== op.cmd.kind) {
      this.#o.fail(`${this.id}: the reply to ${op.cmd.kind} (${op.requestId}) came from an execution of ${execution.cmd.kind} (${op.execId})`);
      return;
    }
    const shard = execution.result;
    const problem = compareWire(shard, wire);
    if (problem !== null) this.#o.fail(`${this.id}: the reply to ${op.cmd.kind} (${op.requestId}) differs from the shard's result: ${problem}`);
  }

  #scheduleWatchdog(): void {
    this.#o.loop.after(500, `${this.id} watchdog`, () => {
      const now = this.#o.loop.nowMs;
      if (this.#registered) {
        const late = [...this.#outstanding.values()].some((o) => now - o.sentMs >= this.#timing.requestTimeoutMs);
        if (late) this.#lost("request timed out");
        else if (now - this.#lastSendMs >= limits.clientNopIdleMs) this.#send(encodeRequest({ kind: "nop", msgid: 0 }));
      }
      // A mount stays mounted (and keeps its connection alive) after its workload is done.
      this.#scheduleWatchdog();
    });
  }
}

function requestOf(cmd: Command, msgid: number, caller: Caller): ClientRequest {
  const credentials = { uid: caller.uid, gids: caller.gids, form: "list" } as const;
  switch (cmd.kind) {
    case "lookup":
      return { kind: "lookup", msgid, parent: cmd.parent, name: nameToBytes(cmd.name), credentials };
    case "getattr":
      return { kind: "getattr", msgid, inode: cmd.inode, opened: 0, uid: caller.uid, gid: caller.gids[0]! };
    case "setattr":
      return {
        kind: "setattr", msgid, inode: cmd.inode, opened: 0, credentials, setmask: cmd.setmask, mode: cmd.mode, uid: cmd.uid, gid: cmd.gid,
        atime: cmd.atime, mtime: cmd.mtime, winattr: cmd.winattr, sugidclearmode: cmd.sugidclearmode,
      };
    case "readlink":
      return { kind: "readlink", msgid, inode: cmd.inode };
    case "symlink":
      return { kind: "symlink", msgid, parent: cmd.parent, name: nameToBytes(cmd.name), path: nameToBytes(`${cmd.target}\0`), credentials };
    case "mkdir":
      return { kind: "mkdir", msgid, parent: cmd.parent, name: nameToBytes(cmd.name), mode: cmd.mode, umask: cmd.umask, credentials, copysgid: cmd.copysgid ? 1 : 0 };
    case "create":
      return { kind: "create", msgid, parent: cmd.parent, name: nameToBytes(cmd.name), mode: cmd.mode, umask: cmd.umask, credentials };
    case "unlink":
    case "rmdir":
      return { kind: cmd.kind, msgid, parent: cmd.parent, name: nameToBytes(cmd.name), credentials };
    case "rename":
      return { kind: "rename", msgid, parentSrc: cmd.parentSrc, nameSrc: nameToBytes(cmd.nameSrc), parentDst: cmd.parentDst, nameDst: nameToBytes(cmd.nameDst), credentials };
    case "link":
      return { kind: "link", msgid, inode: cmd.inode, parentDst: cmd.parentDst, nameDst: nameToBytes(cmd.nameDst), credentials };
    case "getxattr":
      return { kind: "getxattr", msgid, inode: cmd.inode, name: nameToBytes(cmd.name), mode: cmd.mode, opened: cmd.opened ? 1 : 0, credentials };
    case "readdir":
      return { kind: "readdir", msgid, inode: cmd.inode, credentials, flags: cmd.withAttr ? ReaddirFlag.WITHATTR : 0, maxEntries: cmd.maxEntries, nedgeId: 0n };
    case "setxattr":
      return { kind: "setxattr", msgid, inode: cmd.inode, name: nameToBytes(cmd.name), value: cmd.value, mode: cmd.mode, opened: cmd.opened ? 1 : 0, credentials };
    default:
      throw new Error(`the simulated mount does not issue ${cmd.kind}`);
  }
}

/** The part of a decoded reply the checkers compare, in the shape of a Result. */
function resultOf(reply: MasterReply): Result {
  switch (reply.kind) {
    case "status":
      return { status: reply.status } as Result;
    case "lookup":
    case "node":
    case "create":
      return { status: 0, inode: reply.inode, attr: reply.attr } as Result;
    case "attr":
      return { status: 0, attr: reply.attr } as Result;
    case "removed":
      return { status: 0, inode: reply.inode } as Result;
    case "readlink":
      return { status: 0, target: String.fromCharCode(...reply.path) } as Result;
    case "xattr":
      return { status: 0, length: reply.length, ...(reply.value === null ? {} : { value: reply.value }) } as Result;
    case "readdir":
      return {
        status: 0,
        entries: reply.entries.map((e) => ({ name: nameFromBytes(e.name), inode: e.inode, type: "attr" in e ? e.attr.type : e.type })),
      } as Result;
    default:
      return { status: 0 } as Result;
  }
}

function compareWire(shard: Result, wire: Result): string | null {
  if (shard.status !== wire.status) return `status ${wire.status} on the wire, ${shard.status} from the shard`;
  if (shard.status !== 0) return null;
  const s = shard as Record<string, unknown>;
  const w = wire as Record<string, unknown>;
  if (typeof s["inode"] === "number" && typeof w["inode"] === "number" && s["inode"] !== w["inode"]) return `inode ${String(w["inode"])} on the wire, ${String(s["inode"])} from the shard`;
  const sa = s["attr"] as Attr | undefined;
  const wa = w["attr"] as Attr | undefined;
  if (sa !== undefined && wa !== undefined) {
    for (const key of ["type", "uid", "gid", "nlink"] as const) {
      if (sa[key] !== wa[key]) return `attr.${key} ${wa[key]} on the wire, ${sa[key]} from the shard`;
    }
    if ((sa.mode & 0o7777) !== (wa.mode & 0o7777)) return `mode ${(wa.mode & 0o7777).toString(8)} on the wire, ${(sa.mode & 0o7777).toString(8)} from the shard`;
  }
  const listing = (r: Record<string, unknown>): string | null => {
    const entries = r["entries"] as readonly { name: string; inode: number; type: number; attr?: { type: number } }[] | undefined;
    return entries === undefined ? null : entries.map((e) => `${e.name} ${e.inode} ${e.attr?.type ?? e.type}`).join(", ");
  };
  if (listing(s) !== null && listing(s) !== listing(w)) return `directory listing [${listing(w)}] on the wire, [${listing(s)}] from the shard`;
  return null;
}
