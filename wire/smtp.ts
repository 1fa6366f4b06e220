// SMTP (RFC 5321): replies, EHLO keywords, AUTH PLAIN, and a raw dialog.

import { type Dialect, type DialogTarget, openSocket, Session } from "./session";
import { peer } from "./tls";
import type * as tls from "node:tls";

/** One reply: its code and the text of each line (after "250-" or "250 "). */
export interface SmtpReply {
    readonly code: number;
    readonly lines: string[];
}

/**
 * RFC 5321 4.2: a reply is lines `250-text`, then a last line `250 text` or `250` alone; a
 * code is 2xx to 5xx. So a line ends the reply when its code is followed by a space or by
 * nothing, never when by a hyphen.
 */
const LAST_LINE = /^[2-5]\d\d(?: |$)/;

/** The reply these lines make, when the last one ends it. */
export function smtpReplyEnd(lines: readonly string[]): SmtpReply | undefined {
    const last = lines[lines.length - 1];
    if (!LAST_LINE.test(last)) return undefined;
    return { code: Number(last.slice(0, 3)), lines: lines.map((l) => l.slice(4)) };
}

export const SMTP: Dialect<SmtpReply> = { end: smtpReplyEnd, quit: "QUIT" };

/** The EHLO keywords (STARTTLS, AUTH, SIZE, ...), upper case: every line of the reply but the greeting one. */
export function ehloKeywords(lines: readonly string[]): string[] {
    return lines.slice(1).map((l) => l.split(" ")[0].toUpperCase());
}

/** AUTH PLAIN with its initial response (RFC 4954, RFC 4616) for user/password. */
export function authPlain(user: string, pass: string): string {
    return `AUTH PLAIN ${Buffer.from(`\0${user}\0${pass}`, "utf8").toString("base64")}`;
}

export interface SmtpDialogOptions {
    /** Send EHLO and STARTTLS first and continue the commands inside TLS. */
    readonly starttls?: boolean;
    /** The name of the EHLO sent before STARTTLS. */
    readonly ehloName: string;
    /** Go on after a reply >= 400. */
    readonly keepGoing?: boolean;
}

export interface SmtpDialog {
    greeting: SmtpReply;
    replies: SmtpReply[];
    tlsProtocol?: string;
    peerFingerprint?: string;
}

/**
 * A raw SMTP conversation: greeting, then each command (a string; `DATA` content is sent
 * as given, end it with "\r\n."). Returns the greeting and every reply, in order. Stops at the
 * first reply >= 400 unless `keepGoing`. The connection always ends with QUIT.
 */
export async function smtpDialog(t: DialogTarget, commands: string[], o: SmtpDialogOptions): Promise<SmtpDialog> {
    const socket = await openSocket(t);
    const session = new Session(socket, SMTP, { timeoutMs: t.timeoutMs });
    try {
        const greeting = await session.reply();
        const replies: SmtpReply[] = [];
        let tls = t.implicitTls ? peer(socket as tls.TLSSocket) : undefined;
        if (o.starttls) {
            replies.push(await session.reply(`EHLO ${o.ehloName}`));
            const r = await session.reply("STARTTLS");
            replies.push(r);
            if (r.code !== 220) return { greeting, replies };
            tls = peer(await session.startTls(t.tlsOptions ?? {}));
        }
        for (const c of commands) {
            const r = await session.reply(c);
            replies.push(r);
            if (r.code >= 400 && !o.keepGoing) break;
        }
        return { greeting, replies, tlsProtocol: tls?.protocol, peerFingerprint: tls?.fingerprint };
    } finally {
        session.close();
    }
}
