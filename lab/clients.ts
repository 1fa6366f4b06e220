// Mail clients for the checks, talking to the lab server from msl-out (the checks' process
// runs there). Only the lab server's documentation addresses are ever contacted.
//
//   smtpDialog(port, commands, opts)    raw SMTP conversation: every reply, for protocol checks
//   sendMail(opts)                      nodemailer: submission (587 STARTTLS, 465 TLS) or port 25
//   imapFetch(user, password, opts)     imapflow over 993: messages of INBOX
//   pop3Retrieve(user, password, opts)  POP3S on 995: STAT + RETR
//   sinkMessages()                      what reached the lab's sink (lab/sink.ts)

import * as net from "node:net";
import * as path from "node:path";
import * as tls from "node:tls";
import { ImapFlow } from "imapflow";
import nodemailer from "nodemailer";
import { NET } from "./harness/net";
import { STATE_DIR } from "./harness/processes";
import { sinkMessages as readSink } from "./sink";

export const SERVER = NET.server4;
export const SINK_DIR = path.join(STATE_DIR, "sink");

/** The lab server presents a self-signed certificate until ACME: never verify, always lab-only. */
const LAB_TLS = { rejectUnauthorized: false, servername: "mail.example.org" } as const;

export interface SmtpReply {
    code: number;
    lines: string[];
}

export interface DialogOptions {
    host?: string;
    /** Source address in msl-out: 192.0.2.7 (default), 198.51.100.7, 2001:db8::7. */
    localAddress?: string;
    /** 465: TLS from the first byte. */
    implicitTls?: boolean;
    /** Send STARTTLS after EHLO and continue the commands inside TLS. */
    starttls?: boolean;
    /** TLS versions for protocol checks, e.g. { maxVersion: "TLSv1.1" }. */
    tlsOptions?: tls.ConnectionOptions;
    timeoutMs?: number;
}

/** Lines off a socket, cut into replies where `end` says a reply is complete. */
class ReplyReader<R> {
    private buf = "";
    private waiters: ((r: R) => void)[] = [];
    private ready: R[] = [];
    private current: string[] = [];
    constructor(private readonly end: (lines: string[]) => R | undefined) {}
    feed(data: string): void {
        this.buf += data;
        let i: number;
        while ((i = this.buf.indexOf("\r\n")) >= 0) {
            const line = this.buf.slice(0, i);
            this.buf = this.buf.slice(i + 2);
            this.current.push(line);
            const reply = this.end(this.current);
            if (reply) {
                this.current = [];
                const w = this.waiters.shift();
                if (w) w(reply);
                else this.ready.push(reply);
            }
        }
    }
    next(timeoutMs: number): Promise<R> {
        const r = this.ready.shift();
        if (r) return Promise.resolve(r);
        return new Promise((resolve, reject) => {
            const t = setTimeout(() => reject(new Error("reply timeout")), timeoutMs);
            this.waiters.push((reply) => {
                clearTimeout(t);
                resolve(reply);
            });
        });
    }
}

/** An SMTP reply ends with "250 ..." (a code and a space, or the code alone). */
function smtpReplyEnd(lines: string[]): SmtpReply | undefined {
    const last = lines[lines.length - 1];
    if (!/^\d{3} /.test(last) && !/^\d{3}$/.test(last)) return undefined;
    return { code: Number(last.slice(0, 3)), lines: lines.map((l) => l.slice(4)) };
}

/** A ManageSieve response (RFC 5804): data lines, then OK, NO or BYE with an optional text. */
export interface SieveReply {
    status: "OK" | "NO" | "BYE";
    /** The data lines before the status line, e.g. `"SASL" "PLAIN"`. */
    lines: string[];
    /** The status line's text, e.g. `(QUOTA) "Quota exceeded"`. */
    text: string;
}

