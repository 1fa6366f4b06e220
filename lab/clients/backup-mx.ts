// The lab's backup MX (`--secondary`, msl-mx2) as secondary-mx.test.ts and the bench drive it:
// mail offered to it from an outside client, what its way to the primary logged, and the
// hand-over: the primary answers again, and the backup MX's queue reaches the mailboxes.

import { eventually, smtpDialog } from ".";
import { deliveredTo } from "./delivery";
import { NET } from "../harness/net";
import { SECONDARY, ssh } from "../harness/ssh";

/** Root's shell on the backup MX. */
export const onMx2 = (command: string) => ssh(command, { allowFail: true, timeoutMs: 60_000 }, SECONDARY);

/** One message offered to the backup MX on port 25 from an outside client; every reply in order. */
export async function offerToMx2(from: string, to: string, raw: string, opts: { ipv6?: boolean } = {}) {
    const { greeting, replies } = await smtpDialog(
        25,
        ["EHLO client.sink.test", `MAIL FROM:<${from}>`, `RCPT TO:<${to}>`, "DATA", `${raw}\r\n.`],
        {
            host: opts.ipv6 ? NET.mx2Server6 : NET.mx2Server4,
            localAddress: opts.ipv6 ? NET.client6 : NET.client4,
            keepGoing: true,
        },
    );
    return { greeting, replies: replies.map((r) => ({ code: r.code, text: r.lines.join(" ") })) };
}

/** What the backup MX's way to the primary (postfix/relay) logged since `since` (epoch ms). */
export function relayLog(since: number): string[] {
    // syslog_name=postfix/relay: its smtp client logs as postfix/relay/smtp.
    return onMx2(`journalctl --no-pager -q -o cat -t postfix/relay/smtp --since=@${Math.floor(since / 1000)}`)
        .stdout.split("\n")
        .filter(Boolean);
}

/** Messages on the backup MX's queue. */
export function mx2QueueLength(): number {
    return Number(onMx2("postqueue -j | wc -l").stdout.trim());
}

/** What the primary's ETRN sender (mailstack-backup-mx-etrn.service) printed since `since` (epoch ms). */
export function etrnLog(since: number): string[] {
    return ssh(`journalctl --no-pager -q -o cat -u mailstack-backup-mx-etrn --since=@${Math.floor(since / 1000) - 1}`, {
        allowFail: true,
    })
        .stdout.split("\n")
        .filter(Boolean);
}

/**
 * The hand-over: the primary's Postfix is started again (it was stopped; a no-op when a boot
 * started it), and its start asks the backup MX for the mail (ETRN, mailstack-backup-mx-etrn
 * on the primary): nobody flushes the backup MX's queue by hand. Resolves when `count`
 * messages with Subject `<subject> <n>` are in the Maildirs `boxes`: `seconds` from the
 * primary answering (`at.answeredAt`, or the end of its Postfix's start) to the last of them written, and what the
 * primary's ETRN sender printed since `at.since` (default: now; a boot that started Postfix
 * before the call sets both).
 */
export async function handOver(
    boxes: readonly string[],
    subject: string,
    count: number,
    at: { readonly answeredAt?: number; readonly since?: number } = {},
): Promise<{ seconds: number; answeredAt: number; etrn: string[] }> {
    const since = at.since ?? Date.now();
    let started = 0;
    try {
        ssh("systemctl start postfix");
        // Its start has ended: the master listens on port 25 (Type=forking, PIDFile). The
        // ETRN goes out at once, and delivery can end before the greeting check below does.
        started = Date.now();
        // Asked on the server itself: the bench runs outside msl-out, where the checks run.
        await eventually(
            () => ssh("exec 3<>/dev/tcp/127.0.0.1/25 && timeout 3 head -c 3 <&3", { allowFail: true }).stdout === "220",
            30_000,
            100,
        );
    } finally {
        // Never leave the primary without its Postfix, whatever failed.
        ssh("systemctl start postfix", { allowFail: true });
    }
    const answeredAt = at.answeredAt ?? started;
    const done = await eventually(() => {
        const d = deliveredTo(boxes, subject);
        return d.count >= count ? d : undefined;
    }, 60_000).catch((err: Error) => {
        throw new Error(
            `${err.message}; the primary's ETRN:\n${etrnLog(since).join("\n")}\nthe backup MX's way to the primary:\n${relayLog(answeredAt).join("\n")}`,
        );
    });
    return {
        seconds: (done.lastAt - answeredAt) / 1000,
        answeredAt,
        etrn: etrnLog(since),
    };
}
