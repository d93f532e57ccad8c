// The namespace workload: a fixed sequence of named steps that exercise, through a real
// mfsmount, the metadata operations a MooseFS master implements (and that Antler must implement
// the same way): directory trees, create, rename, hard and symbolic links, modes including
// suid/sgid/sticky, ownership, permission errors for an unprivileged user, times, truncate,
// xattrs, ACLs, flock, a 10,000-entry directory, rmdir, visibility through a second mount and
// the final rm -rf. Each step works in its own directory and writes a normalised transcript
// (see transcript.ts); running it on two clusters and diffing the transcripts is the test.
//
// Where the kernel or the tools decide a result (e.g. EINVAL for moving a directory into itself),
// both clusters see the same kernel, so such lines match trivially; they are kept because a
// cluster that answers the lookups before them wrongly still shows up there.

import { spawn } from "node:child_process";
import { chmod, chown, lchown, link, lstat, mkdir, open, readdir, readlink, rename, rmdir, stat } from "node:fs/promises";
import { symlink, truncate, unlink, utimes } from "node:fs/promises";
import { join } from "node:path";
import { decodeAclHex, encodeAclText, toHex } from "./acl.ts";
import { registerCleanup, stopPidSync } from "./cleanup.ts";
import type { Credentials } from "./posix-calls.ts";
import { sleep } from "./proc.ts";
import { StepRecorder } from "./step-recorder.ts";
import { formatMode, formatStat, sortedNames, type TranscriptLine } from "./transcript.ts";

/** The unprivileged user of the permission steps (exists on this machine; any uid works). */
export const unprivileged: Credentials = { uid: 1000, gid: 1000 };
/** A group root hands files to in the ownership steps. */
const otherGroup = 100;
/** 2001-02-03 04:05:06 UTC and 2010-01-01 00:00:00 UTC: fixed times for the utimes step. */
const fixedTime = { text: "2001-02-03 04:05:06 UTC", seconds: 981173106 };
const laterTime = { text: "2010-01-01 00:00:00 UTC", seconds: 1262304000 };

export interface WorkloadOptions {
  /** Entries in the big directory (the issue asks for 10,000). */
  readonly bigDirEntries: number;
  /** Concurrent creates while filling the big directory. */
  readonly bigDirConcurrency: number;
  /** A step still running after this long is cut off with a TIMEOUT line (the mount may hang). */
  readonly stepTimeoutMs: number;
  readonly bigDirTimeoutMs: number;
  /** Progress messages (not part of the transcript). */
  readonly progress: (message: string) => void;
  /**
   * After a step times out: replaces the (possibly hung) mounts with fresh ones and returns
   * their roots [primary, peer], so the remaining steps still run. Without it, or after
   * `recoveriesMax` recoveries, the workload stops at the first timeout.
   */
  readonly recover?: () => Promise<readonly [string, string]>;
  readonly recoveriesMax: number;
}

export const defaultWorkloadOptions: WorkloadOptions = {
  bigDirEntries: 10_000,
  bigDirConcurrency: 16,
  stepTimeoutMs: 20_000,
  bigDirTimeoutMs: 120_000,
  progress: () => {},
  recoveriesMax: 3,
};

export interface WorkloadResult {
  readonly lines: TranscriptLine[];
  /** Steps that timed out (the mounts were replaced after each, while recoveries were left). */
  readonly timedOut: string[];
  /** Set when a step timed out and the remaining steps were not run. */
  readonly abortedAt?: string;
  readonly stepMs: ReadonlyArray<readonly [string, number]>;
}

interface Step {
  readonly name: string;
  readonly run: (r: StepRecorder, options: WorkloadOptions) => Promise<void>;
}

/**
 * Runs every step against `primaryRoot` (a mount point), with `peerRoot` the same file system
 * through a second, independent mount. The workload lives in `<mount>/workload`.
 */
