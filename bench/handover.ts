// The backup MX's hand-over (issue 33): with the primary's Postfix stopped, a burst to alice
// goes to the backup MX (msl-mx2), which queues it; then the primary's Postfix starts again,
// and its start asks the backup MX for the mail (ETRN; lab/clients/backup-mx.ts handOver, as
// secondary-mx.test.ts does it); the figure is the time from the primary's first greeting
// to the last message written into alice's Maildir. Only in a lab with the backup MX
// (`npm run bench -- --secondary`); otherwise recorded as not measured.

import type { BurstResult } from "../lab/clients/burst";
import { eventually } from "../lab/clients";
import { handOver, mx2QueueLength, relayLog } from "../lab/clients/backup-mx";
import { NET } from "../lab/harness/net";
import { ssh } from "../lab/harness/ssh";
import { labSpec } from "../lab/lab-config";
import { port } from "../model";
import { note, put } from "./figures";
import type { BurstArgs } from "./load";
import { ALICE, MESSAGE_BYTES, SIZE } from "./options";
import { load } from "./server";

export async function handover(): Promise<void> {
    const n = SIZE.handover;
    const id = "mx2.handover";
    const label = `backup MX: ${n} messages it queued, in alice's Maildir after the primary answers again`;
    if (!labSpec().secondaryMx) {
        put(id, label, "s", null);
        return;
    }
    const subject = `bench-mx2-${Date.now().toString(36)}`;
    ssh("systemctl stop postfix");
    try {
        const burst = await load<BurstResult>("burst", {
            host: NET.mx2Server4,
            // From the lab's client, whose address sink.test's SPF allows (msl-out's address on
            // the backup MX's link is not: SPF fails there, and rspamd greylists the burst).
            localAddress: NET.client4,
            port: port("smtp"),
            count: n,
            sessions: 4,
            from: "newsletter@sink.test",
            recipients: [ALICE],
            size: MESSAGE_BYTES,
            subject,
        } satisfies BurstArgs);
        if (burst.accepted !== n)
            throw new Error(`the backup MX took ${burst.accepted} of ${n}: ${burst.refused.slice(0, 3).join("; ")}`);
        // Queued and tried once: the primary refused the connection.
        await eventually(() => relayLog(burst.startedAt).some((l) => l.includes("status=deferred")), 30_000);
    } catch (err) {
        ssh("systemctl start postfix", { allowFail: true });
        throw err;
    }
    const { seconds } = await handOver(["example.org/alice"], subject, n);
    put(id, label, "s", seconds);
    put(`${id}.rate`, "backup MX: its queue delivered to the primary", "msg/s", n / seconds);
    note(
        `backup MX hand-over: ${n} messages ${seconds.toFixed(1)} s after the primary answered; queue left ${mx2QueueLength()}`,
    );
}
