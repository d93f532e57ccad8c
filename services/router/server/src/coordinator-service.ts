/**
 * The coordinator service of a router: while this router holds the coordinator lease it takes the
 * requests shards pass on (coordinatorSubject: the client's unchanged request, reply = the
 * gateway's inbox), carries each out with the router-core Coordinator and answers the gateway
 * directly. Without the lease it does not subscribe, so exactly one router coordinates at a time
 * (at worst two for a moment after a stall, which the transactions tolerate).
 *
 * Counts what it did and logs the counts every statsIntervalMs at info when anything happened.
 */
import { type Msg, type NatsConnection, type Subscription } from "@antler/io-nats";
import { coordinatorSubject, encodeMessage, parseMetaRequest, Status, type Result } from "@antler/ops";
import { Coordinator, type CoordinatorEvent, type CoordinatorOptions, type CoordinatorPorts } from "@antler/router-core";
import { extractTrace, SpanKind, withSpan, type Logger } from "@antler/telemetry";
import { startCoordinatorLease, type CoordinatorLeaseStore } from "./coordinator-lease.ts";

export interface CoordinatorServiceOptions {
  readonly nc: NatsConnection;
  readonly logger: Logger;
  /** Builds the ports; `event` feeds this service's counters. */
  readonly ports: (event: (event: CoordinatorEvent) => void) => CoordinatorPorts;
  readonly leaseStore: CoordinatorLeaseStore;
  /** This process's lease holder id. */
  readonly holder: string;
  readonly lease?: { readonly renewMs?: number; readonly leaseMs?: number; readonly takeoverMs?: number };
  readonly coordinator?: CoordinatorOptions;
  /** How often the counters are logged (and reset). */
  readonly statsIntervalMs?: number;
}

export interface CoordinatorStats {
  /** Requests answered... */
  readonly coordinated: number;
  /** ...of which with a failure (a refusal like EEXIST, or EAGAIN). */
  readonly refused: number;
  /** Attempts retried after a conflict. */
  readonly conflicts: number;
  /** Decisions of earlier attempts finished (a dead coordinator's, or a client's retry). */
  readonly recovered: number;
  /** Participants that could not be told a decision in time (their resolvers apply it). */
  readonly unreached: number;
}

export interface CoordinatorService {
  /** Whether this router holds the lease and takes requests now. */
  readonly active: boolean;
  /** Totals since start. */
  stats(): CoordinatorStats;
  /** Stops taking requests and releases the lease; requests in progress are finished. */
  stop(): Promise<void>;
}

type Counters = { -readonly [K in keyof CoordinatorStats]: number };
const zero = (): Counters => ({ coordinated: 0, refused: 0, conflicts: 0, recovered: 0, unreached: 0 });

/** The body of a coordinator request, or null when it is not a MetaRequest of a known shape. */
export const parseCoordinatorRequest = parseMetaRequest;

export function startCoordinatorService(options: CoordinatorServiceOptions): CoordinatorService {
  const { nc, logger } = options;
  const statsIntervalMs = options.statsIntervalMs ?? 10_000;
  const totals = zero();
  let window = zero();
  const count = (key: keyof Counters): void => {
    totals[key]++;
    window[key]++;
  };
  const onEvent = (event: CoordinatorEvent): void => {
    switch (event.kind) {
      case "coordinated":
        count("coordinated");
        if (event.status !== Status.OK) count("refused");
        break;
      case "conflict":
        count("conflicts");
        break;
      case "recovered":
        count("recovered");
        logger.info("finishing a decided transaction", { txid: event.txid });
        break;
      case "participant-unreached":
        count("unreached");
        logger.warn("participant not told the decision; its resolver will apply it", { ...event });
        break;
      case "failed":
        logger.warn("coordinated request failed", { command: event.command, detail: event.detail });
        break;
    }
  };
  const coordinator = new Coordinator(options.ports(onEvent), options.coordinator);

  const reply = (msg: Msg, result: Result): void => {
    if (msg.reply === undefined || msg.reply === "") return;
    try {
      msg.respond(encodeMessage(result));
    } catch (err) {
      logger.warn("coordinator reply failed", { err });
    }
  };

  const onRequest = (msg: Msg): void => {
    void withSpan(
      "coordinator request",
      {},
      async (span) => {
        const request = parseCoordinatorRequest(msg.data);
        if (request === null) {
          span.setAttribute("antler.malformed", true);
          return reply(msg, { status: Status.EINVAL });
        }
        span.setAttribute("antler.command", request.cmd.kind);
        const result = await coordinator.coordinate(request);
        span.setAttribute("antler.status", result.status);
        reply(msg, result);
      },
      { parent: extractTrace(msg.headers), kind: SpanKind.SERVER },
    ).catch((err: unknown) => logger.error("coordinator request threw", { err }));
  };

  let subscription: Subscription | null = null;
  const lease = startCoordinatorLease({
    store: options.leaseStore,
    holder: options.holder,
    logger,
    ...options.lease,
    onAcquired(epoch) {
      subscription?.unsubscribe();
      subscription = nc.subscribe(coordinatorSubject, {
        callback: (err, msg) => {
          if (err !== null) logger.error("coordinator subscription failed", { err });
          else onRequest(msg);
        },
      });
      logger.info("coordinating cross-shard operations", { epoch });
    },
    onLost(reason) {
      // Requests already taken are finished (their transactions are safe either way).
      subscription?.unsubscribe();
      subscription = null;
      logger.info("no longer coordinating", { reason });
    },
  });

  const statsTimer = setInterval(() => {
    const seen = window;
    window = zero();
    if (Object.values(seen).some((n) => n > 0)) logger.info("coordinator", { ...seen, running: coordinator.running });
  }, statsIntervalMs);
  statsTimer.unref();

  return {
    get active() {
      return subscription !== null;
    },
    stats: () => ({ ...totals }),
    async stop() {
      clearInterval(statsTimer);
      await lease.stop();
      subscription?.unsubscribe();
      subscription = null;
    },
  };
}
