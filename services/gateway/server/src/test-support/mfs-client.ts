/**
 * A raw MooseFS client for tests: hand-built frames (protocol §1.2: `type:32 length:32 payload`,
 * big-endian) over a plain TCP socket, so the gateway is checked against bytes a real mfsmount
 * would send, independently of the gateway's own codecs.
 */
import { connect, type Socket } from "node:net";

export const Code = {
  NOP: 0,
  REGISTER: 400,
  REGISTER_REPLY: 401,
  LOOKUP: 406,
  LOOKUP_REPLY: 407,
  GETATTR: 408,
  GETATTR_REPLY: 409,
} as const;

/** FUSE_REGISTER_BLOB_ACL: the only blob a 3.0.117 mount sends (protocol §2.2). */
export const registerBlob = new TextEncoder().encode("DjI1GAQDULI5d2YjA26ypc3ovkhjvhciTQVx3CS4nYgtBoUcsljiVpsErJENHaw0");
export const clientVersion = 0x000300ea;
export const RegisterCode = { NEWSESSION: 2, RECONNECT: 3, CLOSESESSION: 6 } as const;

export interface Packet {
  readonly type: number;
  readonly payload: Uint8Array;
}

/** Builds payloads field by field: u8/u16/u32/u64 big-endian and raw bytes. */
export class PayloadWriter {
  readonly #parts: number[] = [];
  u8(v: number): this {
    this.#parts.push(v & 0xff);
    return this;
  }
  u16(v: number): this {
    return this.u8(v >>> 8).u8(v);
  }
  u32(v: number): this {
    return this.u16(v >>> 16).u16(v & 0xffff);
  }
  u64(v: bigint): this {
    return this.u32(Number(v >> 32n)).u32(Number(v & 0xffffffffn));
  }
  bytes(b: Uint8Array): this {
    for (const x of b) this.#parts.push(x);
    return this;
  }
  text(s: string): this {
    return this.bytes(new TextEncoder().encode(s));
  }
  build(): Uint8Array {
    return Uint8Array.from(this.#parts);
  }
}

export function frame(type: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + payload.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, type);
  view.setUint32(4, payload.length);
  out.set(payload, 8);
  return out;
}

export function newSessionPayload(info = "/mnt/antler-test", path = "/"): Uint8Array {
  const infoBytes = new TextEncoder().encode(info + "\0");
  const pathBytes = new TextEncoder().encode(path + "\0");
  return new PayloadWriter()
    .bytes(registerBlob)
    .u8(RegisterCode.NEWSESSION)
    .u32(clientVersion)
    .u32(infoBytes.length)
    .bytes(infoBytes)
    .u32(pathBytes.length)
    .bytes(pathBytes)
    .build();
}

export function reconnectPayload(sessionId: number, metaId: bigint): Uint8Array {
  return new PayloadWriter().bytes(registerBlob).u8(RegisterCode.RECONNECT).u32(sessionId).u32(clientVersion).u64(metaId).build();
}

/** LOOKUP 406: `msgid parent:32 NAME uid:32 gcnt:32 gid:32` (protocol §3.4). */
export function lookupPayload(msgid: number, parent: number, name: string, uid = 0, gid = 0): Uint8Array {
  const nameBytes = new TextEncoder().encode(name);
  return new PayloadWriter().u32(msgid).u32(parent).u8(nameBytes.length).bytes(nameBytes).u32(uid).u32(1).u32(gid).build();
}

export class MfsTestClient {
  readonly #socket: Socket;
  #buffer = new Uint8Array(0);
  readonly #packets: Packet[] = [];
  #waiter: (() => void) | null = null;
  #closed = false;
  readonly closed: Promise<void>;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on("data", (chunk: Buffer) => this.#onData(chunk));
    socket.on("error", () => {});
    this.closed = new Promise((resolve) =>
      socket.on("close", () => {
        this.#closed = true;
        this.#waiter?.();
        resolve();
      }),
    );
  }

