// The open-relay probes of port 25: every classic address trick, from each outside source and
// sender, answered 5xx at RCPT and never reaching the outside. relay.test.ts runs them against
// the mail server, secondary-mx.test.ts against the backup MX.
import { sinkMessages, smtpDialog } from "../clients";

/** Recipients that would make the server relay to sink.test (a foreign domain) if it were open. */
export const RELAY_TRICKS = [
    "<x@sink.test>",
    "<X@SINK.TEST>",
    "<x@sink.test.>",
    "<x@[198.51.100.7]>",
    "<user%sink.test@example.org>",
    "<user%sink.test@mail.example.org>",
    "<@example.org:user@sink.test>",
    "<@mail.example.org,@example.net:user@sink.test>",
    '<"user@sink.test"@example.org>',
    '<"user%sink.test"@example.net>',
    "<user!sink.test@example.org>",
    "<sink.test!user@example.org>",
    "<user@sink.test@example.org>",
];
/** An outside sender, one of our own, and the null sender of bounces. */
const SENDERS = ["someone@sink.test", "alice@example.org", ""];

/**
 * Every trick from every source (an outside address and the server's address to connect to)
 * and sender; `marker` is in each probe's subject. Returns the number of probes, what was
 * accepted at RCPT, and what reached the sink (after giving the queue time).
 */
export async function relayProbes(
    sources: readonly { localAddress: string; host: string }[],
    marker: string,
): Promise<{ probes: number; accepted: string[]; relayed: unknown[] }> {
    const sinkBefore = sinkMessages().length;
    let probes = 0;
    const accepted: string[] = [];
    for (const src of sources) {
        for (const from of SENDERS) {
            for (const rcpt of RELAY_TRICKS) {
                probes++;
                const subject = `${marker}-${probes}`;
                const { greeting, replies } = await smtpDialog(
                    25,
                    [
                        "EHLO client.sink.test",
                        `MAIL FROM:<${from}>`,
                        `RCPT TO:${rcpt}`,
                        "DATA",
                        `From: <${from}>\r\nTo: x@sink.test\r\nSubject: ${subject}\r\n\r\nrelay probe ${subject}\r\n.`,
                    ],
                    src,
                );
                if (greeting.code !== 220) throw new Error(`greeting from ${src.host}: ${greeting.code}`);
                if (replies[1]?.code !== 250)
                    throw new Error(`MAIL FROM:<${from}> from ${src.localAddress}: ${replies[1]?.lines.join(" ")}`);
                const rcptReply = replies[2];
                if (!rcptReply || rcptReply.code < 500) {
                    accepted.push(
                        `${src.localAddress} ${from} -> ${rcpt}: ${rcptReply?.code ?? "none"} ${rcptReply?.lines.join(" ") ?? ""}`,
                    );
                }
            }
        }
    }
    // Whatever was accepted must not reach the outside world either (give the queue time).
    await new Promise((r) => setTimeout(r, accepted.length > 0 ? 5000 : 1000));
    const relayed = sinkMessages()
        .slice(sinkBefore)
        .filter((m) => m.raw.includes(marker));
    return { probes, accepted, relayed };
}