function sieveReplyEnd(lines: string[]): SieveReply | undefined {
    const m = /^(OK|NO|BYE)\b ?(.*)$/i.exec(lines[lines.length - 1]);
    if (!m) return undefined;
    return { status: m[1].toUpperCase() as SieveReply["status"], lines: lines.slice(0, -1), text: m[2] };
}

/** ManageSieve capabilities by name (upper case): `"SASL" "PLAIN"` is SASL -> PLAIN. */
export function sieveCapabilities(reply: SieveReply): Record<string, string> {
    return Object.fromEntries(
        reply.lines.map((l) => {
            const m = /^"([^"]*)"(?: "([^"]*)")?$/.exec(l);
            return m ? [m[1].toUpperCase(), m[2] ?? ""] : [l, ""];
        }),
    );
}

/** Connect, optionally TLS from the first byte; a time limit on the whole socket. */
function openSocket(port: number, opts: DialogOptions, host: string, timeoutMs: number): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
        const tlsOpts = {
            host,
            port,
            localAddress: opts.localAddress,
            ...LAB_TLS,
            ...opts.tlsOptions,
        } as tls.ConnectionOptions;
        const s: net.Socket = opts.implicitTls
            ? tls.connect(tlsOpts, () => resolve(s))
            : net.connect({ host, port, localAddress: opts.localAddress }, () => resolve(s));
        s.once("error", reject);
        s.setTimeout(timeoutMs, () => s.destroy(new Error(`connection to port ${port} timed out`)));
    });
}

/** TLS on a connected plain socket (after STARTTLS was answered). */
function upgrade(plain: net.Socket, opts: DialogOptions): Promise<tls.TLSSocket> {
    plain.removeAllListeners("data");
    return new Promise<tls.TLSSocket>((resolve, reject) => {
        const t = tls.connect({ socket: plain, ...LAB_TLS, ...opts.tlsOptions }, () => resolve(t));
        t.once("error", reject);
    });
}

function close(sock: net.Socket, quit: string): void {
    try {
        sock.write(`${quit}\r\n`);
    } catch {
        /* closed */
    }
    sock.end();
    setTimeout(() => sock.destroy(), 1000).unref();
}

/**
 * A raw ManageSieve conversation on 4190: the greeting (capabilities), STARTTLS if asked
 * (then the capabilities again, as RFC 5804 sends them after TLS), then each command as
 * given (a PUTSCRIPT carries its script as a literal: `{N+}\r\n<script>`). Stops at the first
 * NO or BYE unless `keepGoing`. The connection always ends with LOGOUT.
 */
export async function sieveDialog(
    port: number,
    commands: string[],
    opts: DialogOptions & { keepGoing?: boolean } = {},
): Promise<{
    greeting: SieveReply;
    /** STARTTLS's answer and, if it was OK, the capabilities inside TLS. */
    starttls?: SieveReply;
    capabilitiesInTls?: SieveReply;
    replies: SieveReply[];
    tlsProtocol?: string;
    peerFingerprint?: string;
}> {
    const timeoutMs = opts.timeoutMs ?? 15_000;
    let sock = await openSocket(port, opts, opts.host ?? SERVER, timeoutMs);
    let reader = new ReplyReader<SieveReply>(sieveReplyEnd);
    sock.setEncoding("utf8");
    sock.on("data", (d: string) => reader.feed(d));
    const send = (line: string) => {
        sock.write(`${line}\r\n`);
        return reader.next(timeoutMs);
    };
    try {
        const greeting = await reader.next(timeoutMs);
        let tlsProtocol: string | undefined;
        let peerFingerprint: string | undefined;
        let starttls: SieveReply | undefined;
        let capabilitiesInTls: SieveReply | undefined;
        if (opts.starttls) {
            starttls = await send("STARTTLS");
            if (starttls.status !== "OK") return { greeting, starttls, replies: [] };
            const secure = await upgrade(sock, opts);
            tlsProtocol = secure.getProtocol() ?? undefined;
            peerFingerprint = secure.getPeerCertificate().fingerprint256;
            sock = secure;
            reader = new ReplyReader<SieveReply>(sieveReplyEnd);
            sock.setEncoding("utf8");
            sock.on("data", (d: string) => reader.feed(d));
            capabilitiesInTls = await reader.next(timeoutMs);
        }
        const replies: SieveReply[] = [];
        for (const c of commands) {
            const r = await send(c);
            replies.push(r);
            if (r.status !== "OK" && !opts.keepGoing) break;
        }
        return { greeting, starttls, capabilitiesInTls, replies, tlsProtocol, peerFingerprint };
    } finally {
        close(sock, "LOGOUT");
    }
}

