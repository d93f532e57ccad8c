/**
 * Command-line parsing for `antler`: argv in, a typed command or a UsageError out. Pure (no
 * filesystem, no process state), so every accepted and refused form is unit-tested in args.test.ts.
 * Paths stay as given; cli.ts makes them absolute.
 */
import { chunkserversMax, shardReplicasMax, shardsMax } from "./limits.ts";

export const logLevels = ["debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof logLevels)[number];
export const otelExporters = ["none", "console", "otlp"] as const;
export type OtelExporter = (typeof otelExporters)[number];
/**
 * minimal: one process of everything (quick start). ha: a 3-node NATS cluster with every stream
 * and bucket on 3 replicas, 3 replicas per shard, 2 gateways, 2 routers (config.ts topologyOf).
 */
export const profiles = ["minimal", "ha"] as const;
export type Profile = (typeof profiles)[number];

/** Settings of one run of the cluster's processes (not stored in cluster.json). */
export interface RunSettings {
  /** Start only nats-server and redis-server (tests of the launcher itself). Hidden flag. */
  onlyInfra: boolean;
  logLevel: LogLevel;
  otelExporter: OtelExporter;
}

export interface UpCommand extends RunSettings {
  kind: "up";
  dataDir: string;
  /** Run in the current network namespace, serving on this address. */
  host?: string;
  /** Name of the namespace to create/use (default: derived from the data directory). */
  netns?: string;
  clientPort?: number;
  csPort?: number;
  chunkservers?: number;
  shards?: number;
  /** Fixed when DIR is created, like --shards. */
  profile?: Profile;
  /** Processes per shard (one leads, the others stand by); the profile's count when unset. */
  shardReplicas?: number;
  detach: boolean;
}

/** The supervisor itself; started by `up` (inside the namespace), never typed by people. */
export interface SuperviseCommand extends RunSettings {
  kind: "supervise";
  dataDir: string;
  /** Whether this run created the namespace and so must remove it when it stops. */
  ownsNetns: boolean;
  /** Attached to the terminal of `antler up` (print progress) rather than detached. */
  attached: boolean;
}

export interface StatusCommand {
  kind: "status";
  dataDir: string;
  json: boolean;
}

/** `antler fsck`: check the namespace of the running cluster (fsck.ts). */
export interface FsckCommand {
  kind: "fsck";
  dataDir: string;
  json: boolean;
}

export interface DownCommand {
  kind: "down";
  dataDir: string;
}

export interface HelpCommand {
  kind: "help";
}

export type Command = UpCommand | SuperviseCommand | StatusCommand | FsckCommand | DownCommand | HelpCommand;

/** A bad command line: the message is one line for the user; the CLI exits with status 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

export const supervisorCommandName = "__supervise";

export const usageText = `usage: antler <command> [options]

commands:
  up --data DIR [options]      start (or resume) a local cluster whose state lives in DIR
      --host ADDR              serve on ADDR in the current network namespace; without it a
                               namespace with a private 10.213.N.1 address is created
      --netns NAME             name of that namespace (default antler-<hash of DIR>)
      --client-port PORT       port mfsmount connects to (default 9421)
      --cs-port PORT           port chunkservers connect to (default 9420)
      --chunkservers N         mfschunkserver processes to run (default 2, 0 for none)
      --shards N               metadata shards, fixed when DIR is created (default 1)
      --profile P              minimal (default: one process of each) or ha (3 NATS servers,
                               3 replicas per shard, 2 gateways, 2 routers); fixed when DIR is
                               created
      --shard-replicas N       processes per shard (default: 1 minimal, 3 ha)
      --log-level LEVEL        debug, info, warn or error (default info)
      --otel EXPORTER          none, console or otlp (default none)
      --detach                 return once the cluster serves; a background supervisor stays
  status --data DIR [--json]   show every process of the cluster and how to mount it; while it
                               runs also each shard's slots, inodes, dirs, files, ops/s,
                               forwarded and prepared transactions and its leader
  fsck --data DIR [--json]     check the running cluster's namespace across all shards (entries,
                               parent edges, link counts, orphans, cycles, placement, the shards'
                               own checks); exit 0 clean, 1 problems found, 3 could not read it
  down --data DIR              stop the cluster started on DIR and remove its namespace
  help                         show this text

Exit status: 0 success (fsck: clean), 1 failure (fsck: problems found), 2 bad usage,
3 fsck could not read the whole namespace (cluster not running, a shard not answering).

The environment variables ANTLER_LOG_LEVEL and ANTLER_OTEL_EXPORTER set the defaults of
--log-level and --otel. See deploy/local/README.md for files, readiness and supervision.`;

type FlagKind = "string" | "boolean";
type FlagSpec = Readonly<Record<string, FlagKind>>;

const runFlags = {
  "--only-infra": "boolean", "--log-level": "string", "--otel": "string",
} as const;
const flagsByCommand = {
  up: {
    "--data": "string", "--host": "string", "--netns": "string", "--client-port": "string",
    "--cs-port": "string", "--chunkservers": "string", "--shards": "string",
    "--profile": "string", "--shard-replicas": "string", "--detach": "boolean", ...runFlags,
  },
  [supervisorCommandName]: {
    "--data": "string", "--owns-netns": "boolean", "--attached": "boolean", ...runFlags,
  },
  status: { "--data": "string", "--json": "boolean" },
  fsck: { "--data": "string", "--json": "boolean" },
  down: { "--data": "string" },
} as const satisfies Record<string, FlagSpec>;

type Flags = Map<string, string | true>;

/** Defaults for settings that may also come from the environment (passed in: this stays pure). */
export interface ArgDefaults {
  logLevel?: string;
  otelExporter?: string;
}

export function parseArgs(argv: readonly string[], defaults: ArgDefaults = {}): Command {
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    return { kind: "help" };
  }
  if (!Object.hasOwn(flagsByCommand, name)) {
    throw new UsageError(`unknown command '${name}' (commands: up, status, fsck, down, help)`);
  }
  const commandName = name as keyof typeof flagsByCommand;
  const flags = parseFlags(commandName, flagsByCommand[commandName], rest);
  const dataDir = requireString(flags, "--data", commandName);
  switch (commandName) {
    case "status":
      return { kind: "status", dataDir, json: flags.has("--json") };
    case "fsck":
      return { kind: "fsck", dataDir, json: flags.has("--json") };
    case "down":
      return { kind: "down", dataDir };
    case supervisorCommandName:
      return {
        kind: "supervise", dataDir, ownsNetns: flags.has("--owns-netns"),
        attached: flags.has("--attached"), ...parseRunSettings(flags, defaults),
      };
    case "up":
      return parseUp(flags, dataDir, defaults);
  }
}