export async function runWorkload(primaryRoot: string, peerRoot: string, options: WorkloadOptions): Promise<WorkloadResult> {
  // Modes of created files are part of the transcript; they must not depend on the caller.
  process.umask(0o022);
  const lines: TranscriptLine[] = [];
  const stepMs: Array<[string, number]> = [];
  const timedOut: string[] = [];
  let root = join(primaryRoot, "workload");
  let peer = join(peerRoot, "workload");
  const setup = new StepRecorder("setup", root, peer);
  await setup.call("mkdir workload", () => mkdir(root, { mode: 0o755 }));
  lines.push(...setup.lines);
  for (const step of steps) {
    const recorder = new StepRecorder(step.name, join(root, step.name), join(peer, step.name));
    const started = Date.now();
    options.progress(`step ${step.name}`);
    // Steps that create or remove the 10,000-entry directory do thousands of round trips; they get
    // the long bound (correctness is judged here, speed in bench/).
    const timeoutMs = step.name === "big-dir" || step.name === "rm-rf" ? options.bigDirTimeoutMs : options.stepTimeoutMs;
    const outcome = await withTimeout(runStep(step, recorder, options), timeoutMs);
    stepMs.push([step.name, Date.now() - started]);
    // Copied now: a hung step that wakes up later cannot add lines to the transcript.
    lines.push(...recorder.lines);
    if (outcome === "done") continue;
    timedOut.push(step.name);
    if (options.recover === undefined || timedOut.length > options.recoveriesMax) {
      lines.push({ step: step.name, text: `TIMEOUT after ${timeoutMs} ms; remaining steps not run` });
      return { lines, timedOut, abortedAt: step.name, stepMs };
    }
    lines.push({ step: step.name, text: `TIMEOUT after ${timeoutMs} ms; mounts replaced, next step follows` });
    options.progress(`step ${step.name} timed out; replacing the mounts`);
    const [newPrimary, newPeer] = await options.recover();
    root = join(newPrimary, "workload");
    peer = join(newPeer, "workload");
  }
  return { lines, timedOut, stepMs };
}

async function runStep(step: Step, r: StepRecorder, options: WorkloadOptions): Promise<void> {
  await r.call(`mkdir ${step.name}`, () => mkdir(r.dir, { mode: 0o755 }));
  try {
    await step.run(r, options);
  } catch (error) {
    // Helpers record errnos themselves; anything reaching here is a harness-level failure
    // (e.g. a tool that could not start), which must show in the transcript too.
    r.note(`step failed: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`);
  }
}

