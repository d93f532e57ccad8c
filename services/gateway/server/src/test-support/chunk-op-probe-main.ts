/**
 * Plays a shard leader asking a gateway for chunk operations, as a process of its own for tests
 * whose NATS server runs inside a network namespace. argv: NATS URL, gateway id, and the requests
 * (ChunkOpRequest[] in the internal codec, base64). Sends them one after the other and prints the
 * statuses as one JSON array on stdout.
 */
import { connectNats } from "@antler/io-nats";
import { base64Decode, decodeMessage, encodeMessage, gatewayChunkOpSubject, type ChunkOpRequest } from "@antler/ops";

const [url, gatewayId, encoded] = process.argv.slice(2);
if (url === undefined || gatewayId === undefined || encoded === undefined) {
  process.stderr.write("usage: chunk-op-probe-main.ts NATS_URL GATEWAY_ID REQUESTS_BASE64\n");
  process.exit(2);
}
const requests = decodeMessage(base64Decode(encoded)) as ChunkOpRequest[];
const nc = await connectNats(url, "chunk-op probe");
const statuses: number[] = [];
for (const request of requests) {
  const reply = await nc.request(gatewayChunkOpSubject(gatewayId), encodeMessage(request), { timeout: 10_000 });
  statuses.push((decodeMessage(reply.data) as { status: number }).status);
}
await nc.close();
process.stdout.write(`${JSON.stringify(statuses)}\n`);