function parseUp(flags: Flags, dataDir: string, defaults: ArgDefaults): UpCommand {
  const command: UpCommand = {
    kind: "up", dataDir, detach: flags.has("--detach"), ...parseRunSettings(flags, defaults),
  };
  const host = optionalString(flags, "--host");
  const netns = optionalString(flags, "--netns");
  if (host !== undefined && netns !== undefined) {
    throw new UsageError("--host and --netns exclude each other (--host runs in this namespace)");
  }
  if (host !== undefined) command.host = parseIpv4(host, "--host");
  if (netns !== undefined) command.netns = parseNetnsName(netns);
  const clientPort = optionalInteger(flags, "--client-port", 1, 65_535);
  const csPort = optionalInteger(flags, "--cs-port", 1, 65_535);
  const chunkservers = optionalInteger(flags, "--chunkservers", 0, chunkserversMax);
  const shards = optionalInteger(flags, "--shards", 1, shardsMax);
  if (clientPort !== undefined) command.clientPort = clientPort;
  if (csPort !== undefined) command.csPort = csPort;
  if (chunkservers !== undefined) command.chunkservers = chunkservers;
  if (shards !== undefined) command.shards = shards;
  const profile = optionalString(flags, "--profile");
  if (profile !== undefined) command.profile = oneOf(profiles, profile, "--profile");
  const shardReplicas = optionalInteger(flags, "--shard-replicas", 1, shardReplicasMax);
  if (shardReplicas !== undefined) command.shardReplicas = shardReplicas;
  if (clientPort !== undefined && clientPort === csPort) {
    throw new UsageError(`--client-port and --cs-port must differ (both are ${clientPort})`);
  }
  return command;
}

