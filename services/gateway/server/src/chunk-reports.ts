/**
 * Carries one chunkserver link's chunk reports to the shards that own the chunks, as system
 * commands through the gateway's meta-caller (which retries while the metadata tier does not
 * answer):
 * - `reset` (the chunkserver started registering): chunkserverreset to every shard, so they forget
 *   the copies it reported before; it must reach them before the copies of the new registration;
 * - registration batches and CHUNK_NEW: chunkscopies, split by the chunk id's slot (each slot
 *   belongs to one shard) into commands of at most limits.chunkReportBatchMax copies;
 * - CHUNK_LOST / CHUNK_DAMAGED: chunksgone, split the same way.
 *
 * Order: everything of one link goes through one promise chain, so a shard sees a link's reports
 * in the order the chunkserver sent them (reset before copies, NEW before a later LOST of the same
 * chunk). The commands of one step go out concurrently (bounded); the next step waits for them.
 *
 * Registration copies are gathered per slot across the chunkserver's batches (it reports 10 000
 * copies per batch, spread over every slot) and sent when a slot has a full command, when too many
 * are buffered, when the registration ends, or before any other report — a few full commands per
 * slot instead of a tiny one per slot and batch.
 *
 * When the link closes, whatever is buffered or queued and not yet sent is dropped (`close`): the
 * chunkserver's next link starts with a reset and reports everything again, and a late report of
 * the old link arriving after that reset would describe copies the shards were just told to forget.
 *
 * A command that fails even after the meta-caller's retries is logged with what it carried and
 * dropped; the next registration of that chunkserver reports the truth again.
 */
import { limits } from "@antler/base";
import type { ChunkCopy } from "@antler/mfs-wire";
import { routeOf, Status, type Command, type Ctx, type MetaRequest, type Result, type Route } from "@antler/ops";
import { slotOfChunkId } from "@antler/slots";
import type { Logger } from "@antler/telemetry";

/** The part of the meta-caller reports need. */
export interface ReportCaller {
  call(request: MetaRequest, route: Route): Promise<Result>;
}

export interface ChunkReportsOptions {
  readonly caller: ReportCaller;
  readonly log: Logger;
  /** A request id unique across every gateway and restart. */
  readonly requestIds: () => string;
  readonly batchMax?: number;
  /** Registration copies buffered before everything is sent; default 10 × batchMax. */
  readonly bufferMax?: number;
  /** Commands of one step in flight at once. */
  readonly concurrency?: number;
}

const defaultConcurrency = 16;

type ChunkCopies = Extract<Command, { kind: "chunkscopies" }>["copies"][number];

export class ChunkReports {
  readonly #caller: ReportCaller;
  readonly #log: Logger;
  readonly #requestIds: () => string;
  readonly #batchMax: number;
  readonly #bufferMax: number;
  readonly #concurrency: number;
  #chain: Promise<void> = Promise.resolve();
  /** Registration copies not yet sent, by slot, and for which chunkserver (a link has one). */
  #buffer = new Map<number, ChunkCopies[]>();
  #buffered = 0;
  #csid = 0;
  #closed = false;
  #droppedOnClose = 0;

  constructor(options: ChunkReportsOptions) {
    this.#caller = options.caller;
    this.#log = options.log;
    this.#requestIds = options.requestIds;
    this.#batchMax = options.batchMax ?? limits.chunkReportBatchMax;
    this.#bufferMax = options.bufferMax ?? 10 * this.#batchMax;
    this.#concurrency = options.concurrency ?? defaultConcurrency;
  }

  /** Everything queued so far has been sent (or dropped). */
  settled(): Promise<void> {
    return this.#chain;
  }

  reset(csid: number): void {
    this.flush();
    this.#csid = csid;
    this.#enqueue([{ kind: "chunkserverreset", csid }]);
  }

