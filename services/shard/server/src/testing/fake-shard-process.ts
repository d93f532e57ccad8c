/** The shard process with the fake state machine, for process-level tests (kill, restart). */
import { runShardProcess } from "../shard-process.ts";
import { FakeStateMachine } from "./fake-state-machine.ts";

await runShardProcess(() => new FakeStateMachine());