function parseRunSettings(flags: Flags, defaults: ArgDefaults): RunSettings {
  const logLevel = optionalString(flags, "--log-level") ?? defaults.logLevel ?? "info";
  const otelExporter = optionalString(flags, "--otel") ?? defaults.otelExporter ?? "none";
  return {
    onlyInfra: flags.has("--only-infra"),
    logLevel: oneOf(logLevels, logLevel, "--log-level"),
    otelExporter: oneOf(otelExporters, otelExporter, "--otel"),
  };
}

function parseFlags(command: string, spec: FlagSpec, argv: readonly string[]): Flags {
  const flags: Flags = new Map();
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index] ?? "";
    if (!argument.startsWith("--")) {
      throw new UsageError(`unexpected argument '${argument}' for '${command}'`);
    }
    const equals = argument.indexOf("=");
    const flag = equals === -1 ? argument : argument.slice(0, equals);
    const kind = Object.hasOwn(spec, flag) ? spec[flag] : undefined;
    if (kind === undefined) throw new UsageError(`unknown option '${flag}' for '${command}'`);
    if (flags.has(flag)) throw new UsageError(`option ${flag} given twice`);
    if (kind === "boolean") {
      if (equals !== -1) throw new UsageError(`option ${flag} takes no value`);
      flags.set(flag, true);
      continue;
    }
    let value: string | undefined;
    if (equals !== -1) {
      value = argument.slice(equals + 1);
    } else {
      value = argv[index + 1];
      index++;
    }
    if (value === undefined || value === "" || (equals === -1 && value.startsWith("--"))) {
      throw new UsageError(`option ${flag} needs a value`);
    }
    flags.set(flag, value);
  }
  return flags;
}

function optionalString(flags: Flags, flag: string): string | undefined {
  const value = flags.get(flag);
  return typeof value === "string" ? value : undefined;
}

function requireString(flags: Flags, flag: string, command: string): string {
  const value = optionalString(flags, flag);
  if (value === undefined) throw new UsageError(`'${command}' needs ${flag} DIR`);
  return value;
}

function optionalInteger(flags: Flags, flag: string, min: number, max: number): number | undefined {
  const text = optionalString(flags, flag);
  if (text === undefined) return undefined;
  if (!/^[0-9]+$/.test(text)) throw new UsageError(`${flag} must be a whole number, not '${text}'`);
  const value = Number(text);
  if (value < min || value > max) {
    throw new UsageError(`${flag} must be between ${min} and ${max}, not ${text}`);
  }
  return value;
}

function oneOf<T extends string>(choices: readonly T[], value: string, flag: string): T {
  const found = choices.find((choice) => choice === value);
  if (found === undefined) {
    throw new UsageError(`${flag} must be one of ${choices.join(", ")}, not '${value}'`);
  }
  return found;
}

/** Dotted-quad IPv4 only: MooseFS clients and chunkservers speak IPv4 to their master. */
export function parseIpv4(text: string, flag: string): string {
  const parts = text.split(".");
  const valid = parts.length === 4 &&
    parts.every((part) => /^(0|[1-9][0-9]{0,2})$/.test(part) && Number(part) <= 255);
  if (!valid) {
    throw new UsageError(`${flag} must be an IPv4 address like 10.213.1.1, not '${text}'`);
  }
  return text;
}

/** Namespace names become file names under /run/netns; keep them short and plain. */
export function parseNetnsName(text: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$/.test(text)) {
    throw new UsageError(
      "--netns must be 1-40 letters, digits, '.', '_' or '-' (not starting with a symbol): " +
        `'${text}'`,
    );
  }
  return text;
}