  copies(csid: number, source: "register" | "new", chunks: readonly ChunkCopy[]): void {
    if (source === "new") {
      this.flush();
      this.#csid = csid;
      this.#enqueue(this.#split(chunks, (chunk) => chunk.chunkId, (slot, part) => ({ kind: "chunkscopies", slot, csid, fullReport: false, copies: part.map(copyOf) })));
      return;
    }
    if (this.#csid !== csid) this.flush();
    this.#csid = csid;
    for (const chunk of chunks) {
      const slot = slotOfChunkId(chunk.chunkId);
      let list = this.#buffer.get(slot);
      if (list === undefined) {
        list = [];
        this.#buffer.set(slot, list);
      }
      list.push(copyOf(chunk));
      this.#buffered++;
      if (list.length >= this.#batchMax) {
        this.#buffer.delete(slot);
        this.#buffered -= list.length;
        this.#enqueue([{ kind: "chunkscopies", slot, csid, fullReport: true, copies: list }]);
      }
    }
    if (this.#buffered >= this.#bufferMax) this.flush();
  }

  gone(csid: number, chunkIds: readonly bigint[]): void {
    this.flush();
    this.#csid = csid;
    this.#enqueue(this.#split(chunkIds, (chunkId) => chunkId, (slot, part) => ({ kind: "chunksgone", slot, csid, chunkIds: part })));
  }

  /** Sends the buffered registration copies (the registration ended, or order demands it). */
  flush(): void {
    if (this.#buffered === 0) return;
    const csid = this.#csid;
    const commands: Command[] = [];
    for (const [slot, list] of this.#buffer) commands.push({ kind: "chunkscopies", slot, csid, fullReport: true, copies: list });
    this.#buffer = new Map();
    this.#buffered = 0;
    this.#enqueue(commands);
  }

  /** The link closed: nothing not yet sent is sent (the chunkserver reports it all again). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const bufferedCopies = this.#buffered;
    this.#buffer = new Map();
    this.#buffered = 0;
    // Logged once the chain has drained, with everything it skipped.
    this.#chain = this.#chain.then(() => {
      if (bufferedCopies > 0 || this.#droppedOnClose > 0) {
        this.#log.info("link closed; unsent chunk reports dropped", { csid: this.#csid, commands: this.#droppedOnClose, bufferedCopies });
      }
    });
  }

  #split<T>(items: readonly T[], chunkIdOf: (item: T) => bigint, build: (slot: number, part: T[]) => Command): Command[] {
    const bySlot = new Map<number, T[]>();
    for (const item of items) {
      const slot = slotOfChunkId(chunkIdOf(item));
      let list = bySlot.get(slot);
      if (list === undefined) {
        list = [];
        bySlot.set(slot, list);
      }
      list.push(item);
    }
    const commands: Command[] = [];
    for (const [slot, list] of bySlot) {
      for (let start = 0; start < list.length; start += this.#batchMax) commands.push(build(slot, list.slice(start, start + this.#batchMax)));
    }
    return commands;
  }

  #enqueue(commands: Command[]): void {
    if (commands.length === 0 || this.#closed) return;
    this.#chain = this.#chain.then(() => this.#sendAll(commands));
  }

  async #sendAll(commands: Command[]): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < commands.length) {
        const cmd = commands[next++]!;
        if (this.#closed) this.#droppedOnClose++;
        else await this.#send(cmd);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#concurrency, commands.length) }, worker));
  }

  async #send(cmd: Command): Promise<void> {
    const ctx: Ctx = { sessionId: 0, uid: 0, gids: [0], sesflags: 0, rootInode: 1, requestId: this.#requestIds() };
    let result: Result;
    try {
      result = await this.#caller.call({ ctx, cmd }, routeOf(cmd));
    } catch (err) {
      // The meta-caller promises results; a throw is a bug, and must not break the chain.
      this.#log.error("chunk report failed unexpectedly; dropped", { ...describe(cmd), err });
      return;
    }
    if (result.status !== Status.OK) this.#log.warn("chunk report not accepted; dropped", { ...describe(cmd), status: result.status });
  }
}

/** Version bit a chunkserver sets on copies that sit on a disk marked for removal (protocol §4.1). */
const onRemovedDiskBit = 0x80000000;

/**
 * The copy at its real version. The removal-disk bit is dropped: the shards know no such state
 * yet, and a copy counted at a wrong version would be deleted while it is still a good one.
 */
function copyOf(chunk: ChunkCopy): ChunkCopies {
  return { chunkId: chunk.chunkId, version: (chunk.version & ~onRemovedDiskBit) >>> 0 };
}

/** What a dropped report carried, for the log (counts, not the ids). */
function describe(cmd: Command): Record<string, unknown> {
  switch (cmd.kind) {
    case "chunkscopies":
      return { kind: cmd.kind, csid: cmd.csid, slot: cmd.slot, fullReport: cmd.fullReport, copies: cmd.copies.length };
    case "chunksgone":
      return { kind: cmd.kind, csid: cmd.csid, slot: cmd.slot, copies: cmd.chunkIds.length };
    case "chunkserverreset":
      return { kind: cmd.kind, csid: cmd.csid };
    default:
      return { kind: cmd.kind };
  }
}
