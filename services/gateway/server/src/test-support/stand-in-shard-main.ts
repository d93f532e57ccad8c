/**
 * The stand-in shard of cluster.ts as a process of its own, for tests whose NATS server runs
 * where the test process cannot reach it (inside a network namespace). Serves `answer` on
 * metaRequestSubject for the NATS server at ANTLER_NATS_URL and prints `READY` once subscribed;
 * exits on SIGTERM.
 */
import { connectNats, serve } from "@antler/io-nats";
import { decodeMessage, encodeMessage, metaRequestSubject, routerQueue, type MetaRequest } from "@antler/ops";
import { answer } from "./cluster.ts";

const url = process.env.ANTLER_NATS_URL;
if (url === undefined) {
  process.stderr.write("stand-in shard: ANTLER_NATS_URL is required\n");
  process.exit(2);
}
const nc = await connectNats(url, "stand-in shard");
serve(nc, metaRequestSubject, routerQueue, (msg) => ({ data: encodeMessage(answer(decodeMessage(msg.data) as MetaRequest)) }));
await nc.flush();
process.stdout.write("READY\n");
process.once("SIGTERM", () => {
  void nc.close().finally(() => process.exit(0));
});
