// Bursts: many messages over parallel raw SMTP sessions, the lab's equivalent of Postfix's
// `smtp-source` (lab/checks/burst.test.ts, and the bench's loads).

import type { PortOf } from "../../model/services";
import { authPlain } from "../../wire/smtp";
import { smtpDialog } from ".";

export interface BurstOptions {
    port: PortOf["smtp" | "submission"];
    /** Another server than the lab's mail server (the backup MX, for the bench's hand-over). */
    host?: string;
    /** The client's address in msl-out (the one the lab's SPF records allow: NET.client4). */
    localAddress?: string;
    /** Messages in all. */
    count: number;
    /** SMTP sessions in parallel. */
    sessions: number;
    /** Messages per connection; 1 (the default) opens a new connection for each, as `smtp-source` does. */
    perConnection?: number;
    from: string;
    /** The recipient of message number i (0-based). */
    to: (i: number) => string;
    /** Size of each message in bytes (headers and body). */
    size: number;
    /** Each message's Subject is this, a space and its number. */
    subject: string;
    /** Log in (after STARTTLS), for 587. */
    auth?: { user: string; pass: string };
    /** Send only these message numbers (a sender's retry of those not accepted); all `count` by default. */
    only?: readonly number[];
    /** Called with each message's number as it is accepted (a fault lab strikes mid-burst). */
    onAccepted?: (i: number) => void;
}

export interface BurstResult {
    accepted: number;
    /** The numbers of the messages answered 250 at the end of DATA, and of the others. */
    acceptedNumbers: number[];
    notAcceptedNumbers: number[];
    /** The refusals and errors, one line each ("5xx ..." or the client's error). */
    refused: string[];
    /** Epoch ms before the first connection was opened. */
    startedAt: number;
    /** Epoch ms when the last message was accepted. */
    lastAcceptedAt: number;
    /** Accepted messages per second, first connect to last acceptance. */
    perSecond: number;
}

/** A message of about `size` bytes whose lines never start with a dot. */
function burstMessage(o: BurstOptions, i: number): string {
    const head = [
        `From: <${o.from}>`,
        `To: <${o.to(i)}>`,
        `Subject: ${o.subject} ${i}`,
        `Message-ID: <${o.subject}.${i}@client.sink.test>`,
        `Date: ${new Date().toUTCString()}`,
        "",
    ].join("\r\n");
    const line = "x".repeat(74);
    const body: string[] = [];
    for (let n = head.length + 2; n < o.size; n += line.length + 2) body.push(line);
    return `${head}\r\n${body.join("\r\n")}\r\n.`;
}

/**
 * Send `count` messages over `sessions` parallel SMTP connections, each a raw dialog
 * (smtpDialog) without pipelining; the lab's equivalent of Postfix's `smtp-source`. Resolves
 * with what was accepted and how fast; a refusal or a dropped connection is counted, never thrown.
 */
export async function smtpBurst(o: BurstOptions): Promise<BurstResult> {
    const per = o.perConnection ?? 1;
    const numbers = o.only ?? Array.from({ length: o.count }, (_, i) => i);
    const refused: string[] = [];
    const acceptedNumbers: number[] = [];
    const notAcceptedNumbers: number[] = [];
    let accepted = 0;
    let next = 0;
    let lastAcceptedAt = 0;
    const worker = async () => {
        while (next < numbers.length) {
            const first = next;
            const n = Math.min(per, numbers.length - first);
            next += n;
            const batch = numbers.slice(first, first + n);
            const login = o.auth
                ? ["EHLO client.sink.test", authPlain(o.auth.user, o.auth.pass)]
                : ["EHLO client.sink.test"];
            const messages = batch.flatMap((i) => [
                `MAIL FROM:<${o.from}>`,
                `RCPT TO:<${o.to(i)}>`,
                "DATA",
                burstMessage(o, i),
            ]);
            try {
                const { replies } = await smtpDialog(o.port, [...login, ...messages], {
                    host: o.host,
                    localAddress: o.localAddress,
                    starttls: o.auth !== undefined,
                    timeoutMs: 60_000,
                });
                const offset = (o.auth ? 2 : 0) + login.length;
                for (let k = 0; k < n; k++) {
                    const end = replies[offset + 4 * k + 3];
                    if (end?.code === 250) {
                        accepted += 1;
                        acceptedNumbers.push(batch[k]);
                        lastAcceptedAt = Date.now();
                        o.onAccepted?.(batch[k]);
                    } else {
                        const last = replies.at(-1);
                        refused.push(last ? `${last.code} ${last.lines.join(" ")}` : "no reply");
                        notAcceptedNumbers.push(batch[k]);
                    }
                }
            } catch (err) {
                // A dropped connection or a timeout: none of its messages was seen accepted. A 250
                // lost with the connection leaves the sender to retry: the one duplicate SMTP allows.
                for (let k = 0; k < n; k++) refused.push((err as Error).message);
                notAcceptedNumbers.push(...batch);
            }
        }
    };
    const startedAt = Date.now();
    await Promise.all(Array.from({ length: o.sessions }, worker));
    const seconds = (lastAcceptedAt - startedAt) / 1000;
    return {
        accepted,
        acceptedNumbers,
        notAcceptedNumbers,
        refused,
        startedAt,
        lastAcceptedAt,
        perSecond: seconds > 0 ? accepted / seconds : 0,
    };
}
