/**
 * Network namespaces for clusters that run without --host. mfschunkserver refuses a master on
 * 127.x, and tests must not use the machine's real addresses, so each cluster gets a namespace
 * with a private 10.213.N.1/32 on its loopback device. Processes join it with
 * `nsenter --net=/run/netns/NAME`, which changes only the network namespace: FUSE mounts made
 * through it stay visible in the host's mount namespace (`ip netns exec` would not do that).
 */
import { execFile } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { promisify } from "node:util";
import { netnsAddressPrefix } from "./config.ts";

const run = promisify(execFile);

export class NetnsError extends Error {
  override name = "NetnsError";
}

export function netnsPath(name: string): string {
  return `/run/netns/${name}`;
}

/** argv prefix that runs a command inside the namespace's network. */
export function netnsEnterArgv(name: string): string[] {
  return ["nsenter", `--net=${netnsPath(name)}`, "--"];
}

export function netnsExists(name: string): boolean {
  return existsSync(netnsPath(name));
}

/**
 * Whether this process already runs in the namespace's network: /run/netns/NAME and
 * /proc/self/ns/net are the same nsfs inode exactly then. False when either cannot be read.
 */
export function insideNetns(name: string): boolean {
  try {
    const own = statSync("/proc/self/ns/net");
    const target = statSync(netnsPath(name));
    return own.dev === target.dev && own.ino === target.ino;
  } catch {
    return false;
  }
}

async function ip(args: string[]): Promise<string> {
  try {
    const { stdout } = await run("ip", args, { encoding: "utf8" });
    return stdout;
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    const reason = stderr || String(error);
    throw new NetnsError(`ip ${args.join(" ")} failed: ${reason}`, { cause: error });
  }
}

export async function listNetns(): Promise<string[]> {
  const output = await ip(["netns", "list"]);
  // Lines look like "antler-1a2b3c4d (id: 3)" or just the name.
  return output.split("\n").map((line) => line.split(" ")[0] ?? "").filter((name) => name !== "");
}

/** Third octets N of every 10.213.N.x address configured in any existing namespace. */
export async function usedNetnsOctets(): Promise<Set<number>> {
  const used = new Set<number>();
  for (const name of await listNetns()) {
    let output: string;
    try {
      output = await ip(["-n", name, "-4", "-o", "addr", "show"]);
    } catch {
      continue; // Deleted between the listing and now.
    }
    const pattern = new RegExp(`inet ${netnsAddressPrefix.replaceAll(".", "\\.")}(\\d+)\\.`, "g");
    for (const match of output.matchAll(pattern)) used.add(Number(match[1]));
  }
  return used;
}

/**
 * Makes sure the namespace exists with lo up and `address`/32 on lo. Returns whether it created
 * the namespace (then the caller owns it and removes it when done).
 */
export async function ensureNetns(name: string, address: string): Promise<boolean> {
  let created = false;
  if (!netnsExists(name)) {
    await ip(["netns", "add", name]);
    created = true;
  }
  try {
    await ip(["-n", name, "link", "set", "lo", "up"]);
    const addresses = await ip(["-n", name, "-4", "-o", "addr", "show", "dev", "lo"]);
    if (!addresses.includes(`inet ${address}/`)) {
      await ip(["-n", name, "addr", "add", `${address}/32`, "dev", "lo"]);
    }
  } catch (error) {
    if (created) await deleteNetns(name);
    throw error;
  }
  return created;
}

/** Removes the namespace's name; a no-op when it is already gone. */
export async function deleteNetns(name: string): Promise<void> {
  if (!netnsExists(name)) return;
  await ip(["netns", "delete", name]);
}