  static async connect(port: number, host = "127.0.0.1"): Promise<MfsTestClient> {
    const socket = connect({ port, host });
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    return new MfsTestClient(socket);
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  send(type: number, payload: Uint8Array): void {
    this.#socket.write(frame(type, payload));
  }

  sendRaw(bytes: Uint8Array): void {
    if (!this.#closed) this.#socket.write(bytes);
  }

  /** The next packet other than a NOP keepalive; rejects on close or timeout. */
  async next(timeoutMs = 5_000): Promise<Packet> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const packet = this.#packets.shift();
      if (packet !== undefined) {
        if (packet.type === Code.NOP) continue;
        return packet;
      }
      if (this.#closed) throw new Error("connection closed by the gateway");
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no packet within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#waiter = null;
    }
  }

  async register(info?: string): Promise<{ version: number; sessionId: number; metaId: bigint; reply: Uint8Array }> {
    this.send(Code.REGISTER, newSessionPayload(info));
    const reply = await this.next();
    if (reply.type !== Code.REGISTER_REPLY) throw new Error(`REGISTER answered with type ${reply.type}`);
    if (reply.payload.length !== 49) throw new Error(`REGISTER reply of ${reply.payload.length} bytes (status ${reply.payload[0]})`);
    const view = new DataView(reply.payload.buffer, reply.payload.byteOffset);
    return { version: view.getUint32(0), sessionId: view.getUint32(4), metaId: view.getBigUint64(8), reply: reply.payload };
  }

  /** RECONNECT (rcode 3): the status of the `version:32 status:8` (or bare status) reply. */
  async reconnect(sessionId: number, metaId: bigint): Promise<number> {
    this.send(Code.REGISTER, reconnectPayload(sessionId, metaId));
    const reply = await this.next();
    if (reply.type !== Code.REGISTER_REPLY) throw new Error(`RECONNECT answered with type ${reply.type}`);
    if (reply.payload.length === 5) return reply.payload[4]!;
    if (reply.payload.length === 1) return reply.payload[0]!;
    throw new Error(`RECONNECT reply of ${reply.payload.length} bytes`);
  }

  /** LOOKUP round trip: the status, and the inode when it succeeded. */
  async lookup(msgid: number, parent: number, name: string): Promise<{ status: number; inode?: number; attr?: Uint8Array }> {
    this.send(Code.LOOKUP, lookupPayload(msgid, parent, name));
    const reply = await this.next();
    if (reply.type !== Code.LOOKUP_REPLY) throw new Error(`LOOKUP answered with type ${reply.type}`);
    const view = new DataView(reply.payload.buffer, reply.payload.byteOffset, reply.payload.length);
    if (view.getUint32(0) !== msgid) throw new Error(`LOOKUP reply for msgid ${view.getUint32(0)}, expected ${msgid}`);
    const body = reply.payload.length - 4;
    if (body === 1) return { status: reply.payload[4]! };
    if (body !== 40 && body !== 42 && body < 55) throw new Error(`LOOKUP reply body of ${body} bytes`);
    return { status: 0, inode: view.getUint32(4), attr: reply.payload.slice(8, 44) };
  }

  end(): void {
    this.#socket.end();
  }

  destroy(): void {
    this.#socket.destroy();
  }

  #onData(chunk: Uint8Array): void {
    const merged = new Uint8Array(this.#buffer.length + chunk.length);
    merged.set(this.#buffer);
    merged.set(chunk, this.#buffer.length);
    let offset = 0;
    while (merged.length - offset >= 8) {
      const view = new DataView(merged.buffer, merged.byteOffset + offset);
      const type = view.getUint32(0);
      const length = view.getUint32(4);
      if (merged.length - offset - 8 < length) break;
      this.#packets.push({ type, payload: merged.slice(offset + 8, offset + 8 + length) });
      offset += 8 + length;
    }
    this.#buffer = merged.slice(offset);
    this.#waiter?.();
  }
}
