// What a check can use: the run's context (written by lab/run.ts) and SSH to the server.
// Checks run inside the lab's "outside" namespace (msl-out), launched by run.ts.
import * as fs from "node:fs";
import * as path from "node:path";
import { STATE_DIR } from "../infra";
import type { LabContext } from "../run";

export { NET, ssh, STATE_DIR, MAIL_VOLUME_DEVICE } from "../infra";

export function context(): LabContext {
    return JSON.parse(fs.readFileSync(path.join(STATE_DIR, "context.json"), "utf8")) as LabContext;
}
