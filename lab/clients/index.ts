// Mail clients for the checks, talking to the lab server from msl-out (the checks' process
// runs there). Only the lab server's documentation addresses are ever contacted. The
// protocols are wire/'s; this file gives them the lab's server, certificate check and names.
//
//   smtpDialog(port, commands, opts)    raw SMTP conversation: every reply, for protocol checks
//   sieveDialog(port, commands, opts)   raw ManageSieve conversation on 4190
//   sendMail(opts)                      nodemailer: submission (587 STARTTLS, 465 TLS) or port 25
//   imapFetch(user, password, opts)     imapflow over 993: messages of INBOX
//   pop3Retrieve(user, password, opts)  POP3S on 995: STAT + RETR
//   sinkMessages()                      what reached the lab's sink (lab/world/sink.ts)
//   (bursts of many messages over parallel sessions: lab/clients/burst.ts)

import * as path from "node:path";
import type * as tls from "node:tls";
import nodemailer from "nodemailer";
import type { ImapFlow } from "imapflow";
import { port, type PortOf } from "../../model/services";
import * as imap from "../../wire/imap";
import * as pop3 from "../../wire/pop3";
import type { DialogTarget } from "../../wire/session";
import * as sieve from "../../wire/sieve";
import * as smtp from "../../wire/smtp";
import * as wireTcp from "../../wire/tcp";
import * as wireTls from "../../wire/tls";
import { NET } from "../harness/net";
import { STATE_DIR } from "../harness/processes";
import { sinkMessages as readSink } from "../world/sink";

export { authPlain, type SmtpReply } from "../../wire/smtp";
export { sieveAuthPlain, sieveCapabilities, sievePutScript, type SieveReply } from "../../wire/sieve";
export type { FetchedMessage } from "../../wire/imap";

export const SERVER = NET.server4;
export const SINK_DIR = path.join(STATE_DIR, "sink");

/** The lab server presents a self-signed certificate until ACME: never verify, always lab-only. */
const LAB_TLS = { rejectUnauthorized: false, servername: "mail.example.org" } as const;
/** The name the lab's clients give in EHLO and Message-ID. */
const CLIENT_NAME = "client.sink.test";

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

/** The lab server's `port`, with the lab's TLS options under the dialog's own. */
function target(p: number, opts: DialogOptions): DialogTarget {
    return {
        host: opts.host ?? SERVER,
        port: p,
        localAddress: opts.localAddress,
        implicitTls: opts.implicitTls,
        tlsOptions: { ...LAB_TLS, ...opts.tlsOptions },
        timeoutMs: opts.timeoutMs ?? 15_000,
    };
}

/** wire's sieveDialog against the lab server (STARTTLS with the lab's TLS options). */
export function sieveDialog(p: number, commands: string[], opts: DialogOptions & { keepGoing?: boolean } = {}) {
    return sieve.sieveDialog(target(p, opts), commands, opts);
}

/** wire's smtpDialog against the lab server; the EHLO before STARTTLS is the lab client's. */
export function smtpDialog(p: number, commands: string[], opts: DialogOptions & { keepGoing?: boolean } = {}) {
    return smtp.smtpDialog(target(p, opts), commands, { ...opts, ehloName: CLIENT_NAME });
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

export interface SendOptions {
    port: PortOf["smtp" | "submissions" | "submission"];
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
        `Message-ID: <${o.subject}@${CLIENT_NAME}>`,
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
        secure: o.port === port("submissions"),
        requireTLS: o.port === port("submission"),
        ignoreTLS: false,
        name: CLIENT_NAME,
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

/** Log in over IMAPS (993) with imapflow and fetch a folder's messages (INBOX unless told; optionally matching a subject). */
export function imapFetch(user: string, pass: string, o: { subject?: string; port?: number; mailbox?: string } = {}) {
    return imap.imapFetch({ host: SERVER, port: o.port ?? port("imaps"), tlsOptions: LAB_TLS }, user, pass, o);
}

/** An IMAPS login (993) with imapflow for `use`: what a mail client does with folders and flags. */
export function withImap<T>(user: string, pass: string, use: (client: ImapFlow) => Promise<T>): Promise<T> {
    return imap.withImap({ host: SERVER, port: port("imaps"), tlsOptions: LAB_TLS }, user, pass, use);
}

/** UID SEARCH BODY (or TEXT) over IMAPS (993): the UIDs found, in order. */
export function imapSearch(user: string, pass: string, o: { body?: string; text?: string; mailbox?: string }) {
    return imap.imapSearch({ host: SERVER, port: port("imaps"), tlsOptions: LAB_TLS }, user, pass, o);
}

/** Every folder of a mailbox over IMAPS, with each message's subject, flags and INTERNALDATE. */
export function imapFolders(user: string, pass: string) {
    return imap.imapFolders({ host: SERVER, port: port("imaps"), tlsOptions: LAB_TLS }, user, pass);
}

/** Move the messages with this subject from one folder to another over IMAPS; how many moved. */
export function imapMove(user: string, pass: string, o: { subject: string; from: string; to: string }) {
    return imap.imapMove({ host: SERVER, port: port("imaps"), tlsOptions: LAB_TLS }, user, pass, o);
}

/** A raw POP3 session; returns every reply line block. Implicit TLS on 995 unless `plain`. */
export function pop3Session(
    commands: string[],
    o: { port?: number; plain?: boolean; tlsOptions?: tls.ConnectionOptions } = {},
): Promise<string[]> {
    const t = {
        host: SERVER,
        port: o.port ?? port("pop3s"),
        plain: o.plain,
        tlsOptions: { ...LAB_TLS, ...o.tlsOptions },
    };
    return pop3.pop3Session(t, commands);
}

/** POP3S: log in, STAT, RETR the last message; returns the message text (or throws the -ERR). */
export function pop3Retrieve(user: string, pass: string): Promise<{ count: number; last?: string }> {
    return pop3.pop3Retrieve({ host: SERVER, port: port("pop3s"), tlsOptions: LAB_TLS }, user, pass);
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
 * An implicit-TLS handshake only (465, 993, 995) with the lab server: the negotiated
 * protocol and the certificate's SHA-256 fingerprint (wire/tls.ts).
 */
export function tlsPeer(
    p: number,
    tlsOptions: tls.ConnectionOptions = {},
    host = SERVER,
): Promise<{ protocol: string; fingerprint: string }> {
    return wireTls.tlsPeer(host, p, { ...LAB_TLS, ...tlsOptions });
}

/** The negotiated protocol of an implicit-TLS handshake; for TLS version checks. */
export async function tlsHandshake(p: number, tlsOptions: tls.ConnectionOptions = {}, host = SERVER): Promise<string> {
    return (await tlsPeer(p, tlsOptions, host)).protocol;
}

/**
 * Whether `port` of the lab server takes a TCP connection: "open", "refused" or "dropped"
 * (wire/tcp.ts).
 */
export function tcpProbe(p: number, host: string = SERVER, localAddress?: string, timeoutMs = 10_000) {
    return wireTcp.tcpProbe(host, p, localAddress, timeoutMs);
}
