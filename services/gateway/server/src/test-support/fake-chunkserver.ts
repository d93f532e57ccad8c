/**
 * A scripted chunkserver for tests of the chunkserver port over real TCP: it sends the messages a
 * test gives it and collects, decoded, everything the gateway sends back. It reports a 10.x data
 * address, so the gateway's loopback rule does not apply.
 */
import { connect, type Socket } from "node:net";
import {
  FrameDecoder,
  decodeMasterToChunkserver,
  emptySpaceReport,
  encodeChunkserverMessage,
  type ChunkserverMessage,
  type MasterToChunkserver,
} from "@antler/mfs-wire";

export const fakeChunkserverSpace = { ...emptySpaceReport, usedSpace: 10n, totalSpace: 1_000n };

export class FakeChunkserver {
  readonly received: MasterToChunkserver[] = [];
  readonly #decoder = new FrameDecoder(10_000);
  readonly #socket: Socket;
  readonly closed: Promise<void>;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on("data", (chunk: Buffer) => {
      for (const frame of this.#decoder.push(chunk)) this.received.push(decodeMasterToChunkserver(frame));
    });
    this.closed = new Promise((resolve) => socket.once("close", () => resolve()));
    socket.on("error", () => {});
  }

  static async connect(port: number): Promise<FakeChunkserver> {
    const socket = connect({ host: "127.0.0.1", port });
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    return new FakeChunkserver(socket);
  }

  send(...messages: ChunkserverMessage[]): void {
    for (const message of messages) this.#socket.write(encodeChunkserverMessage(message));
  }

  async waitFor(count: number): Promise<MasterToChunkserver[]> {
    await until(() => this.received.length >= count);
    return this.received;
  }

  /** The messages received so far that are not keepalives. */
  operations(): MasterToChunkserver[] {
    return this.received.filter((m) => m.kind !== "nop");
  }

  /** Waits until `count` non-keepalive messages arrived. */
  async waitForOperations(count: number): Promise<MasterToChunkserver[]> {
    await until(() => this.operations().length >= count);
    return this.operations();
  }

  /** BEGIN, wait for the ACK (a chunkserver is lock-step), END. */
  async register(csid: number, ip = 0x0ad53c02): Promise<void> {
    const before = this.received.length;
    this.send(registerBegin(csid, ip));
    await this.waitFor(before + 1);
    this.send({ kind: "register-end", form: 6, space: null });
  }

  destroy(): void {
    this.#socket.destroy();
  }
}

export function registerBegin(csid: number, ip = 0x0ad53c02): ChunkserverMessage {
  return { kind: "register-begin", form: 6, passcode: null, version: 0x000300ea, ip, port: 9422, timeoutSeconds: 0, csid, space: fakeChunkserverSpace };
}

export async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
