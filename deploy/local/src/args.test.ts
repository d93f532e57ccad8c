/**
 * The command line: every accepted form yields the typed command, every bad one a UsageError
 * with a message that names the problem (the CLI prints it and exits 2).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseArgs, UsageError } from "./args.ts";

function refuses(argv: string[], pattern: RegExp): void {
  assert.throws(
    () => parseArgs(argv),
    (error: unknown) => error instanceof UsageError && pattern.test(error.message),
  );
}

test("no command, help, -h and --help all mean help", () => {
  for (const argv of [[], ["help"], ["-h"], ["--help"]]) {
    assert.deepEqual(parseArgs(argv), { kind: "help" });
  }
});

test("up with only --data leaves cluster options unset (cluster.json or defaults decide)", () => {
  assert.deepEqual(parseArgs(["up", "--data", "d"]), {
    kind: "up", dataDir: "d", detach: false, onlyInfra: false, logLevel: "info",
    otelExporter: "none",
  });
});

test("up accepts every option, with '--flag value' and '--flag=value'", () => {
  const command = parseArgs([
    "up", "--data=/var/antler", "--host", "10.213.9.1", "--client-port=19421", "--cs-port", "19420",
    "--chunkservers", "0", "--shards=4", "--detach", "--log-level", "debug", "--otel=otlp",
    "--only-infra",
  ]);
  assert.deepEqual(command, {
    kind: "up", dataDir: "/var/antler", host: "10.213.9.1", clientPort: 19421, csPort: 19420,
    chunkservers: 0, shards: 4, detach: true, onlyInfra: true, logLevel: "debug",
    otelExporter: "otlp",
  });
});

test("environment defaults apply unless a flag overrides them", () => {
  const defaults = { logLevel: "warn", otelExporter: "console" };
  const fromEnvironment = parseArgs(["up", "--data", "d"], defaults);
  assert.equal(fromEnvironment.kind === "up" && fromEnvironment.logLevel, "warn");
  assert.equal(fromEnvironment.kind === "up" && fromEnvironment.otelExporter, "console");
  const overridden = parseArgs(["up", "--data", "d", "--log-level", "error"], { logLevel: "warn" });
  assert.equal(overridden.kind === "up" && overridden.logLevel, "error");
  assert.throws(
    () => parseArgs(["up", "--data", "d"], { otelExporter: "jaeger" }),
    /--otel must be one of/,
  );
});

test("status, down and the hidden supervisor command", () => {
  assert.deepEqual(
    parseArgs(["status", "--data", "d", "--json"]),
    { kind: "status", dataDir: "d", json: true },
  );
  assert.deepEqual(parseArgs(["down", "--data", "d"]), { kind: "down", dataDir: "d" });
  assert.deepEqual(parseArgs(["__supervise", "--data", "d", "--owns-netns", "--attached"]), {
    kind: "supervise", dataDir: "d", ownsNetns: true, attached: true, onlyInfra: false,
    logLevel: "info", otelExporter: "none",
  });
});

test("bad command lines are refused with a one-line reason", () => {
  refuses(["start"], /unknown command 'start'/);
  refuses(["up"], /'up' needs --data DIR/);
  refuses(["status"], /'status' needs --data DIR/);
  refuses(["up", "--data"], /--data needs a value/);
  refuses(["up", "--data", "--detach"], /--data needs a value/);
  refuses(["up", "--data="], /--data needs a value/);
  refuses(["up", "--data", "d", "extra"], /unexpected argument 'extra'/);
  refuses(["up", "--data", "d", "--json"], /unknown option '--json' for 'up'/);
  refuses(["down", "--data", "d", "--detach"], /unknown option '--detach' for 'down'/);
  refuses(["up", "--data", "d", "--data", "e"], /given twice/);
  refuses(["up", "--data", "d", "--detach=yes"], /takes no value/);
  refuses(["up", "--data", "d", "--shards", "0"], /--shards must be between 1 and 64, not 0/);
  refuses(["up", "--data", "d", "--chunkservers", "-1"], /whole number, not '-1'/);
  refuses(["up", "--data", "d", "--chunkservers", "2.5"], /whole number/);
  refuses(["up", "--data", "d", "--client-port", "70000"], /between 1 and 65535/);
  refuses(["up", "--data", "d", "--client-port", "9000", "--cs-port", "9000"], /must differ/);
  refuses(["up", "--data", "d", "--host", "localhost"], /IPv4 address/);
  refuses(["up", "--data", "d", "--host", "10.213.1.256"], /IPv4 address/);
  refuses(["up", "--data", "d", "--host", "10.213.01.1"], /IPv4 address/);
  refuses(["up", "--data", "d", "--netns", "../etc"], /--netns must be/);
  refuses(["up", "--data", "d", "--netns", "n", "--host", "10.0.0.1"], /exclude each other/);
  refuses(
    ["up", "--data", "d", "--log-level", "trace"],
    /--log-level must be one of debug, info, warn, error/,
  );
});

test("up --profile takes minimal or ha, --shard-replicas a small count", () => {
  const command = parseArgs(["up", "--data", "d", "--profile", "ha", "--shard-replicas=2"]);
  assert.equal(command.kind === "up" && command.profile, "ha");
  assert.equal(command.kind === "up" && command.shardReplicas, 2);
  refuses(["up", "--data", "d", "--profile", "huge"], /--profile must be one of minimal, ha/);
  refuses(["up", "--data", "d", "--shard-replicas", "0"], /between 1 and 7/);
});

test("fsck takes --data and --json like status, nothing else", () => {
  assert.deepEqual(parseArgs(["fsck", "--data", "d"]), { kind: "fsck", dataDir: "d", json: false });
  assert.deepEqual(parseArgs(["fsck", "--data=d", "--json"]), { kind: "fsck", dataDir: "d", json: true });
  refuses(["fsck"], /'fsck' needs --data DIR/);
  refuses(["fsck", "--data", "d", "--shards", "2"], /unknown option '--shards' for 'fsck'/);
  refuses(["fsk", "--data", "d"], /unknown command 'fsk' \(commands: up, status, fsck, down, help\)/);
});