async function withTimeout(work: Promise<void>, timeoutMs: number): Promise<"done" | "timeout"> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), timeoutMs)));
  try {
    return await Promise.race([work.then(() => "done" as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function createEmpty(path: string, mode = 0o644): Promise<void> {
  const handle = await open(path, "wx", mode);
  await handle.close();
}

async function listing(path: string): Promise<string> {
  return sortedNames(await readdir(path));
}

// ---------------------------------------------------------------------------------------------
// The steps, in order.

const steps: Step[] = [
  {
    name: "tree",
    run: async (r) => {
      await r.command("mkdir -p l1/l2/l3/l4/l5", ["mkdir", "-p", "l1/l2/l3/l4/l5"]);
      for (const path of ["l1", "l1/l2", "l1/l2/l3", "l1/l2/l3/l4", "l1/l2/l3/l4/l5"]) await r.stat(path);
      await r.command("mkdir -p again", ["mkdir", "-p", "l1/l2/l3/l4/l5"]);
      await r.command("mkdir -p l1/l2/side/x", ["mkdir", "-p", "l1/l2/side/x"]);
      await r.stat("l1/l2");
      await r.call("mkdir l1 (exists)", () => mkdir(r.path("l1")));
      await r.call("mkdir missing/x", () => mkdir(r.path("missing/x")));
      await r.call("mkdir l1/m mode 0700", () => mkdir(r.path("l1/m"), { mode: 0o700 }));
      await r.stat("l1/m");
      await r.command("find .", ["find", "."], { keepStdout: true, sortStdout: true });
      await r.call("readdir l1/l2", () => listing(r.path("l1/l2")));
    },
  },
  {
    name: "create",
    run: async (r) => {
      await r.call("create f", () => createEmpty(r.path("f")));
      await r.stat("f");
      await r.call("create f (exists)", () => createEmpty(r.path("f")));
      await r.call("create nodir/f", () => createEmpty(r.path("nodir/f")));
      await r.call("create f/x (parent is a file)", () => createEmpty(r.path("f/x")));
      await r.call("create private mode 0600", () => createEmpty(r.path("private"), 0o600));
      await r.stat("private");
      await r.call("create mode 0777 (umask 022)", () => createEmpty(r.path("umasked"), 0o777));
      await r.stat("umasked");
      await r.command("mkfifo pipe", ["mkfifo", "pipe"]);
      await r.stat("pipe");
      await r.call("create 255-byte name", () => createEmpty(r.path("n".repeat(255))));
      await r.call("create 256-byte name", () => createEmpty(r.path("n".repeat(256))));
      await r.call("create name with spaces and unicode", () => createEmpty(r.path("a b ü 字")));
      await r.stat("a b ü 字");
      await r.call("readdir", async () => (await readdir(r.dir)).map((name) => (name.length > 20 ? `n*${name.length}` : name)).sort().join(","));
    },
  },
  {
    name: "rename",
    run: async (r) => {
      await r.call("create a", () => createEmpty(r.path("a")));
      await r.call("rename a b", () => rename(r.path("a"), r.path("b")));
      await r.stat("a");
      await r.stat("b");
      await r.call("mkdir sub", () => mkdir(r.path("sub")));
      await r.call("rename b sub/b (across directories)", () => rename(r.path("b"), r.path("sub/b")));
      await r.call("readdir .", () => listing(r.dir));
      await r.call("readdir sub", () => listing(r.path("sub")));
      await r.call("create c mode 0600", () => createEmpty(r.path("c"), 0o600));
      await r.call("create d mode 0644", () => createEmpty(r.path("d"), 0o644));
      await r.call("link d d2", () => link(r.path("d"), r.path("d2")));
      await r.stat("d2");
      await r.call("rename c d (over an existing file)", () => rename(r.path("c"), r.path("d")));
      await r.stat("d");
      await r.stat("d2");
      await r.stat("c");
      await r.call("rename d2 d2 (onto itself)", () => rename(r.path("d2"), r.path("d2")));
      await r.call("rename sub/b d (over an existing file, across directories)", () => rename(r.path("sub/b"), r.path("d")));
      await r.call("readdir .", () => listing(r.dir));
      await r.call("mkdir x; mkdir y; create y/f", async () => {
        await mkdir(r.path("x"));
        await mkdir(r.path("y"));
        await createEmpty(r.path("y/f"));
      });
      await r.call("rename x y (onto a non-empty directory)", () => rename(r.path("x"), r.path("y")));
      await r.call("mkdir e", () => mkdir(r.path("e")));
      await r.call("rename x e (onto an empty directory)", () => rename(r.path("x"), r.path("e")));
      await r.stat("x");
      await r.stat("e");
      await r.call("rename d e (file onto a directory)", () => rename(r.path("d"), r.path("e")));
      await r.call("rename e d (directory onto a file)", () => rename(r.path("e"), r.path("d")));
      await r.call("rename y y/sub (directory into itself)", () => rename(r.path("y"), r.path("y/sub")));
      await r.call("rename missing z", () => rename(r.path("missing"), r.path("z")));
      await r.call("rename y sub/y (directory across directories)", () => rename(r.path("y"), r.path("sub/y")));
      await r.stat("sub");
      await r.stat("sub/y");
      await r.call("readdir sub/y", () => listing(r.path("sub/y")));
    },
  },
  {
    name: "hardlink",
    run: async (r) => {
      await r.call("create f", () => createEmpty(r.path("f")));
      await r.call("link f g", () => link(r.path("f"), r.path("g")));
      await r.stat("f");
      await r.stat("g");
      await r.call("mkdir sub", () => mkdir(r.path("sub")));
      await r.call("link f sub/h (other directory)", () => link(r.path("f"), r.path("sub/h")));
      await r.stat("sub/h");
      await r.call("link g f (target exists)", () => link(r.path("g"), r.path("f")));
      await r.call("link sub dirlink (directory)", () => link(r.path("sub"), r.path("dirlink")));
      await r.call("link missing x", () => link(r.path("missing"), r.path("x")));
      await r.call("chmod f 0600 (shared by all links)", () => chmod(r.path("f"), 0o600));
      await r.stat("sub/h");
      await r.call("unlink f", () => unlink(r.path("f")));
      await r.stat("g");
      await r.call("unlink g", () => unlink(r.path("g")));
      await r.stat("sub/h");
      await r.call("readdir .", () => listing(r.dir));
    },
  },
  {
    name: "symlink",
    run: async (r) => {
      await r.call("create target", () => createEmpty(r.path("target")));
      await r.call("symlink target s1", () => symlink("target", r.path("s1")));
      await r.call("readlink s1", () => readlink(r.path("s1")));
      await r.lstat("s1");
      await r.stat("s1");
      await r.call("symlink ../symlink/missing dangling", () => symlink("../symlink/missing", r.path("dangling")));
      await r.call("readlink dangling", () => readlink(r.path("dangling")));
      await r.lstat("dangling");
      await r.stat("dangling");
      await r.call("symlink /abs/path/x abs", () => symlink("/abs/path/x", r.path("abs")));
      await r.call("readlink abs", () => readlink(r.path("abs")));
      const longTarget = `${"d/".repeat(600)}end`;
      await r.call("symlink <1203-byte target> long", () => symlink(longTarget, r.path("long")));
      await r.call("readlink long (equals target)", async () => String((await readlink(r.path("long"))) === longTarget));
      await r.lstat("long");
      await r.call("symlink x s1 (exists)", () => symlink("x", r.path("s1")));
      await r.call("readlink target (not a symlink)", () => readlink(r.path("target")));
      await r.call("link s1 s2 (hard link to a symlink)", () => link(r.path("s1"), r.path("s2")));
      await r.lstat("s2");
      await r.call("mkdir d; symlink ../target d/up", async () => {
        await mkdir(r.path("d"));
        await symlink("../target", r.path("d/up"));
      });
      await r.stat("d/up");
      await r.call("unlink target", () => unlink(r.path("target")));
      await r.stat("s1");
      await r.lstat("s1");
    },
  },
  {
    name: "chmod",
    run: async (r) => {
      await r.call("create f", () => createEmpty(r.path("f")));
      for (const mode of [0o640, 0o4755, 0o2755, 0o6755, 0o1644, 0o7777, 0o000, 0o644]) {
        await r.call(`chmod f ${formatMode(mode)}`, () => chmod(r.path("f"), mode));
        await r.stat("f");
      }
      await r.call("mkdir d", () => mkdir(r.path("d")));
      for (const mode of [0o1777, 0o2750, 0o700]) {
        await r.call(`chmod d ${formatMode(mode)}`, () => chmod(r.path("d"), mode));
        await r.stat("d");
      }
      await r.call("symlink f link; chmod link 0600 (follows)", async () => {
        await symlink("f", r.path("link"));
        await chmod(r.path("link"), 0o600);
      });
      await r.stat("f");
      await r.lstat("link");
      await r.command("chmod u+s,g+s f (tool)", ["chmod", "u+s,g+s", "f"]);
      await r.stat("f");
      await r.call("chmod missing 0644", () => chmod(r.path("missing"), 0o644));
    },
  },
  {
    name: "chown",
    run: async (r) => {
      await r.call("create f", () => createEmpty(r.path("f")));
      await r.call("chown f 1000:1000", () => chown(r.path("f"), 1000, 1000));
      await r.stat("f");
      await r.call(`chown f -1:${otherGroup}`, () => chown(r.path("f"), -1, otherGroup));
      await r.stat("f");
      await r.call("chmod f 06755; chown f 0:0 (chown clears suid/sgid)", async () => {
        await chmod(r.path("f"), 0o6755);
        await chown(r.path("f"), 0, 0);
      });
      await r.stat("f");
      await r.call("mkdir d; chmod d 02755; chown d 1000:1000 (directories keep sgid)", async () => {
        await mkdir(r.path("d"));
        await chmod(r.path("d"), 0o2755);
        await chown(r.path("d"), 1000, 1000);
      });
      await r.stat("d");
      await r.call("symlink f link; lchown link 1000:100", async () => {
        await symlink("f", r.path("link"));
        await lchown(r.path("link"), 1000, otherGroup);
      });
      await r.lstat("link");
      await r.stat("f");
      await r.command("chown 2000:3000 f (tool)", ["chown", "2000:3000", "f"]);
      await r.stat("f");
    },
  },
  {
    name: "sgid-inherit",
    run: async (r) => {
      await r.call(`mkdir g; chown g 0:${otherGroup}; chmod g 02775`, async () => {
        await mkdir(r.path("g"));
        await chown(r.path("g"), 0, otherGroup);
        await chmod(r.path("g"), 0o2775);
      });
      await r.stat("g");
      await r.call("create g/f", () => createEmpty(r.path("g/f")));
      await r.stat("g/f");
      await r.call("mkdir g/sub", () => mkdir(r.path("g/sub")));
      await r.stat("g/sub");
      await r.call("create g/sub/f", () => createEmpty(r.path("g/sub/f")));
      await r.stat("g/sub/f");
      await r.call("mkdir plain; create plain/f (no sgid: creator's group)", async () => {
        await mkdir(r.path("plain"));
        await chown(r.path("plain"), 0, otherGroup);
        await createEmpty(r.path("plain/f"));
      });
      await r.stat("plain/f");
    },
  },
  {
    name: "permissions",
    run: async (r) => {
      await r.call("setup: rootdir 0755 with rootfile 0644 and secret 0600, open 0777, closed 0700", async () => {
        await mkdir(r.path("rootdir"), { mode: 0o755 });
        await createEmpty(r.path("rootdir/rootfile"), 0o644);
        await createEmpty(r.path("rootdir/secret"), 0o600);
        await mkdir(r.path("open"));
        await chmod(r.path("open"), 0o777);
        await mkdir(r.path("closed"), { mode: 0o700 });
        await createEmpty(r.path("closed/inner"));
      });
      const p = (name: string): string => r.path(name);
      await r.calls(
        "as user",
        [
          ["create", p("rootdir/new"), 0o644],
          ["mkdir", p("rootdir/newdir"), 0o755],
          ["unlink", p("rootdir/rootfile")],
          ["rename", p("rootdir/rootfile"), p("open/stolen")],
          ["chmod", p("rootdir/rootfile"), 0o777],
          ["chown", p("rootdir/rootfile"), 1000, 1000],
          ["open_read", p("rootdir/rootfile")],
          ["open_write", p("rootdir/rootfile")],
          ["open_read", p("rootdir/secret")],
          ["truncate", p("rootdir/rootfile"), 0],
          ["utime", p("rootdir/rootfile"), 1, 2],
          ["utime_now", p("rootdir/rootfile")],
          ["stat", p("closed/inner")],
          ["listdir", p("closed")],
          ["listdir", p("rootdir")],
          ["create", p("open/mine"), 0o644],
          ["stat", p("open/mine")],
          ["chmod", p("open/mine"), 0o600],
          ["chown", p("open/mine"), 0, 0],
          ["chown", p("open/mine"), -1, 1000],
          ["chown", p("open/mine"), -1, otherGroup],
          ["utime", p("open/mine"), fixedTime.seconds, fixedTime.seconds],
          ["mkdir", p("open/mydir"), 0o755],
          ["stat", p("open/mydir")],
          ["chmod", p("open/mine"), 0o4755],
          ["stat", p("open/mine")],
        ],
        unprivileged,
      );
      await r.stat("rootdir/rootfile");
      await r.call("chmod open/mine 0600 as root; root reads it anyway", async () => {
        await chmod(r.path("open/mine"), 0o600);
        const handle = await open(r.path("open/mine"), "r");
        await handle.close();
      });
      await r.command("touch rootdir/rootfile as user (tool)", ["touch", "rootdir/rootfile"], { user: unprivileged });
      await r.command("mkdir -p open/a/b as user (tool)", ["mkdir", "-p", "open/a/b"], { user: unprivileged });
      await r.stat("open/a/b");
    },
  },
  {
    name: "sticky",
    run: async (r) => {
      await r.call("mkdir t; chmod t 01777; create t/rootfile 0666", async () => {
        await mkdir(r.path("t"));
        await chmod(r.path("t"), 0o1777);
        await createEmpty(r.path("t/rootfile"));
        await chmod(r.path("t/rootfile"), 0o666);
      });
      await r.stat("t");
      const p = (name: string): string => r.path(name);
      await r.calls(
        "as user",
        [
          ["create", p("t/userfile"), 0o644],
          ["open_write", p("t/rootfile")],
          ["unlink", p("t/rootfile")],
          ["rename", p("t/rootfile"), p("t/renamed")],
          ["rename", p("t/userfile"), p("t/rootfile")],
          ["rename", p("t/userfile"), p("t/userfile2")],
          ["unlink", p("t/userfile2")],
          ["listdir", p("t")],
        ],
        unprivileged,
      );
      await r.call("unlink t/rootfile as root", () => unlink(r.path("t/rootfile")));
    },
  },
  {
    name: "utimes",
    run: async (r) => {
      await r.call("create f", () => createEmpty(r.path("f")));
      await r.command(`touch -d '${fixedTime.text}' f`, ["touch", "-d", fixedTime.text, "f"]);
      await r.command("stat -c '%X %Y' f", ["stat", "-c", "%X %Y", "f"], { keepStdout: true });
      await r.command(`touch -m -d '${laterTime.text}' f`, ["touch", "-m", "-d", laterTime.text, "f"]);
      await r.command("stat -c '%X %Y' f", ["stat", "-c", "%X %Y", "f"], { keepStdout: true });
      await r.command(`touch -a -d '${laterTime.text}' f`, ["touch", "-a", "-d", laterTime.text, "f"]);
      await r.command("stat -c '%X %Y' f", ["stat", "-c", "%X %Y", "f"], { keepStdout: true });
      await r.call("utimes f 1000000000 1500000000", () => utimes(r.path("f"), 1_000_000_000, 1_500_000_000));
      await r.command("stat -c '%X %Y' f", ["stat", "-c", "%X %Y", "f"], { keepStdout: true });
      await r.command(`touch -d '${fixedTime.text}' created (creates it)`, ["touch", "-d", fixedTime.text, "created"]);
      await r.command("stat -c '%F %s %X %Y' created", ["stat", "-c", "%F %s %X %Y", "created"], { keepStdout: true });
      await r.call("mkdir d", () => mkdir(r.path("d")));
      await r.command(`touch -d '${fixedTime.text}' d`, ["touch", "-d", fixedTime.text, "d"]);
      await r.command("stat -c '%X %Y' d", ["stat", "-c", "%X %Y", "d"], { keepStdout: true });
      await r.call("symlink f link", () => symlink("f", r.path("link")));
      await r.command(`touch -h -d '${laterTime.text}' link (the link itself)`, ["touch", "-h", "-d", laterTime.text, "link"]);
      await r.command("stat -c '%X %Y' link f", ["stat", "-c", "%X %Y", "link", "f"], { keepStdout: true });
      await r.call("utimes missing", () => utimes(r.path("missing"), 1, 1));
    },
  },
  {
    name: "truncate",
    run: async (r) => {
      for (const name of ["e1", "e2", "e3"]) await r.call(`create ${name}`, () => createEmpty(r.path(name)));
      await r.call("truncate e1 0 (empty file)", () => truncate(r.path("e1"), 0));
      await r.stat("e1");
      await r.command("truncate -s 0 e2 (tool)", ["truncate", "-s", "0", "e2"]);
      await r.stat("e2");
      await r.call("open e3 with O_TRUNC", async () => (await open(r.path("e3"), "w")).close());
      await r.stat("e3");
      await r.command("truncate -s 1000 e2 (grow, no data)", ["truncate", "-s", "1000", "e2"]);
      await r.stat("e2");
      await r.command("truncate -s 0 e2", ["truncate", "-s", "0", "e2"]);
      await r.stat("e2");
      await r.call("mkdir d; truncate d 0", async () => {
        await mkdir(r.path("d"));
        await truncate(r.path("d"), 0);
      });
      await r.call("truncate missing 0", () => truncate(r.path("missing"), 0));
      await r.calls("as user", [["truncate", r.path("e1"), 0]], unprivileged);
    },
  },
  {
    name: "xattr",
    run: async (r) => {
      await r.call("create f; mkdir d; symlink f link", async () => {
        await createEmpty(r.path("f"));
        await mkdir(r.path("d"));
        await symlink("f", r.path("link"));
      });
      const f = r.path("f");
      const text = (value: string): string => toHex(new TextEncoder().encode(value));
      const big = toHex(Uint8Array.from({ length: 4000 }, (_, index) => (index * 7 + 3) & 0xff));
      await r.calls("xattr", [
        ["listxattr", f],
        ["setxattr", f, "user.alpha", text("one"), ""],
        ["setxattr", f, "user.beta", "00ff10", ""],
        ["getxattr", f, "user.alpha"],
        ["getxattr", f, "user.beta"],
        ["listxattr", f],
        ["setxattr", f, "user.alpha", text("x"), "create"],
        ["setxattr", f, "user.gamma", text("x"), "replace"],
        ["setxattr", f, "user.alpha", text("two"), "replace"],
        ["getxattr", f, "user.alpha"],
        ["removexattr", f, "user.beta"],
        ["removexattr", f, "user.beta"],
        ["getxattr", f, "user.beta"],
        ["setxattr", f, "user.empty", "", ""],
        ["getxattr", f, "user.empty"],
        ["setxattr", f, "user.big", big, ""],
        ["getxattr", f, "user.big"],
        ["setxattr", f, `user.${"n".repeat(250)}`, text("v"), ""],
        ["setxattr", f, `user.${"n".repeat(260)}`, text("v"), ""],
        ["listxattr", f],
        ["setxattr", r.path("d"), "user.dir", text("on a directory"), ""],
        ["getxattr", r.path("d"), "user.dir"],
        ["lsetxattr", r.path("link"), "user.onlink", text("v"), ""],
        ["getxattr", r.path("link"), "user.alpha"],
        ["getxattr", r.path("missing"), "user.alpha"],
      ]);
      await r.calls(
        "as user",
        [
          ["getxattr", f, "user.alpha"],
          ["setxattr", f, "user.alpha", text("mine"), ""],
          ["removexattr", f, "user.alpha"],
          ["listxattr", f],
        ],
        unprivileged,
      );
    },
  },
  {
    name: "acl",
    run: async (r) => {
      const access = "system.posix_acl_access";
      const defaults = "system.posix_acl_default";
      await r.call("create f 0640", () => createEmpty(r.path("f"), 0o640));
      const aclText = "user::rw-,user:1000:r--,group::r--,mask::r--,other::---";
      const [, readBack] = await r.calls("acl", [
        ["setxattr", r.path("f"), access, encodeAclText(aclText), ""],
        ["getxattr", r.path("f"), access],
        ["stat", r.path("f")],
      ]);
      r.note(`decoded access acl of f: ${typeof readBack === "string" ? decodeAclHex(readBack) : "none"}`);
      await r.calls("acl as user", [["open_read", r.path("f")], ["open_write", r.path("f")]], unprivileged);
      await r.call("chmod f 0600 (sets the mask)", () => chmod(r.path("f"), 0o600));
      const [afterChmod] = await r.calls("acl", [["getxattr", r.path("f"), access]]);
      r.note(`decoded access acl of f: ${typeof afterChmod === "string" ? decodeAclHex(afterChmod) : "none"}`);
      await r.calls("acl as user", [["open_read", r.path("f")]], unprivileged);
      await r.call("mkdir d", () => mkdir(r.path("d")));
      const defaultText = "user::rwx,user:1000:rwx,group::r-x,mask::rwx,other::r-x";
      await r.calls("acl", [["setxattr", r.path("d"), defaults, encodeAclText(defaultText), ""]]);
      await r.call("create d/f 0644 (inherits the default acl)", () => createEmpty(r.path("d/f"), 0o644));
      await r.call("mkdir d/sub (inherits the default acl)", () => mkdir(r.path("d/sub"), 0o755));
      const [inheritedFile, , inheritedDefault] = await r.calls("acl", [
        ["getxattr", r.path("d/f"), access],
        ["stat", r.path("d/f")],
        ["getxattr", r.path("d/sub"), defaults],
      ]);
      r.note(`decoded access acl of d/f: ${typeof inheritedFile === "string" ? decodeAclHex(inheritedFile) : "none"}`);
      r.note(`decoded default acl of d/sub: ${typeof inheritedDefault === "string" ? decodeAclHex(inheritedDefault) : "none"}`);
      await r.calls("acl as user", [["create", r.path("d/userfile"), 0o644]], unprivileged);
      await r.calls("acl", [
        ["removexattr", r.path("f"), access],
        ["getxattr", r.path("f"), access],
        ["stat", r.path("f")],
        ["setxattr", r.path("f"), access, "0200000001000600", ""], // truncated entry: malformed
      ]);
    },
  },
  {
    name: "flock",
    run: async (r) => {
      await r.call("create f", () => createEmpty(r.path("f")));
      const exclusive = await holdLock(r.path("f"), "-x");
      r.note(`holder: flock -x f -> ${exclusive.state}`);
      await r.command("flock -n -x f true (conflicts)", ["flock", "-n", "-x", "f", "true"]);
      await r.command("flock -n -s f true (conflicts)", ["flock", "-n", "-s", "f", "true"]);
      await r.command("flock -w 0.3 -x f true (times out)", ["flock", "-w", "0.3", "-x", "f", "true"]);
      await r.command("flock -n -x peer:f true (second mount conflicts)", ["flock", "-n", "-x", r.peerPath("f"), "true"]);
      r.note(`holder released: exit=${await exclusive.release()}`);
      await r.command("flock -n -x f true (free again)", ["flock", "-n", "-x", "f", "true"]);
      const shared = await holdLock(r.path("f"), "-s");
      r.note(`holder: flock -s f -> ${shared.state}`);
      await r.command("flock -n -s f true (shared with shared)", ["flock", "-n", "-s", "f", "true"]);
      await r.command("flock -n -x f true (exclusive vs shared)", ["flock", "-n", "-x", "f", "true"]);
      r.note(`holder released: exit=${await shared.release()}`);
      await r.command("flock -n -x peer:f true (free through the second mount)", ["flock", "-n", "-x", r.peerPath("f"), "true"]);
    },
  },
  {
    name: "big-dir",
    run: async (r, options) => {
      const count = options.bigDirEntries;
      const names = Array.from({ length: count }, (_, index) => `entry-${String(index).padStart(5, "0")}`);
      await r.call("mkdir big", () => mkdir(r.path("big")));
      const failures = new Map<string, number>();
      let next = 0;
      let done = 0;
      const worker = async (): Promise<void> => {
        while (next < names.length) {
          const name = names[next++]!;
          try {
            await createEmpty(r.path(`big/${name}`));
          } catch (error) {
            const code = (error as { code?: string }).code ?? "error";
            failures.set(code, (failures.get(code) ?? 0) + 1);
          }
          if (++done % 2_000 === 0) options.progress(`big-dir: ${done}/${count} created`);
        }
      };
      await Promise.all(Array.from({ length: options.bigDirConcurrency }, worker));
      r.note(`create ${count} entries -> failures ${JSON.stringify(Object.fromEntries([...failures].sort()))}`);
      await r.command("ls -f big | wc -l", ["sh", "-c", "ls -f big | wc -l"], { keepStdout: true });
      await r.command("find big | wc -l", ["sh", "-c", "find big | wc -l"], { keepStdout: true });
      await r.call("readdir big equals the created names", async () => {
        const listed = (await readdir(r.path("big"))).sort();
        const missing = names.filter((name) => !listed.includes(name));
        return `listed=${listed.length} complete=${listed.length === count && missing.length === 0}`;
      });
      await r.call("readdir peer:big count", async () => String((await readdir(r.peerPath("big"))).length));
      await r.stat("big");
      await r.stat(`big/${names[count - 1]}`, "peer");
    },
  },
  {
    name: "rmdir",
    run: async (r) => {
      await r.call("mkdir full; create full/f", async () => {
        await mkdir(r.path("full"));
        await createEmpty(r.path("full/f"));
      });
      await r.call("rmdir full (not empty)", () => rmdir(r.path("full")));
      await r.command("rmdir full (tool)", ["rmdir", "full"]);
      await r.call("rmdir full/f (a file)", () => rmdir(r.path("full/f")));
      await r.call("unlink full (a directory)", () => unlink(r.path("full")));
      await r.call("rmdir missing", () => rmdir(r.path("missing")));
      await r.call("unlink full/f", () => unlink(r.path("full/f")));
      await r.call("rmdir full", () => rmdir(r.path("full")));
      await r.stat("full");
      await r.stat(".");
    },
  },
  {
    name: "second-mount",
    run: async (r) => {
      await r.call("primary: mkdir m; create m/f 0600; symlink f m/s", async () => {
        await mkdir(r.path("m"));
        await createEmpty(r.path("m/f"), 0o600);
        await symlink("f", r.path("m/s"));
      });
      await r.calls("primary", [["setxattr", r.path("m/f"), "user.k", "7631", ""]]);
      await r.stat("m/f", "peer");
      await r.call("peer: readdir m", () => listing(r.peerPath("m")));
      await r.call("peer: readlink m/s", () => readlink(r.peerPath("m/s")));
      await r.calls("peer", [["getxattr", r.peerPath("m/f"), "user.k"]]);
      await r.command("ls -la peer:m | mode links name", ["sh", "-c", `ls -la "$0" | tail -n +2 | awk '{print $1, $2, $NF}'`, r.peerPath("m")], {
        keepStdout: true,
        sortStdout: true,
      });
      await r.call("peer: create m/g; rename m/f m/h; chmod m/h 0640", async () => {
        await createEmpty(r.peerPath("m/g"));
        await rename(r.peerPath("m/f"), r.peerPath("m/h"));
        await chmod(r.peerPath("m/h"), 0o640);
      });
      await r.call("primary: readdir m", () => listing(r.path("m")));
      await r.stat("m/h");
      await r.stat("m/f");
      await r.call("peer: unlink m/g", () => unlink(r.peerPath("m/g")));
      await r.stat("m/g");
      await r.call("primary: chown m/h 1000:1000", () => chown(r.path("m/h"), 1000, 1000));
      await r.call("peer: stat m/h", async () => formatStat(await stat(r.peerPath("m/h"))));
      await r.call("peer: lstat m/s", async () => formatStat(await lstat(r.peerPath("m/s"))));
    },
  },
  {
    name: "rm-rf",
    run: async (r) => {
      // The workload directory is this step's parent; the step's own directory goes with it.
      const workload = join(r.dir, "..");
      await r.command("find workload | wc -l (before)", ["sh", "-c", "find \"$0\" | wc -l", workload], { keepStdout: true });
      await r.command("rm -rf workload", ["rm", "-rf", workload], { cwd: "/" });
      await r.call("stat workload", async () => formatStat(await stat(workload)));
      await r.call("peer: stat workload", async () => formatStat(await stat(join(r.peerDir, ".."))));
      await r.call("readdir mount root", () => listing(join(workload, "..")));
    },
  },
];

interface LockHolder {
  /** "held" once flock reported the lock, else what happened instead. */
  readonly state: string;
  /** Lets the holder exit; resolves with its exit code. */
  release(): Promise<string>;
}

/**
 * Starts `flock <mode> <path> sh -c 'echo held; read line'`: it holds the lock until it reads a
 * line on stdin. Its PID is in the cleanup registry while it runs.
 */
async function holdLock(path: string, mode: "-x" | "-s"): Promise<LockHolder> {
  const child = spawn("flock", [mode, path, "sh", "-c", "echo held; read line"], { stdio: ["pipe", "pipe", "pipe"] });
  const pid = child.pid;
  const handle = pid === undefined ? undefined : registerCleanup(`flock holder ${pid}`, () => stopPidSync(pid, 500));
  const exited = new Promise<string>((resolve) => {
    child.on("close", (code, signal) => {
      handle?.forget();
      resolve(signal ?? String(code));
    });
    child.on("error", (error) => resolve(`error:${error.message}`));
  });
  let stdout = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  const deadline = Date.now() + 10_000;
  while (!stdout.includes("held") && Date.now() < deadline && child.exitCode === null) await sleep(20);
  const state = stdout.includes("held") ? "held" : child.exitCode !== null ? `exited ${child.exitCode}` : "not held after 10 s";
  return {
    state,
    release: async () => {
      child.stdin.end("\n");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
