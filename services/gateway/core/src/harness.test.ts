/**
 * Test harness for ClientConnection: builds request frames with the real mfs-wire encoders,
 * registers a mount, and decodes what the connection sends. Shared by the connection tests.
 */
import assert from "node:assert/strict";
import { FrameDecoder, decodeReply, encodeRequest, type ClientRequest, type MasterReply } from "@antler/mfs-wire";
import { NodeType, type Attr } from "@antler/ops";
import type { ConnectionAction, SessionDraft, SessionRecord, UnansweredRequest } from "./api.ts";
import { createClientConnection, type ClientConnectionOptions } from "./connection.ts";
import { parseExports } from "./exports.ts";

export const metaId = 0x6b07d0ed6a9c537an;
export const peerIp = 0x0ad53201;
export const enc = new TextEncoder();

export function options(exportsText = "* / rw,alldirs,admin,maproot=0:0"): ClientConnectionOptions {
  return { metaId, exports: parseExports(exportsText), peerIp };
}

export const rootCred = { uid: 0, gids: [0], form: "list" } as const;
export const userCred = { uid: 1000, gids: [1000, 5], form: "list" } as const;

export const dirAttr: Attr = { type: NodeType.DIRECTORY, mode: 0o755, uid: 0, gid: 0, atime: 10, mtime: 11, ctime: 12, nlink: 2, length: 1, rdev: 0, flags: 0x0c, winattr: 0 };
export const fileAttr: Attr = { type: NodeType.FILE, mode: 0o644, uid: 1000, gid: 1000, atime: 20, mtime: 21, ctime: 22, nlink: 1, length: 3, rdev: 0, flags: 0x08, winattr: 0 };

export function newSessionRequest(path = "/"): ClientRequest {
  return { kind: "register", rcode: 2, version: 0x000300ea, info: enc.encode("/mnt/antler\0"), path: enc.encode(path + "\0") };
}

export function recordFrom(draft: SessionDraft, sessionId: number): SessionRecord {
  return { ...draft, sessionId };
}

/** A connection plus everything it did, with helpers to drive it. */
export class Driver {
  readonly connection;
  readonly actions: ConnectionAction[] = [];
  readonly #replies = new FrameDecoder(1 << 30);
  readonly sent: { type: number; payload: Uint8Array }[] = [];
  now = 1_000_000;

  constructor(opts: ClientConnectionOptions = options()) {
    this.connection = createClientConnection(opts);
  }

  #take(actions: ConnectionAction[]): ConnectionAction[] {
    for (const action of actions) {
      this.actions.push(action);
      if (action.kind === "send") this.sent.push(...this.#replies.push(action.bytes));
    }
    return actions;
  }

  feed(bytes: Uint8Array, chunk = bytes.length): ConnectionAction[] {
    const out: ConnectionAction[] = [];
    for (let i = 0; i < bytes.length; i += chunk) out.push(...this.#take(this.connection.receive(bytes.subarray(i, i + chunk), this.now)));
    return out;
  }

  request(request: ClientRequest, chunk?: number): ConnectionAction[] {
    return this.feed(encodeRequest(request), chunk);
  }

  tick(): ConnectionAction[] {
    return this.#take(this.connection.tick(this.now));
  }

  result(token: number, result: Parameters<typeof this.connection.onResult>[1]): ConnectionAction[] {
    return this.#take(this.connection.onResult(token, result, this.now));
  }

  created(token: number, record: SessionRecord): ConnectionAction[] {
    return this.#take(this.connection.onSessionCreated(token, record, this.now));
  }

  loaded(token: number, record: SessionRecord | null, unanswered?: ReadonlyMap<number, UnansweredRequest>): ConnectionAction[] {
    return this.#take(this.connection.onSessionLoaded(token, record, this.now, unanswered));
  }

  /** Registers a mount and returns its session record. */
  register(path = "/", sessionId = 1): SessionRecord {
    const actions = this.request(newSessionRequest(path));
    const create = actions.find((a) => a.kind === "session-create");
    assert.ok(create !== undefined && create.kind === "session-create", "NEWSESSION asks for a session");
    const record = recordFrom(create.draft, sessionId);
    this.created(create.token, record);
    this.sent.length = 0;
    return record;
  }

  /** The only call among `actions`. */
  static call(actions: ConnectionAction[]): Extract<ConnectionAction, { kind: "call" }> {
    const calls = actions.filter((a) => a.kind === "call");
    assert.equal(calls.length, 1, `expected one call, got ${JSON.stringify(actions.map((a) => a.kind))}`);
    return calls[0] as Extract<ConnectionAction, { kind: "call" }>;
  }

  /** Decodes the last frame sent, given the request it answers. */
  lastReply(request: ClientRequest | null): MasterReply {
    const frame = this.sent.at(-1);
    assert.ok(frame !== undefined, "nothing was sent");
    return decodeReply(frame, request);
  }

  get closedWith(): string | null {
    const close = this.actions.find((a) => a.kind === "close");
    return close !== undefined && close.kind === "close" ? close.reason : null;
  }
}

export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
