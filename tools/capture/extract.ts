/**
 * Turns a tcpdump capture of MooseFS client⇄master traffic into the hex fixture the golden tests of
 * libs/mfs-wire read: every frame (`type:32 length:32 payload`) of every connection on the master's
 * client port, with its direction and the command of the capture script that was running when it
 * was sent (from the marks file written by capture.sh: `<µs since epoch> <command>` per line).
 *
 * Usage: node tools/capture/extract.ts <capture.pcap> <marks.txt> <port> > fixture.json
 */
import { readFileSync } from "node:fs";
import { readPcapTcp } from "./pcap.ts";
import { reassemble, type TcpStream } from "./tcp-stream.ts";

export interface FixtureFrame {
  readonly connection: number;
  /** "c2m": client to master, "m2c": master to client. */
  readonly dir: "c2m" | "m2c";
  readonly type: number;
  readonly payload: string;
  readonly command: string;
  readonly timeUs: number;
}

interface Mark {
  readonly timeUs: number;
  readonly command: string;
}

function main(): void {
  const [pcapPath, marksPath, portText] = process.argv.slice(2);
  if (pcapPath === undefined || marksPath === undefined || portText === undefined) {
    process.stderr.write("usage: extract.ts <capture.pcap> <marks.txt> <port>\n");
    process.exit(2);
  }
  const port = Number(portText);
  const marks = parseMarks(readFileSync(marksPath, "utf8"));
  const streams = reassemble(readPcapTcp(new Uint8Array(readFileSync(pcapPath))));
  const frames: FixtureFrame[] = [];
  for (const stream of streams) {
    const dir = stream.dstPort === port ? "c2m" : stream.srcPort === port ? "m2c" : null;
    if (dir === null) continue;
    if (stream.gapBytes > 0) process.stderr.write(`warning: connection ${stream.connection} ${dir} lost ${stream.gapBytes} bytes\n`);
    frames.push(...framesOf(stream, dir, marks));
  }
  frames.sort((a, b) => a.timeUs - b.timeUs || a.connection - b.connection);
  const out = {
    note:
      "Captured from MooseFS 3.0.117 (Debian mfsmaster, mfschunkserver, mfsmount) by tools/capture/capture.sh; " +
      "one entry per frame on the client port, payload in hex, command = the capture step that was running.",
    frames: frames.map((f) => ({ connection: f.connection, dir: f.dir, type: f.type, command: f.command, payload: f.payload })),
  };
  process.stdout.write(JSON.stringify(out, null, 1) + "\n");
}

function parseMarks(text: string): Mark[] {
  const marks: Mark[] = [];
  for (const line of text.split("\n")) {
    const space = line.indexOf(" ");
    if (space <= 0) continue;
    marks.push({ timeUs: Number(line.slice(0, space)), command: line.slice(space + 1) });
  }
  return marks;
}

function commandAt(marks: readonly Mark[], timeUs: number): string {
  let command = "(before the first step)";
  for (const mark of marks) {
    if (mark.timeUs > timeUs) break;
    command = mark.command;
  }
  return command;
}

function framesOf(stream: TcpStream, dir: "c2m" | "m2c", marks: readonly Mark[]): FixtureFrame[] {
  const total = stream.pieces.reduce((sum, p) => sum + p.bytes.length, 0);
  const bytes = new Uint8Array(total);
  for (const piece of stream.pieces) bytes.set(piece.bytes, piece.offset);
  const view = new DataView(bytes.buffer);
  const frames: FixtureFrame[] = [];
  let at = 0;
  let pieceIndex = 0;
  while (at + 8 <= total) {
    const type = view.getUint32(at);
    const length = view.getUint32(at + 4);
    if (at + 8 + length > total) {
      process.stderr.write(`warning: connection ${stream.connection} ${dir} ends inside a frame\n`);
      break;
    }
    while (pieceIndex + 1 < stream.pieces.length && stream.pieces[pieceIndex + 1]!.offset <= at) pieceIndex++;
    const timeUs = stream.pieces[pieceIndex]!.timeUs;
    frames.push({
      connection: stream.connection,
      dir,
      type,
      payload: hex(bytes.subarray(at + 8, at + 8 + length)),
      command: commandAt(marks, timeUs),
      timeUs,
    });
    at += 8 + length;
  }
  return frames;
}

function hex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

main();
