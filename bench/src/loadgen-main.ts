/**
 * The load generator as a child process: reads one JSON workload config on stdin, runs it, prints
 * one JSON LoadResult on stdout and progress lines on stderr. The driver starts it through
 * `nsenter --net=/run/netns/<ns>` so that it reaches the server's namespace address; in mount mode it
 * runs in the host namespace against the FUSE mount.
 *
 * Exit codes: 0 result printed (it may still contain errors), 2 bad config, 1 crash.
 */
import type { WorkloadConfig } from "./loadgen-runner.ts";
import { runMountWorkload } from "./mount-workload.ts";
import { runProtocolWorkload } from "./protocol-workload.ts";
import { runShardWorkload } from "./shard-workload.ts";

async function readStdin(bytesMax: number): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of process.stdin) {
    total += (chunk as Buffer).length;
    if (total > bytesMax) throw new Error(`config larger than ${bytesMax} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

async function main(): Promise<number> {
  let config: WorkloadConfig;
  try {
    config = JSON.parse(await readStdin(1 << 20)) as WorkloadConfig;
  } catch (error) {
    process.stderr.write(`loadgen: bad config: ${(error as Error).message}\n`);
    return 2;
  }
  const progress = (line: string) => process.stderr.write(`${line}\n`);
  let result;
  switch (config.mode) {
    case "protocol":
      result = await runProtocolWorkload(config, progress);
      break;
    case "mount":
      result = await runMountWorkload(config, progress);
      break;
    case "shards":
      result = await runShardWorkload(config, progress);
      break;
    default:
      process.stderr.write(`loadgen: unknown mode ${JSON.stringify((config as { mode?: unknown }).mode)}\n`);
      return 2;
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`loadgen: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
