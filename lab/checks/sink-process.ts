// The lab's sink (lab/world/sink.ts in msl-out) stopped and started again by a check: the outside
// destination made unreachable and back, for a message that must wait in a queue meanwhile.

import assert from "node:assert/strict";
import * as path from "node:path";
import { eventually } from "../clients";
import { NET, startOutsideDaemon } from "../harness/net";
import { LAB_DIR, readPid, STATE_DIR } from "../harness/processes";
import { LAB_RELAY } from "../lab-config";

export async function stopSink(): Promise<void> {
    const pid = readPid("sink");
    assert.ok(pid, "the lab's sink is not running");
    process.kill(pid, "SIGTERM");
    await eventually(() => readPid("sink") === undefined, 10_000);
}

export function startSink(): Promise<number> {
    return startOutsideDaemon("sink", path.join(LAB_DIR, "world", "sink.ts"), [
        path.join(STATE_DIR, "sink"),
        NET.outside4,
        String(LAB_RELAY.port),
    ]);
}
