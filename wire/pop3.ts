// POP3 (RFC 1939): a raw session, its multi-line answers and what STAT says.

import * as net from "node:net";
import * as tls from "node:tls";

export interface Pop3Target {
    readonly host: string;
    readonly port: number;
    /** No TLS at all (a plain port); else TLS from the first byte (995). */
    readonly plain?: boolean;
    readonly tlsOptions?: tls.ConnectionOptions;
}

/** Commands answered with several lines ending in a line of its own: ".". */
const MULTI_LINE = /^(RETR|TOP|CAPA|UIDL$|LIST$)/i;

/**
 * The next answer off the front of `buffer`, and what is left, or undefined while it is
 * incomplete. A multi-line answer (RETR, LIST without argument, CAPA, UIDL, TOP) ends with
 * "\r\n.\r\n" and is returned without that end; an -ERR is one line always.
 */
export function pop3Answer(buffer: string, multi: boolean): { answer: string; rest: string } | undefined {
    const end = buffer.indexOf("\r\n");
    if (end < 0) return undefined;
    const first = buffer.slice(0, end);
    if (!multi || first.startsWith("-ERR")) return { answer: first, rest: buffer.slice(end + 2) };
    const term = buffer.indexOf("\r\n.\r\n");
    if (term < 0) return undefined;
    return { answer: buffer.slice(0, term), rest: buffer.slice(term + 5) };
}

/** A raw POP3 session: the greeting, then the answer to each command. Always ends with QUIT. */
export async function pop3Session(t: Pop3Target, commands: string[]): Promise<string[]> {
    const sock: net.Socket = await new Promise((resolve, reject) => {
        const s = t.plain
            ? net.connect({ host: t.host, port: t.port }, () => resolve(s))
            : tls.connect({ host: t.host, port: t.port, ...t.tlsOptions }, () => resolve(s));
        s.once("error", reject);
        s.setTimeout(15_000, () => s.destroy(new Error("POP3 timeout")));
    });
    sock.setEncoding("utf8");
    let buf = "";
    const waiters: (() => void)[] = [];
    sock.on("data", (d: string) => {
        buf += d;
        waiters.splice(0).forEach((w) => w());
    });
    const readReply = async (multi: boolean): Promise<string> => {
        for (;;) {
            const got = pop3Answer(buf, multi);
            if (got) {
                buf = got.rest;
                return got.answer;
            }
            await new Promise<void>((resolve, reject) => {
                waiters.push(resolve);
                sock.once("close", () => reject(new Error("POP3 connection closed")));
            });
        }
    };
    const out = [await readReply(false)];
    try {
        for (const c of commands) {
            sock.write(`${c}\r\n`);
            out.push(await readReply(MULTI_LINE.test(c)));
        }
        return out;
    } finally {
        sock.write("QUIT\r\n");
        sock.end();
        setTimeout(() => sock.destroy(), 1000).unref();
    }
}

/** The message count of a STAT answer (`+OK 3 1200`). */
export function statCount(answer: string): number {
    return Number(answer.split(" ")[1] ?? 0);
}

/** A RETR answer's message: without the status line, dot-stuffing undone. */
export function retrMessage(answer: string): string {
    return answer.replace(/^\+OK[^\r\n]*\r\n/, "").replace(/^\.\./gm, ".");
}

/** Log in, STAT, RETR the last message; throws the -ERR of a refused login. */
export async function pop3Retrieve(
    t: Pop3Target,
    user: string,
    pass: string,
): Promise<{ count: number; last?: string }> {
    const [, u, p, stat] = await pop3Session(t, [`USER ${user}`, `PASS ${pass}`, "STAT"]);
    if (!u.startsWith("+OK") || !p.startsWith("+OK")) throw new Error(`POP3 login refused: ${p}`);
    const count = statCount(stat);
    if (count === 0) return { count };
    const r = await pop3Session(t, [`USER ${user}`, `PASS ${pass}`, `RETR ${count}`]);
    return { count, last: retrMessage(r[3]) };
}
