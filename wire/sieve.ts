// ManageSieve (RFC 5804): responses, their strings (quoted or literal), capabilities, the
// commands with credentials or a script, and a raw dialog.

import { type Dialect, type DialogTarget, openSocket, Session } from "./session";
import { peer } from "./tls";

/** A response: data lines, then OK, NO or BYE with an optional response code and text. */
export interface SieveReply {
    readonly status: "OK" | "NO" | "BYE";
    /** The data lines before the status line, as sent (a literal inside its line), e.g. `"SASL" "PLAIN"`. */
    readonly lines: string[];
    /** The rest of the status line, as sent, e.g. `(QUOTA) "Quota exceeded"`. */
    readonly text: string;
    /** The response code's name, e.g. `QUOTA/MAXSIZE`, `TAG`, `WARNINGS`. */
    readonly code?: string;
    /** The human-readable string (quoted or literal), decoded. */
    readonly message?: string;
}

/** An atom (e.g. `ACTIVE`, a response code's name, `(` and `)`) or a string, decoded. */
export type SieveToken = { readonly kind: "atom" | "string"; readonly value: string };

const SP = 0x20;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * A line's tokens (RFC 5804 4): quoted strings (`\"` and `\\` escaped), literals (`{n}` CRLF
 * and n octets, counted in octets), atoms, and the parentheses of a response code. Undefined
 * when the line is not well formed (an open quote, a bad escape, a short literal).
 */
export function sieveTokens(line: string): SieveToken[] | undefined {
    const b = Buffer.from(line, "utf8");
    const out: SieveToken[] = [];
    let i = 0;
    while (i < b.length) {
        const c = b[i];
        if (c === SP) {
            i++;
        } else if (c === DQUOTE) {
            const value: number[] = [];
            for (i++; ;) {
                if (i >= b.length) return undefined;
                if (b[i] === DQUOTE) break;
                if (b[i] === BACKSLASH) {
                    if (b[i + 1] !== DQUOTE && b[i + 1] !== BACKSLASH) return undefined;
                    i++;
                }
                value.push(b[i++]);
            }
            i++;
            out.push({ kind: "string", value: Buffer.from(value).toString("utf8") });
        } else if (c === 0x7b) {
            const m = /^\{(\d+)\+?\}\r\n/.exec(b.subarray(i, i + 24).toString("latin1"));
            if (!m) return undefined;
            const start = i + m[0].length;
            const end = start + Number(m[1]);
            if (end > b.length) return undefined;
            out.push({ kind: "string", value: b.subarray(start, end).toString("utf8") });
            i = end;
        } else if (c === 0x28 || c === 0x29) {
            out.push({ kind: "atom", value: String.fromCharCode(c) });
            i++;
        } else {
            let j = i;
            while (j < b.length && ![SP, DQUOTE, 0x28, 0x29, 0x7b].includes(b[j])) j++;
            out.push({ kind: "atom", value: b.subarray(i, j).toString("utf8") });
            i = j;
        }
    }
    return out;
}

/**
 * The status line: OK, NO or BYE (any case), then nothing or a space; a line that merely
 * starts with those letters (`OKAY`, `NO-OP`) is data.
 */
const STATUS = /^(OK|NO|BYE)(?: ([\s\S]*))?$/i;

/** The response these lines make, when the last one is its status line. */
export function sieveReplyEnd(lines: readonly string[]): SieveReply | undefined {
    const m = STATUS.exec(lines[lines.length - 1]);
    if (!m) return undefined;
    const text = m[2] ?? "";
    const tokens = sieveTokens(text) ?? [];
    let rest = tokens;
    let code: string | undefined;
    if (tokens[0]?.kind === "atom" && tokens[0].value === "(") {
        const close = tokens.findIndex((t) => t.kind === "atom" && t.value === ")");
        code = tokens[1]?.value;
        rest = close < 0 ? [] : tokens.slice(close + 1);
    }
    const message = rest[0]?.kind === "string" ? rest[0].value : undefined;
    return {
        status: m[1].toUpperCase() as SieveReply["status"],
        lines: lines.slice(0, -1),
        text,
        ...(code !== undefined ? { code } : {}),
        ...(message !== undefined ? { message } : {}),
    };
}

export const MANAGESIEVE: Dialect<SieveReply> = { end: sieveReplyEnd, quit: "LOGOUT", literals: true };

/**
 * Capabilities by name, upper case: `"SASL" "PLAIN LOGIN"` is SASL -> "PLAIN LOGIN", `"STARTTLS"`
 * is STARTTLS -> "". A line that is not a name and at most one string is left out.
 */
export function sieveCapabilities(reply: Pick<SieveReply, "lines">): Record<string, string> {
    return Object.fromEntries(
        reply.lines.flatMap((l) => {
            const t = sieveTokens(l);
            if (!t || t.length < 1 || t.length > 2 || t.some((x) => x.kind !== "string")) return [];
            return [[t[0].value.toUpperCase(), t[1]?.value ?? ""]];
        }),
    );
}

/** `AUTHENTICATE "PLAIN"` with the credentials inline (RFC 5804 2.1). */
export function sieveAuthPlain(user: string, pass: string): string {
    return `AUTHENTICATE "PLAIN" "${Buffer.from(`\0${user}\0${pass}`).toString("base64")}"`;
}

/** PUTSCRIPT with the script as a non-synchronizing literal (its length in octets). */
export function sievePutScript(name: string, script: string): string {
    return `PUTSCRIPT "${name}" {${Buffer.byteLength(script)}+}\r\n${script}`;
}

export interface SieveDialog {
    greeting: SieveReply;
    /** STARTTLS's answer and, if it was OK, the capabilities inside TLS. */
    starttls?: SieveReply;
    capabilitiesInTls?: SieveReply;
    replies: SieveReply[];
    tlsProtocol?: string;
    peerFingerprint?: string;
}

/**
 * A raw ManageSieve conversation: the greeting (capabilities), STARTTLS if asked (then the
 * capabilities again, as RFC 5804 sends them after TLS), then each command as given (a
 * PUTSCRIPT carries its script as a literal: sievePutScript). Stops at the first NO or BYE
 * unless `keepGoing`. The connection always ends with LOGOUT.
 */
export async function sieveDialog(
    t: DialogTarget,
    commands: string[],
    o: { readonly starttls?: boolean; readonly keepGoing?: boolean } = {},
): Promise<SieveDialog> {
    const session = new Session(await openSocket(t), MANAGESIEVE, { timeoutMs: t.timeoutMs });
    try {
        const greeting = await session.reply();
        let tls: ReturnType<typeof peer> | undefined;
        let starttls: SieveReply | undefined;
        let capabilitiesInTls: SieveReply | undefined;
        if (o.starttls) {
            starttls = await session.reply("STARTTLS");
            if (starttls.status !== "OK") return { greeting, starttls, replies: [] };
            tls = peer(await session.startTls(t.tlsOptions ?? {}));
            capabilitiesInTls = await session.reply();
        }
        const replies: SieveReply[] = [];
        for (const c of commands) {
            const r = await session.reply(c);
            replies.push(r);
            if (r.status !== "OK" && !o.keepGoing) break;
        }
        return {
            greeting,
            starttls,
            capabilitiesInTls,
            replies,
            tlsProtocol: tls?.protocol,
            peerFingerprint: tls?.fingerprint,
        };
    } finally {
        session.close();
    }
}
