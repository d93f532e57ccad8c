/**
 * TCP reassembly for captured traffic: turns segments into one ordered byte stream per direction
 * of each connection, dropping retransmitted bytes and holding early segments until the gap before
 * them is filled. Each stream remembers when each byte range was captured, so a decoded frame can
 * be dated by the segment that carried its first byte.
 */
import type { TcpSegment } from "./pcap.ts";

export interface StreamPiece {
  readonly timeUs: number;
  /** Offset of this piece in the stream. */
  readonly offset: number;
  readonly bytes: Uint8Array;
}

export interface TcpStream {
  /** Index of the connection in order of first appearance (both directions share it). */
  readonly connection: number;
  readonly srcIp: string;
  readonly srcPort: number;
  readonly dstIp: string;
  readonly dstPort: number;
  readonly pieces: StreamPiece[];
  /** Bytes lost to a gap that never filled (capture started mid-stream or dropped packets). */
  gapBytes: number;
}

interface StreamState {
  stream: TcpStream;
  /** Next expected sequence number (mod 2^32); null until the first segment is seen. */
  nextSeq: number | null;
  length: number;
  pending: Map<number, TcpSegment>;
}

export function reassemble(segments: readonly TcpSegment[]): TcpStream[] {
  const states = new Map<string, StreamState>();
  // Both directions of a connection share an id; a fresh SYN on a known address pair starts a
  // new connection (ports reused).
  const connectionOfPair = new Map<string, number>();
  let connections = 0;
  const order: TcpStream[] = [];
  for (const segment of segments) {
    const source = `${segment.srcIp}:${segment.srcPort}`;
    const target = `${segment.dstIp}:${segment.dstPort}`;
    const pair = source < target ? `${source}|${target}` : `${target}|${source}`;
    let connection = connectionOfPair.get(pair);
    if (connection === undefined || (segment.syn && !segment.ack)) {
      connection = connections++;
      connectionOfPair.set(pair, connection);
    }
    const key = `${connection}|${source}>${target}`;
    let state = states.get(key);
    if (state === undefined) {
      const stream: TcpStream = {
        connection,
        srcIp: segment.srcIp,
        srcPort: segment.srcPort,
        dstIp: segment.dstIp,
        dstPort: segment.dstPort,
        pieces: [],
        gapBytes: 0,
      };
      state = { stream, nextSeq: null, length: 0, pending: new Map() };
      states.set(key, state);
      order.push(stream);
    }
    if (segment.syn) {
      state.nextSeq = (segment.seq + 1) >>> 0;
      continue;
    }
    if (segment.payload.length === 0) continue;
    if (state.nextSeq === null) state.nextSeq = segment.seq;
    state.pending.set(segment.seq, segment);
    drain(state);
  }
  for (const state of states.values()) {
    // Whatever still waits behind a hole: keep it, counting the hole, so nothing is silently lost.
    while (state.pending.size > 0) {
      const nextSeq = state.nextSeq!;
      const next = [...state.pending.values()].sort((a, b) => seqDiff(a.seq, nextSeq) - seqDiff(b.seq, nextSeq))[0]!;
      state.stream.gapBytes += seqDiff(next.seq, nextSeq);
      state.nextSeq = next.seq;
      drain(state);
    }
  }
  return order;
}

/** Signed distance a - b in sequence space. */
function seqDiff(a: number, b: number): number {
  return ((a - b) << 0);
}

function drain(state: StreamState): void {
  let progressed = true;
  while (progressed) {
    progressed = false;
    for (const [seq, segment] of state.pending) {
      const diff = seqDiff(seq, state.nextSeq!);
      if (diff > 0) continue;
      state.pending.delete(seq);
      const skip = -diff;
      if (skip < segment.payload.length) {
        const bytes = segment.payload.subarray(skip);
        state.stream.pieces.push({ timeUs: segment.timeUs, offset: state.length, bytes });
        state.length += bytes.length;
        state.nextSeq = (state.nextSeq! + bytes.length) >>> 0;
      }
      progressed = true;
    }
  }
}