/** STARTTLS on a STARTTLS port of the services table, spoken in that port's protocol. */
export async function starttlsPeer(
    s: { readonly port: number; readonly protocol: string },
    tlsOptions: tls.ConnectionOptions,
): Promise<{ tlsProtocol?: string; peerFingerprint?: string }> {
    return s.protocol === "managesieve"
        ? sieveDialog(s.port, [], { starttls: true, tlsOptions })
        : smtpDialog(s.port, [], { starttls: true, tlsOptions });
}

/** ManageSieve's `AUTHENTICATE "PLAIN"` with the credentials inline (RFC 5804 2.1). */
export function sieveAuthPlain(user: string, pass: string): string {
    return `AUTHENTICATE "PLAIN" "${Buffer.from(`\0${user}\0${pass}`).toString("base64")}"`;
}

/** ManageSieve's PUTSCRIPT with the script as a non-synchronizing literal. */
export function sievePutScript(name: string, script: string): string {
    return `PUTSCRIPT "${name}" {${Buffer.byteLength(script)}+}\r\n${script}`;
}

/**
 * A raw SMTP conversation: greeting, then each command (a string; `DATA` content is sent
 * as given, end it with "\r\n."). Returns the greeting and every reply, in order. Stops at the
 * first reply >= 400 unless `keepGoing`. The connection always ends with QUIT.
 */
export async function smtpDialog(
    port: number,
    commands: string[],
    opts: DialogOptions & { keepGoing?: boolean } = {},
): Promise<{ greeting: SmtpReply; replies: SmtpReply[]; tlsProtocol?: string; peerFingerprint?: string }> {
    const host = opts.host ?? SERVER;
    const timeoutMs = opts.timeoutMs ?? 15_000;
    let sock: net.Socket | tls.TLSSocket = await openSocket(port, opts, host, timeoutMs);
    let reader = new ReplyReader(smtpReplyEnd);
    sock.setEncoding("utf8");
    sock.on("data", (d: string) => reader.feed(d));
    const send = async (line: string) => {
        sock.write(`${line}\r\n`);
        return reader.next(timeoutMs);
    };
    try {
        const greeting = await reader.next(timeoutMs);
        const replies: SmtpReply[] = [];
        let tlsProtocol = opts.implicitTls ? ((sock as tls.TLSSocket).getProtocol() ?? undefined) : undefined;
        let peerFingerprint = opts.implicitTls
            ? (sock as tls.TLSSocket).getPeerCertificate().fingerprint256
            : undefined;
        if (opts.starttls) {
            replies.push(await send("EHLO client.sink.test"));
            const r = await send("STARTTLS");
            replies.push(r);
            if (r.code !== 220) return { greeting, replies };
            sock = await upgrade(sock, opts);
            tlsProtocol = (sock as tls.TLSSocket).getProtocol() ?? undefined;
            peerFingerprint = (sock as tls.TLSSocket).getPeerCertificate().fingerprint256;
            reader = new ReplyReader(smtpReplyEnd);
            sock.setEncoding("utf8");
            sock.on("data", (d: string) => reader.feed(d));
        }
        for (const c of commands) {
            const r = await send(c);
            replies.push(r);
            if (r.code >= 400 && !opts.keepGoing) break;
        }
        return { greeting, replies, tlsProtocol, peerFingerprint };
    } finally {
        close(sock, "QUIT");
    }
}

