// What every check can use: the run's context (written by lab/run.ts), SSH to the server,
// the lab's addresses, and unique tags for the messages a check sends.
// Checks run inside the lab's "outside" namespace (msl-out), launched by run.ts.
import * as fs from "node:fs";
import * as path from "node:path";
import { eventually } from "../clients";
import { STATE_DIR } from "../harness/processes";
import { ssh } from "../harness/ssh";
import type { LabContext } from "../run";

export { hardRebootContainer, MAIL_VOLUME_DEVICE, rebootContainer } from "../harness/container";
export { NET } from "../harness/net";
export { STATE_DIR } from "../harness/processes";
export { ssh } from "../harness/ssh";

export function context(): LabContext {
    return JSON.parse(fs.readFileSync(path.join(STATE_DIR, "context.json"), "utf8")) as LabContext;
}

/** A string no earlier message contains (a subject, a marker), e.g. `relay-m3x0f2-k9a1b`. */
export function tag(prefix: string): string {
    return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;
}

/** "25, 465, 587, 993 and 995": a list for a check's name. */
export function inWords(items: readonly (string | number)[]): string {
    return items.length < 2 ? items.join("") : `${items.slice(0, -1).join(", ")} and ${items.at(-1)}`;
}

/** What checks keep beside the lab's report (the webmail's screenshots): MAILSTACK_LAB_ARTIFACTS, or this. */
export const ARTIFACTS_DIR = process.env.MAILSTACK_LAB_ARTIFACTS ?? "/var/tmp/mailstack-lab-artifacts";

/** What Postfix's SMTP client logged since `since` (epoch ms). */
export function smtpLog(since: number): string {
    return ssh(`journalctl --no-pager -q -o cat -t postfix/smtp --since=@${Math.floor(since / 1000)}`).stdout;
}

/** The SMTP client's first `status=deferred` line for `to` since `since` (waits up to 60 s). */
export function deferredLine(to: string, since: number): Promise<string> {
    return eventually(
        () =>
            smtpLog(since)
                .split("\n")
                .find((l) => l.includes(`to=<${to}>`) && l.includes("status=deferred")),
        60_000,
    );
}

/** Every queued message with a recipient `to` deleted, so later checks see no leftovers. */
export function dropQueued(to: string): void {
    ssh(
        `postqueue -j | python3 -c 'import json, sys\nfor l in sys.stdin:\n q = json.loads(l)\n if any(r["address"] == "${to}" for r in q["recipients"]): print(q["queue_id"])' | postsuper -d - >/dev/null 2>&1 || true`,
    );
}
