/**
 * One NATS request over a short-lived raw connection, for tests that must look at JetStream
 * from outside the system under test (which server leads a stream, what a KV key holds) without
 * a client library and without creating anything: connect, subscribe to a private inbox, publish,
 * wait for one reply, close.
 *
 *   const info = await jetStreamApi(["nats://127.0.0.1:4222"], "STREAM.INFO.ANTLER_SHARD_0");
 *   const leader = (info as { cluster?: { leader?: string } }).cluster?.leader;
 *
 * The URLs are tried in order until one answers (a test may just have killed the first).
 */
import { Socket } from "node:net";

export class NatsRequestError extends Error {
  override name = "NatsRequestError";
}

const replyBytesMax = 8 * 1024 * 1024;

/** The reply payload to `subject` with `body`, from the first of `urls` that answers. */
export async function natsRequest(
  urls: readonly string[],
  subject: string,
  body: string,
  timeoutMs = 2_000,
): Promise<Buffer> {
  const failures: string[] = [];
  for (const url of urls) {
    try {
      return await requestOnce(url, subject, body, timeoutMs);
    } catch (error) {
      failures.push(`${url}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  throw new NatsRequestError(`no answer to ${subject}: ${failures.join("; ")}`);
}

/**
 * `$JS.API.<api>` with a JSON body; the parsed reply. A reply with an `error` member (JetStream's
 * way of failing) throws, naming the code and description.
 */
export async function jetStreamApi(
  urls: readonly string[],
  api: string,
  request: unknown = {},
  timeoutMs = 2_000,
): Promise<Record<string, unknown>> {
  const subject = `$JS.API.${api}`;
  const reply = await natsRequest(urls, subject, JSON.stringify(request), timeoutMs);
  let value: unknown;
  try {
    value = JSON.parse(reply.toString("utf8"));
  } catch {
    throw new NatsRequestError(`${subject}: reply is not JSON: ${reply.toString("utf8").slice(0, 200)}`);
  }
  if (typeof value !== "object" || value === null) throw new NatsRequestError(`${subject}: reply is not an object`);
  const error = (value as { error?: { code?: number; description?: string } }).error;
  if (error !== undefined) {
    throw new NatsRequestError(`${subject}: ${error.code ?? "?"} ${error.description ?? "(no description)"}`);
  }
  return value as Record<string, unknown>;
}

/** The name of the server leading `stream` (its Raft group), or undefined when it has none now. */
export async function streamLeader(urls: readonly string[], stream: string): Promise<string | undefined> {
  const info = await jetStreamApi(urls, `STREAM.INFO.${stream}`);
  const leader = (info["cluster"] as { leader?: unknown } | undefined)?.leader;
  return typeof leader === "string" && leader !== "" ? leader : undefined;
}

/**
 * The latest value of `key` in KV bucket `bucket`, read from the bucket's stream leader (not a
 * direct get, which a follower may answer stale); undefined when the key has no value.
 */
export async function kvLatest(urls: readonly string[], bucket: string, key: string): Promise<Buffer | undefined> {
  try {
    const reply = await jetStreamApi(urls, `STREAM.MSG.GET.KV_${bucket}`, { last_by_subj: `$KV.${bucket}.${key}` });
    const data = (reply["message"] as { data?: unknown } | undefined)?.data;
    return typeof data === "string" ? Buffer.from(data, "base64") : Buffer.alloc(0);
  } catch (error) {
    // 10037: no message found (never written, or purged).
    if (error instanceof NatsRequestError && /: (404|10037) /.test(error.message)) return undefined;
    throw error;
  }
}

function hostPort(url: string): { host: string; port: number } {
  const match = /^(?:nats:\/\/)?([^:/]+):(\d+)\/?$/.exec(url.trim());
  if (match === null) throw new NatsRequestError(`not a nats://host:port URL: ${url}`);
  return { host: match[1] ?? "", port: Number(match[2]) };
}

function requestOnce(url: string, subject: string, body: string, timeoutMs: number): Promise<Buffer> {
  const { host, port } = hostPort(url);
  const inbox = `_INBOX.testkit.${process.pid}.${Math.random().toString(36).slice(2)}`;
  const payload = Buffer.from(body, "utf8");
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    let received = Buffer.alloc(0);
    let sent = false;
    let settled = false;
    const finish = (error: Error | undefined, reply?: Buffer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error !== undefined) reject(error);
      else resolve(reply ?? Buffer.alloc(0));
    };
    const timer = setTimeout(() => finish(new NatsRequestError(`timed out after ${timeoutMs} ms`)), timeoutMs);
    socket.once("error", (error) => finish(error));
    socket.once("close", () => finish(new NatsRequestError("connection closed")));
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length > replyBytesMax) return finish(new NatsRequestError("reply too large"));
      if (!sent) {
        const end = received.indexOf("\r\n");
        if (end === -1) return;
        if (!received.subarray(0, 5).equals(Buffer.from("INFO "))) return finish(new NatsRequestError("no INFO from the server"));
        received = received.subarray(end + 2);
        sent = true;
        socket.write('CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true}\r\n');
        socket.write(`SUB ${inbox} 1\r\nPUB ${subject} ${inbox} ${payload.length}\r\n`);
        socket.write(Buffer.concat([payload, Buffer.from("\r\n")]));
      }
      const outcome = takeReply(received);
      if (outcome === "incomplete") return;
      if (outcome instanceof Error) return finish(outcome);
      finish(undefined, outcome);
    });
    socket.connect(port, host);
  });
}

/** The first MSG/HMSG payload in `data`; skips PING/PONG/+OK; "incomplete" until it is whole. */
function takeReply(data: Buffer): Buffer | Error | "incomplete" {
  let rest = data;
  for (;;) {
    const end = rest.indexOf("\r\n");
    if (end === -1) return "incomplete";
    const line = rest.subarray(0, end).toString("utf8");
    const after = rest.subarray(end + 2);
    if (line.startsWith("-ERR")) return new NatsRequestError(`server: ${line}`);
    if (line.startsWith("MSG ") || line.startsWith("HMSG ")) {
      const fields = line.split(" ");
      const total = Number(fields.at(-1));
      const headerBytes = line.startsWith("HMSG ") ? Number(fields.at(-2)) : 0;
      if (!Number.isInteger(total) || !Number.isInteger(headerBytes)) return new NatsRequestError(`bad line: ${line}`);
      if (after.length < total) return "incomplete";
      if (headerBytes > 0) {
        // Only status headers come here (no responders, timeouts): a reply with a status fails.
        const status = after.subarray(0, headerBytes).toString("utf8").split("\r\n")[0] ?? "";
        if (/^NATS\/1\.0 \d{3}/.test(status)) return new NatsRequestError(`status ${status.slice(9)}`);
      }
      return Buffer.from(after.subarray(headerBytes, total));
    }
    rest = after;
  }
}