export interface SendOptions {
    port: 25 | 465 | 587;
    from: string;
    to: string[];
    subject?: string;
    text?: string;
    /** A complete RFC 5322 message instead of subject/text. */
    raw?: string;
    auth?: { user: string; pass: string };
    localAddress?: string;
    headers?: Record<string, string>;
}

/** A complete RFC 5322 message, with the headers a real client writes (Message-ID from the subject). */
export function rawMessage(o: {
    from: string;
    to: string;
    subject: string;
    body: string;
    extraHeaders?: string[];
}): string {
    return [
        ...(o.extraHeaders ?? []),
        `From: <${o.from}>`,
        `To: <${o.to}>`,
        `Subject: ${o.subject}`,
        `Message-ID: <${o.subject}@client.sink.test>`,
        `Date: ${new Date().toUTCString()}`,
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "",
        o.body,
    ].join("\r\n");
}

/** Send one message with nodemailer; resolves with the server's final reply, rejects on any refusal. */
export async function sendMail(o: SendOptions): Promise<{ response: string; messageId: string }> {
    const transport = nodemailer.createTransport({
        host: SERVER,
        port: o.port,
        secure: o.port === 465,
        requireTLS: o.port === 587,
        ignoreTLS: false,
        name: "client.sink.test",
        localAddress: o.localAddress,
        auth: o.auth,
        tls: LAB_TLS,
        connectionTimeout: 15_000,
        greetingTimeout: 15_000,
        socketTimeout: 30_000,
    });
    try {
        const info = await transport.sendMail({
            envelope: { from: o.from, to: o.to },
            ...(o.raw !== undefined
                ? { raw: o.raw }
                : {
                      from: o.from,
                      to: o.to,
                      subject: o.subject ?? "mailstack lab",
                      text: o.text ?? "Hello from the mailstack lab.\n",
                      headers: o.headers,
                  }),
        });
        return { response: info.response, messageId: info.messageId };
    } finally {
        transport.close();
    }
}

export interface FetchedMessage {
    uid: number;
    subject?: string;
    messageId?: string;
    source: string;
}

/** An IMAPS (993) login with imapflow, for `use`; always logged out after. */
async function withImap<T>(user: string, pass: string, port: number, use: (c: ImapFlow) => Promise<T>): Promise<T> {
    const client = new ImapFlow({
        host: SERVER,
        port,
        secure: true,
        auth: { user, pass },
        tls: LAB_TLS,
        logger: false,
    });
    await client.connect();
    try {
        return await use(client);
    } finally {
        await client.logout().catch(() => undefined);
    }
}

/** Log in over IMAPS (993) with imapflow and fetch a folder's messages (INBOX unless told; optionally matching a subject). */
export async function imapFetch(
    user: string,
    pass: string,
    o: { subject?: string; port?: number; mailbox?: string } = {},
): Promise<FetchedMessage[]> {
    return withImap(user, pass, o.port ?? 993, async (client) => {
        const lock = await client.getMailboxLock(o.mailbox ?? "INBOX");
        try {
            const out: FetchedMessage[] = [];
            const query = o.subject ? { subject: o.subject } : { all: true };
            const uids = await client.search(query, { uid: true });
            if (!uids || uids.length === 0) return out;
            for await (const m of client.fetch(uids, { uid: true, envelope: true, source: true }, { uid: true })) {
                out.push({
                    uid: m.uid,
                    subject: m.envelope?.subject,
                    messageId: m.envelope?.messageId,
                    source: m.source?.toString("utf8") ?? "",
                });
            }
            return out;
        } finally {
            lock.release();
        }
    });
}

