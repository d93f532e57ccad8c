/**
 * Configuration decisions and generated files: how the command line merges with an existing
 * cluster.json (resume keeps the namespace, address and shard count; conflicts are refused), the
 * environment each service gets, and the config files for nats-server, redis-server and
 * mfschunkserver (checked line by line for the settings that matter: fsync, ports, master).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseArgs, UsageError, type UpCommand } from "./args.ts";
import { chunkserverConfigText, chunkserverFilesOf, hddConfigText } from "./chunkserver.ts";
import {
  layoutOf, mountCommandOf, netnsNameFor, parseClusterConfig, pickNetnsOctet, resolveClusterConfig,
  serviceEnvironment, servicePlan, type ClusterConfig, type ResolveInput,
} from "./config.ts";
import { natsConfigText } from "./nats.ts";
import { natsNodesOf, topologyOf } from "./config.ts";
import { redisConfigText } from "./redis.ts";

function upOf(...flags: string[]): UpCommand {
  const command = parseArgs(["up", "--data", "/srv/a", ...flags]);
  assert.equal(command.kind, "up");
  return command as UpCommand;
}

function resolve(up: UpCommand, stored?: ClusterConfig, used: number[] = []): ClusterConfig {
  const input: ResolveInput = {
    up, stored, usedOctets: new Set(used), freshHostPorts: { nats: 41000, redis: 41001 },
  };
  return resolveClusterConfig(input);
}

test("a new cluster gets a namespace named after DIR and the first unused 10.213.N.1", () => {
  const config = resolve(upOf(), undefined, [1, 2, 4]);
  assert.deepEqual(config, {
    format: 1, dataDir: "/srv/a",
    network: { mode: "netns", netns: netnsNameFor("/srv/a"), address: "10.213.3.1" },
    natsPort: 4222, redisPort: 6379, clientPort: 9421, csPort: 9420, chunkservers: 2, shards: 1,
    profile: "minimal",
  });
  assert.match(netnsNameFor("/srv/a"), /^antler-[0-9a-f]{8}$/);
  assert.notEqual(netnsNameFor("/srv/a"), netnsNameFor("/srv/b"));
  assert.deepEqual(
    resolve(upOf("--netns", "mine")).network,
    { mode: "netns", netns: "mine", address: "10.213.1.1" },
  );
});

test("pickNetnsOctet takes the lowest free octet and fails when all are used", () => {
  assert.equal(pickNetnsOctet(new Set()), 1);
  assert.equal(pickNetnsOctet(new Set([1, 2, 3])), 4);
  const all = new Set(Array.from({ length: 254 }, (_, index) => index + 1));
  assert.throws(() => pickNetnsOctet(all), UsageError);
});

test("resume keeps the namespace, address and shard count; given options override the rest", () => {
  const first = resolve(upOf("--shards", "3"), undefined, [1]);
  const more = upOf("--chunkservers", "4", "--client-port", "19421");
  const again = resolve(more, first, [1, 2, 3, 4, 5]);
  assert.deepEqual(again.network, first.network);
  assert.equal(again.shards, 3);
  assert.equal(again.chunkservers, 4);
  assert.equal(again.clientPort, 19421);
  assert.equal(again.csPort, 9420);
  assert.equal(resolve(upOf("--shards", "3"), first).shards, 3);
});

test("options that would make DIR a different cluster are refused", () => {
  const stored = resolve(upOf());
  assert.throws(() => resolve(upOf("--shards", "2"), stored), /holds a cluster with --shards 1/);
  assert.throws(() => resolve(upOf("--host", "10.213.9.1"), stored), /was created in namespace/);
  assert.throws(() => resolve(upOf("--netns", "other"), stored), /not other/);
  const hosted = resolve(upOf("--host", "10.213.9.1"));
  assert.throws(() => resolve(upOf("--netns", "other"), hosted), /--netns cannot be added later/);
});

test("--host runs in this namespace on fresh loopback ports, kept on resume", () => {
  const config = resolve(upOf("--host", "10.213.9.1"));
  assert.deepEqual(config.network, { mode: "host", address: "10.213.9.1" });
  assert.equal(config.natsPort, 41000);
  assert.equal(config.redisPort, 41001);
  const stored = { ...config, natsPort: 42000, redisPort: 42001 };
  const resumed = resolve(upOf(), stored);
  assert.deepEqual(resumed.network, stored.network);
  assert.equal(resumed.natsPort, 42000);
  assert.equal(resumed.redisPort, 42001);
});

test("port conflicts and 127.x with chunkservers are refused", () => {
  assert.throws(
    () => resolve(upOf("--client-port", "9422")),
    /collides with the chunkservers' ports 9422-9423/,
  );
  assert.doesNotThrow(() => resolve(upOf("--client-port", "9422", "--chunkservers", "0")));
  const stored = resolve(upOf("--client-port", "9000"));
  assert.throws(() => resolve(upOf("--cs-port", "9000"), stored), /must differ/);
  assert.throws(() => resolve(upOf("--host", "127.0.0.1")), /refuses a master on 127\.x/);
  assert.doesNotThrow(() => resolve(upOf("--host", "127.0.0.1", "--chunkservers", "0")));
});

test("parseClusterConfig accepts what resolve writes and names what is wrong otherwise", () => {
  const config = resolve(upOf());
  assert.deepEqual(parseClusterConfig(JSON.parse(JSON.stringify(config)), "c.json"), config);
  assert.throws(
    () => parseClusterConfig(null, "c.json"),
    /c\.json is not a valid cluster file: not an object/,
  );
  assert.throws(() => parseClusterConfig({ ...config, format: 2 }, "c.json"), /format is not 1/);
  const badShards = { ...config, shards: "1" };
  assert.throws(() => parseClusterConfig(badShards, "c.json"), /shards is not a valid number/);
  const badNetwork = { ...config, network: { mode: "x", address: "a" } };
  assert.throws(() => parseClusterConfig(badNetwork, "c.json"), /network\.mode/);
});

test("services start router, shards 0..N-1, gateway, each with its environment", () => {
  const config = resolve(upOf("--shards", "2"), undefined, [6]);
  const plan = servicePlan(config);
  assert.deepEqual(plan.map((entry) => entry.name), ["router", "shard-0", "shard-1", "gateway"]);
  const layout = layoutOf("/srv/a");
  const settings = { onlyInfra: false, logLevel: "debug", otelExporter: "console" } as const;
  const shardEnvironment = serviceEnvironment(config, settings, plan[2]!, layout);
  assert.deepEqual(shardEnvironment, {
    ANTLER_PROCESS_NAME: "shard-1",
    ANTLER_NATS_URL: "nats://127.0.0.1:4222",
    ANTLER_REDIS_URL: "redis://127.0.0.1:6379",
    ANTLER_SHARD_ID: "1",
    ANTLER_SHARD_COUNT: "2",
    ANTLER_CLIENT_HOST: "10.213.1.1",
    ANTLER_CLIENT_PORT: "9421",
    ANTLER_CS_PORT: "9420",
    ANTLER_EXPORTS_FILE: "/srv/a/mfsexports.cfg",
    ANTLER_DATA_DIR: "/srv/a/services/shard-1",
    ANTLER_OTEL_EXPORTER: "console",
    ANTLER_LOG_LEVEL: "debug",
    ANTLER_REPLICA_ID: "0",
    ANTLER_SHARD_REPLICAS: "1",
    ANTLER_LOG_REPLICAS: "1",
  });
  assert.equal("ANTLER_SHARD_ID" in serviceEnvironment(config, settings, plan[3]!, layout), false);
  // The router creates the lease and transaction buckets when it is first to use them.
  assert.equal(serviceEnvironment(config, settings, plan[0]!, layout)["ANTLER_LOG_REPLICAS"], "1");
  assert.equal("ANTLER_LOG_REPLICAS" in serviceEnvironment(config, settings, plan[3]!, layout), false);
});

test("the mount command enters the namespace only when there is one", () => {
  const config = resolve(upOf("--netns", "antler-x"), undefined, [6]);
  assert.equal(
    mountCommandOf(config),
    "nsenter --net=/run/netns/antler-x mfsmount /mnt/antler -H 10.213.1.1 -P 9421",
  );
  assert.equal(mountCommandOf(resolve(upOf("--host", "10.213.9.1", "--client-port", "7000")), "/m"),
    "mfsmount /m -H 10.213.9.1 -P 7000");
});

test("nats-server config: JetStream store under DIR, fsync before ack, loopback only", () => {
  const text = natsConfigText({ port: 4222, storeDir: "/srv/a/nats", serverName: "antler" });
  assert.match(text, /^listen: "127\.0\.0\.1:4222"$/m);
  assert.match(text, /^jetstream \{\n {2}store_dir: "\/srv\/a\/nats"$/m);
  assert.match(text, /^ {2}sync_interval: always$/m);
});

test("redis-server config: loopback, append-only file fsynced every second, no RDB", () => {
  const text = redisConfigText({ port: 6379, dir: "/srv/a/redis" });
  const expected = [
    "bind 127.0.0.1", "port 6379", "daemonize no", 'dir "/srv/a/redis"', "appendonly yes",
    "appendfsync everysec", 'save ""',
  ];
  for (const line of expected) {
    assert.ok(text.split("\n").includes(line), `missing '${line}' in\n${text}`);
  }
});

test("chunkserver config: master is the cluster address and cs port, own port and folder", () => {
  const config = resolve(upOf("--cs-port", "9500"), undefined, [6]);
  const files = chunkserverFilesOf("/srv/a/cs1");
  const lines = chunkserverConfigText(config, 1, files).split("\n");
  for (const line of ["WORKING_USER = root", "WORKING_GROUP = root", "DATA_PATH = /srv/a/cs1",
    "HDD_CONF_FILENAME = /srv/a/cs1/mfshdd.cfg", "HDD_TEST_FREQ = 0", "MASTER_HOST = 10.213.1.1",
    "MASTER_PORT = 9500", "CSSERV_LISTEN_HOST = 10.213.1.1", "CSSERV_LISTEN_PORT = 9423"]) {
    assert.ok(lines.includes(line), `missing '${line}'`);
  }
  assert.match(hddConfigText(files), /^\/srv\/a\/cs1\/hdd\/$/m);
});

test("ha profile: 3 NATS nodes on 4222-4224 with routes on 6222-6224, fixed at creation", () => {
  const config = resolve(upOf("--profile", "ha"), undefined, [1]);
  assert.equal(config.profile, "ha");
  assert.deepEqual(config.natsCluster, { clientPorts: [4222, 4223, 4224], routePorts: [6222, 6223, 6224] });
  assert.deepEqual(topologyOf(config), {
    natsNodes: 3, journalNodes: 3, storeReplicas: 3, shardReplicas: 3, gateways: 2, routers: 2,
  });
  assert.deepEqual(config.journalPorts, [4232, 4233, 4234], "quorum-journal servers (ADR 0007)");
  assert.deepEqual(parseClusterConfig(JSON.parse(JSON.stringify(config)), "c.json"), config);
  assert.throws(() => resolve(upOf("--profile", "minimal"), config), /--profile ha; changing it/);
  assert.throws(() => resolve(upOf("--profile", "ha"), resolve(upOf())), /--profile minimal/);
  // Resuming without --profile keeps it; --shard-replicas may change (the store stays R3).
  const resumed = resolve(upOf("--shard-replicas", "1"), config);
  assert.equal(resumed.profile, "ha");
  assert.equal(topologyOf(resumed).shardReplicas, 1);
  assert.equal(topologyOf(resumed).storeReplicas, 3);
  const noPorts = { ...JSON.parse(JSON.stringify(config)), natsCluster: { clientPorts: [1], routePorts: [2] } };
  assert.throws(() => parseClusterConfig(noPorts, "c.json"), /natsCluster must hold 3/);
  assert.throws(() => parseClusterConfig({ ...config, profile: "big" }, "c.json"), /profile is unknown/);
});

test("ha profile with --host takes the fresh loopback ports, kept on resume", () => {
  const input: ResolveInput = {
    up: upOf("--profile", "ha", "--host", "10.213.9.1"), stored: undefined, usedOctets: new Set(),
    freshHostPorts: {
      nats: 41000, redis: 41001,
      natsCluster: { clientPorts: [41002, 41003, 41004], routePorts: [41005, 41006, 41007] },
      journalPorts: [41008, 41009, 41010],
    },
  };
  const config = resolveClusterConfig(input);
  assert.deepEqual(config.journalPorts, [41008, 41009, 41010]);
  assert.equal(config.natsPort, 41002);
  assert.equal(config.redisPort, 41001);
  assert.deepEqual(config.natsCluster?.routePorts, [41005, 41006, 41007]);
  const resumed = resolve(upOf(), config);
  assert.deepEqual(resumed.natsCluster, config.natsCluster);
  const withoutCluster = { ...input, freshHostPorts: { nats: 1, redis: 2, journalPorts: [3, 4, 5] } };
  assert.throws(() => resolveClusterConfig(withoutCluster), /needs 3 NATS port pairs/);
});

test("ha profile: 2 routers, 3 replicas per shard, 2 gateways, each with its environment", () => {
  const config = resolve(upOf("--profile", "ha", "--shards", "2"), undefined, [6]);
  const plan = servicePlan(config);
  assert.deepEqual(plan.map((entry) => entry.name), [
    "router-0", "router-1", "shard-0-r0", "shard-0-r1", "shard-0-r2", "shard-1-r0", "shard-1-r1",
    "shard-1-r2", "gateway-0", "gateway-1",
  ]);
  const layout = layoutOf("/srv/a");
  const settings = { onlyInfra: false, logLevel: "info", otelExporter: "none" } as const;
  const allNats = "nats://127.0.0.1:4222,nats://127.0.0.1:4223,nats://127.0.0.1:4224";
  const shard = serviceEnvironment(config, settings, plan[6]!, layout);
  assert.equal(shard["ANTLER_NATS_URL"], allNats);
  assert.equal(shard["ANTLER_PROCESS_NAME"], "shard-1-r1");
  assert.equal(shard["ANTLER_SHARD_ID"], "1");
  assert.equal(shard["ANTLER_REPLICA_ID"], "1");
  assert.equal(shard["ANTLER_SHARD_REPLICAS"], "3");
  assert.equal(shard["ANTLER_LOG_REPLICAS"], "3");
  assert.equal(shard["ANTLER_LOG_MODE"], "quorum");
  assert.equal(shard["ANTLER_NATS_JOURNAL_URLS"], "nats://127.0.0.1:4232,nats://127.0.0.1:4233,nats://127.0.0.1:4234");
  assert.equal(shard["ANTLER_DATA_DIR"], "/srv/a/services/shard-1-r1");
  assert.equal(serviceEnvironment(config, settings, plan[1]!, layout)["ANTLER_NATS_URL"], allNats);
  assert.equal(serviceEnvironment(config, settings, plan[1]!, layout)["ANTLER_LOG_REPLICAS"], "3");
  // Gateways take one URL each (their config accepts one), spread over the nodes.
  assert.equal(serviceEnvironment(config, settings, plan[8]!, layout)["ANTLER_NATS_URL"], "nats://127.0.0.1:4222");
  assert.equal(serviceEnvironment(config, settings, plan[9]!, layout)["ANTLER_NATS_URL"], "nats://127.0.0.1:4223");
  assert.equal("ANTLER_REPLICA_ID" in serviceEnvironment(config, settings, plan[9]!, layout), false);
  const single = resolve(upOf("--profile", "ha", "--shard-replicas", "1"));
  assert.deepEqual(servicePlan(single).map((entry) => entry.name),
    ["router-0", "router-1", "shard-0", "gateway-0", "gateway-1"]);
});

test("ha NATS nodes: own store and config under DIR/nats/nats-i, routes to the other two", () => {
  const config = resolve(upOf("--profile", "ha"));
  const nodes = natsNodesOf(config, layoutOf("/srv/a"));
  assert.deepEqual(nodes.map((node) => [node.name, node.clientPort, node.routePort, node.storeDir]), [
    ["nats-0", 4222, 6222, "/srv/a/nats/nats-0"],
    ["nats-1", 4223, 6223, "/srv/a/nats/nats-1"],
    ["nats-2", 4224, 6224, "/srv/a/nats/nats-2"],
  ]);
  const text = natsConfigText({
    port: 4223, storeDir: "/srv/a/nats/nats-1", serverName: "nats-1",
    cluster: { name: "antler", port: 6223, routePorts: [6222, 6223, 6224] },
  });
  assert.match(text, /^server_name: "nats-1"$/m);
  assert.match(text, /^listen: "127\.0\.0\.1:4223"$/m);
  assert.match(text, /^ {2}sync_interval: always$/m);
  assert.match(text, /^cluster \{\n {2}name: "antler"\n {2}listen: "127\.0\.0\.1:6223"$/m);
  assert.match(text, /^ {4}"nats-route:\/\/127\.0\.0\.1:6222"$/m);
  assert.match(text, /^ {4}"nats-route:\/\/127\.0\.0\.1:6224"$/m);
  assert.doesNotMatch(text, /127\.0\.0\.1:6223"\n {2}\]/, "no route to itself");
  assert.equal(text.match(/nats-route:/g)?.length, 2);
  // The minimal profile keeps its single server where it always was.
  const minimal = natsNodesOf(resolve(upOf()), layoutOf("/srv/a"));
  assert.deepEqual(minimal, [{
    name: "nats", serverName: "antler", clientPort: 4222, dir: "/srv/a/nats",
    storeDir: "/srv/a/nats", configFile: "/srv/a/nats/nats-server.conf",
  }]);
  assert.doesNotMatch(natsConfigText({ port: 4222, storeDir: "/s", serverName: "antler" }), /cluster/);
});
