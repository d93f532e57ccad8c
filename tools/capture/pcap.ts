/**
 * A minimal reader of classic pcap files (what `tcpdump -w` writes): global header, then records.
 * Only what the capture tools need: IPv4 TCP segments on Ethernet, Linux cooked (SLL/SLL2) and
 * BSD loopback links. Anything else in the file is skipped, never guessed at.
 */

export class PcapError extends Error {
  override name = "PcapError";
}

export interface TcpSegment {
  /** Capture time in microseconds since the epoch. */
  readonly timeUs: number;
  readonly srcIp: string;
  readonly dstIp: string;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly seq: number;
  readonly syn: boolean;
  readonly fin: boolean;
  readonly rst: boolean;
  readonly ack: boolean;
  readonly payload: Uint8Array;
}

const linkType = { NULL: 0, ETHERNET: 1, LINUX_SLL: 113, LINUX_SLL2: 276 } as const;
const etherTypeIpv4 = 0x0800;
const ipProtocolTcp = 6;

export function readPcapTcp(file: Uint8Array): TcpSegment[] {
  if (file.length < 24) throw new PcapError("file shorter than the pcap global header");
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const magicBe = view.getUint32(0, false);
  let little: boolean;
  let nanos: boolean;
  if (magicBe === 0xa1b2c3d4 || magicBe === 0xa1b23c4d) {
    little = false;
    nanos = magicBe === 0xa1b23c4d;
  } else {
    const magicLe = view.getUint32(0, true);
    if (magicLe !== 0xa1b2c3d4 && magicLe !== 0xa1b23c4d) throw new PcapError("not a pcap file");
    little = true;
    nanos = magicLe === 0xa1b23c4d;
  }
  const link = view.getUint32(20, little);
  const segments: TcpSegment[] = [];
  let at = 24;
  while (at + 16 <= file.length) {
    const sec = view.getUint32(at, little);
    const frac = view.getUint32(at + 4, little);
    const inclLen = view.getUint32(at + 8, little);
    at += 16;
    if (at + inclLen > file.length) break; // truncated last record (capture stopped mid-write)
    const packet = file.subarray(at, at + inclLen);
    at += inclLen;
    const timeUs = sec * 1_000_000 + (nanos ? Math.floor(frac / 1000) : frac);
    const ip = ipv4Of(packet, link);
    if (ip !== null) {
      const segment = tcpOf(ip, timeUs);
      if (segment !== null) segments.push(segment);
    }
  }
  return segments;
}

function ipv4Of(packet: Uint8Array, link: number): Uint8Array | null {
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  switch (link) {
    case linkType.ETHERNET:
      return packet.length >= 14 && view.getUint16(12) === etherTypeIpv4 ? packet.subarray(14) : null;
    case linkType.LINUX_SLL:
      return packet.length >= 16 && view.getUint16(14) === etherTypeIpv4 ? packet.subarray(16) : null;
    case linkType.LINUX_SLL2:
      return packet.length >= 20 && view.getUint16(0) === etherTypeIpv4 ? packet.subarray(20) : null;
    case linkType.NULL:
      // BSD loopback: a 4-byte address family in host order; 2 = AF_INET.
      return packet.length >= 4 && (view.getUint32(0, true) === 2 || view.getUint32(0) === 2) ? packet.subarray(4) : null;
    default:
      throw new PcapError(`unsupported link type ${link}`);
  }
}

function tcpOf(ip: Uint8Array, timeUs: number): TcpSegment | null {
  if (ip.length < 20 || ip[0]! >> 4 !== 4 || ip[9] !== ipProtocolTcp) return null;
  const view = new DataView(ip.buffer, ip.byteOffset, ip.byteLength);
  const ihl = (ip[0]! & 0x0f) * 4;
  const totalLength = Math.min(view.getUint16(2), ip.length);
  if (ihl < 20 || totalLength < ihl + 20) return null;
  const tcp = ip.subarray(ihl, totalLength);
  const tcpView = new DataView(tcp.buffer, tcp.byteOffset, tcp.byteLength);
  const dataOffset = (tcp[12]! >> 4) * 4;
  if (dataOffset < 20 || dataOffset > tcp.length) return null;
  const flags = tcp[13]!;
  return {
    timeUs,
    srcIp: ipText(ip.subarray(12, 16)),
    dstIp: ipText(ip.subarray(16, 20)),
    srcPort: tcpView.getUint16(0),
    dstPort: tcpView.getUint16(2),
    seq: tcpView.getUint32(4),
    fin: (flags & 0x01) !== 0,
    syn: (flags & 0x02) !== 0,
    rst: (flags & 0x04) !== 0,
    ack: (flags & 0x10) !== 0,
    payload: tcp.subarray(dataOffset),
  };
}

function ipText(bytes: Uint8Array): string {
  return Array.from(bytes).join(".");
}