/** Move the messages with this subject from one folder to another over IMAPS (the MOVE a mail client makes); how many moved. */
export async function imapMove(
    user: string,
    pass: string,
    o: { subject: string; from: string; to: string },
): Promise<number> {
    return withImap(user, pass, 993, async (client) => {
        const lock = await client.getMailboxLock(o.from);
        try {
            const uids = await client.search({ subject: o.subject }, { uid: true });
            if (!uids || uids.length === 0) return 0;
            await client.messageMove(uids, o.to, { uid: true });
            return uids.length;
        } finally {
            lock.release();
        }
    });
}

/** A raw POP3 session; returns every reply line block. Implicit TLS on 995 unless `plain`. */
export async function pop3Session(
    commands: string[],
    o: { port?: number; plain?: boolean; tlsOptions?: tls.ConnectionOptions } = {},
): Promise<string[]> {
    const port = o.port ?? 995;
    const sock: net.Socket = await new Promise((resolve, reject) => {
        const s = o.plain
            ? net.connect({ host: SERVER, port }, () => resolve(s))
            : tls.connect({ host: SERVER, port, ...LAB_TLS, ...o.tlsOptions }, () => resolve(s));
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
    // Multi-line answers (RETR, LIST without argument, CAPA, UIDL, TOP) end with "\r\n.\r\n".
    const readReply = async (multi: boolean): Promise<string> => {
        for (;;) {
            const end = buf.indexOf("\r\n");
            if (end >= 0) {
                const first = buf.slice(0, end);
                if (!multi || first.startsWith("-ERR")) {
                    buf = buf.slice(end + 2);
                    return first;
                }
                const term = buf.indexOf("\r\n.\r\n");
                if (term >= 0) {
                    const reply = buf.slice(0, term);
                    buf = buf.slice(term + 5);
                    return reply;
                }
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
            out.push(await readReply(/^(RETR|TOP|CAPA|UIDL$|LIST$)/i.test(c)));
        }
        return out;
    } finally {
        sock.write("QUIT\r\n");
        sock.end();
        setTimeout(() => sock.destroy(), 1000).unref();
    }
}

/** POP3S: log in, STAT, RETR the last message; returns the message text (or throws the -ERR). */
export async function pop3Retrieve(user: string, pass: string): Promise<{ count: number; last?: string }> {
    const [, u, p, stat] = await pop3Session([`USER ${user}`, `PASS ${pass}`, "STAT"]);
    if (!u.startsWith("+OK") || !p.startsWith("+OK")) throw new Error(`POP3 login refused: ${p}`);
    const count = Number(stat.split(" ")[1] ?? 0);
    if (count === 0) return { count };
    const r = await pop3Session([`USER ${user}`, `PASS ${pass}`, `RETR ${count}`]);
    return { count, last: r[3].replace(/^\+OK[^\r\n]*\r\n/, "").replace(/^\.\./gm, ".") };
}

/** What reached the lab's sink (the relay at 198.51.100.7:587). */
export function sinkMessages() {
    return readSink(SINK_DIR);
}

/** Wait until `predicate` holds (mail delivery is asynchronous); returns its last truthy value. */
export async function eventually<T>(
    fn: () => T | Promise<T>,
    timeoutMs = 20_000,
    everyMs = 300,
): Promise<NonNullable<T>> {
    const start = Date.now();
    let last: unknown;
    for (;;) {
        try {
            const v = await fn();
            if (v) return v as NonNullable<T>;
        } catch (err) {
            last = err;
        }
        if (Date.now() - start > timeoutMs)
            throw new Error(`not within ${timeoutMs / 1000} s${last ? `: ${(last as Error).message}` : ""}`);
        await new Promise((r) => setTimeout(r, everyMs));
    }
}

/**
 * An implicit-TLS handshake only (465, 993, 995): resolves with the negotiated protocol and
 * the SHA-256 fingerprint of the server's certificate, rejects when the handshake (or, with
 * `rejectUnauthorized`, the verification) fails.
 */
export async function tlsPeer(
    port: number,
    tlsOptions: tls.ConnectionOptions = {},
    host = SERVER,
): Promise<{ protocol: string; fingerprint: string }> {
    return new Promise((resolve, reject) => {
        const s = tls.connect({ host, port, ...LAB_TLS, ...tlsOptions }, () => {
            const r = { protocol: s.getProtocol() ?? "unknown", fingerprint: s.getPeerCertificate().fingerprint256 };
            s.end();
            resolve(r);
        });
        s.once("error", reject);
        s.setTimeout(15_000, () => s.destroy(new Error("TLS handshake timeout")));
    });
}

/** The negotiated protocol of an implicit-TLS handshake; for TLS version checks. */
export async function tlsHandshake(
    port: number,
    tlsOptions: tls.ConnectionOptions = {},
    host = SERVER,
): Promise<string> {
    return (await tlsPeer(port, tlsOptions, host)).protocol;
}

/** AUTH PLAIN's initial response for user/password. */
export function authPlain(user: string, pass: string): string {
    return `AUTH PLAIN ${Buffer.from(`\0${user}\0${pass}`, "utf8").toString("base64")}`;
}

/** A bare TCP connect: "open" when something listens, "refused" when nothing does. */
/**
 * Whether `port` takes a TCP connection: "open", "refused" (nothing listens: a RST), or
 * "dropped" (no answer within `timeoutMs`: a firewall such as the cloud's drops it).
 */
export async function tcpProbe(
    port: number,
    host = SERVER,
    localAddress?: string,
    timeoutMs = 10_000,
): Promise<"open" | "refused" | "dropped"> {
    return new Promise((resolve, reject) => {
        const s = net.connect({ host, port, localAddress }, () => {
            s.destroy();
            resolve("open");
        });
        s.once("error", (err: NodeJS.ErrnoException) =>
            err.code === "ECONNREFUSED" ? resolve("refused") : reject(err),
        );
        s.setTimeout(timeoutMs, () => {
            s.destroy();
            resolve("dropped");
        });
    });
}

export interface BurstOptions {
    port: 25 | 587;
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
}

export interface BurstResult {
    accepted: number;
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
    const refused: string[] = [];
    let accepted = 0;
    let next = 0;
    let lastAcceptedAt = 0;
    const worker = async () => {
        while (next < o.count) {
            const first = next;
            const n = Math.min(per, o.count - first);
            next += n;
            const login = o.auth
                ? ["EHLO client.sink.test", authPlain(o.auth.user, o.auth.pass)]
                : ["EHLO client.sink.test"];
            const messages = Array.from({ length: n }, (_, k) => first + k).flatMap((i) => [
                `MAIL FROM:<${o.from}>`,
                `RCPT TO:<${o.to(i)}>`,
                "DATA",
                burstMessage(o, i),
            ]);
            try {
                const { replies } = await smtpDialog(o.port, [...login, ...messages], {
                    starttls: o.auth !== undefined,
                    timeoutMs: 60_000,
                });
                const offset = (o.auth ? 2 : 0) + login.length;
                for (let k = 0; k < n; k++) {
                    const end = replies[offset + 4 * k + 3];
                    if (end?.code === 250) {
                        accepted += 1;
                        lastAcceptedAt = Date.now();
                    } else {
                        const last = replies.at(-1);
                        refused.push(last ? `${last.code} ${last.lines.join(" ")}` : "no reply");
                    }
                }
            } catch (err) {
                for (let k = 0; k < n; k++) refused.push((err as Error).message);
            }
        }
    };
    const startedAt = Date.now();
    await Promise.all(Array.from({ length: o.sessions }, worker));
    const seconds = (lastAcceptedAt - startedAt) / 1000;
    return { accepted, refused, startedAt, lastAcceptedAt, perSecond: seconds > 0 ? accepted / seconds : 0 };
}
