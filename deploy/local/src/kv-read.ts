/**
 * Reading one key of a JetStream KV bucket without opening (and so possibly creating) the bucket:
 * a plain `$JS.API.STREAM.MSG.GET` request answered by the bucket's stream leader. The launcher
 * and its commands only look at the cluster's buckets; creating one with the wrong replica count
 * would fix that count for good (a stream keeps the replicas it was created with).
 */
import type { NatsConnection } from "@antler/io-nats";

/**
 * The key's current value; undefined when the bucket or key does not exist or the key's last
 * operation was a delete or purge.
 * @throws when NATS does not answer within timeoutMs.
 */
export async function readKvValue(
  nc: NatsConnection,
  bucket: string,
  key: string,
  timeoutMs: number,
): Promise<Uint8Array | undefined> {
  const subject = `$JS.API.STREAM.MSG.GET.KV_${bucket}`;
  const request = JSON.stringify({ last_by_subj: `$KV.${bucket}.${key}` });
  const reply = await nc.request(subject, request, { timeout: timeoutMs });
  let answer: { message?: { data?: unknown; hdrs?: unknown }; error?: unknown };
  try {
    answer = reply.json();
  } catch {
    return undefined;
  }
  const message = answer.message;
  if (answer.error !== undefined || message === undefined) return undefined;
  // A delete or purge is a message with an empty body and a KV-Operation header.
  if (typeof message.hdrs === "string" && Buffer.from(message.hdrs, "base64").toString("latin1").includes("KV-Operation")) {
    return undefined;
  }
  if (typeof message.data !== "string") return undefined;
  return new Uint8Array(Buffer.from(message.data, "base64"));
}
