/**
 * A readiness probe that talks a line protocol over one short TCP connection: connect, optionally
 * greet, feed what arrives to `converse` until it decides. Any socket error, an early close, more
 * than a megabyte of input or the timeout all mean "not ready"; the socket is always destroyed.
 */
import { Socket } from "node:net";

/** What `converse` answers for the input so far: ready, not ready, or keep reading (null). */
export type ProbeVerdict = boolean | null;

export interface ProbeDialog {
  /** Sent right after connecting (protocols where the client speaks first). */
  readonly greeting?: string;
  /** Sees everything received so far; may write to the socket. */
  converse(received: string, write: (text: string) => void): ProbeVerdict;
}

const receivedBytesMax = 1_000_000;

export function probeSocket(host: string, port: number, timeoutMs: number, dialog: ProbeDialog): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    let received = "";
    let settled = false;
    const finish = (ready: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(ready);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.setEncoding("utf8");
    socket.once("error", () => finish(false));
    socket.once("close", () => finish(false));
    socket.on("data", (chunk: string) => {
      received += chunk;
      if (received.length > receivedBytesMax) return finish(false);
      const verdict = dialog.converse(received, (text) => socket.write(text));
      if (verdict !== null) finish(verdict);
    });
    socket.connect(port, host, () => {
      if (dialog.greeting !== undefined) socket.write(dialog.greeting);
    });
  });
}
