// The connections the doctor makes from outside: TLS (implicit or after STARTTLS) and a few
// SMTP or ManageSieve commands, each ended by the check's AbortSignal. Never DATA, never a
// login: nothing is ever sent or changed.

import * as net from "node:net";
import * as tls from "node:tls";

export interface Endpoint {
    readonly address: string;
    readonly port: number;
    /** The name the certificate must be valid for (SNI and verification). */
    readonly hostname: string;
    /** Extra trusted CAs (PEM), e.g. the lab's ACME CA. */
    readonly ca?: readonly string[];
}

export interface TlsFacts {
    readonly protocol: string;
    /** Empty when the chain verifies and the name matches; else why not. */
    readonly verifyError: string;
    readonly validTo: Date;
    readonly subject: string;
}

export interface SmtpReply {
    readonly code: number;
    readonly lines: string[];
}

/** A ManageSieve response (RFC 5804): data lines, then OK, NO or BYE. */
export interface SieveReply {
    readonly status: "OK" | "NO" | "BYE";
    readonly lines: string[];
}

/** Where a protocol's reply ends (its last line), and the reply it makes; how it says goodbye. */
interface Dialect<R> {
    readonly end: (lines: readonly string[]) => R | undefined;
    readonly quit: string;
}

/** An SMTP reply ends with "250 ..." (a code and a space, or the code alone). */
export function smtpReplyEnd(lines: readonly string[]): SmtpReply | undefined {
    const last = lines[lines.length - 1];
    if (!/^\d{3}( |$)/.test(last)) return undefined;
    return { code: Number(last.slice(0, 3)), lines: lines.map((l) => l.slice(4)) };
}

/** A ManageSieve response ends with OK, NO or BYE (RFC 5804); the data lines come before it. */
export function sieveReplyEnd(lines: readonly string[]): SieveReply | undefined {
    const m = /^(OK|NO|BYE)\b/i.exec(lines[lines.length - 1]);
    return m ? { status: m[1].toUpperCase() as SieveReply["status"], lines: lines.slice(0, -1) } : undefined;
}

const SMTP: Dialect<SmtpReply> = { end: smtpReplyEnd, quit: "QUIT" };
const MANAGESIEVE: Dialect<SieveReply> = { end: sieveReplyEnd, quit: "LOGOUT" };

/** A line-based conversation (SMTP, ManageSieve), reply by reply. */
export class Session<R> {
    private buffer = "";
    private waiting?: { resolve: (r: R) => void; reject: (e: Error) => void };
    private closed?: Error;

    constructor(
        private socket: net.Socket,
        signal: AbortSignal,
        private readonly dialect: Dialect<R>,
    ) {
        signal.addEventListener("abort", () => socket.destroy(new Error("time limit")), { once: true });
        this.attach(socket);
    }

    private attach(socket: net.Socket): void {
        this.socket = socket;
        socket.setEncoding("utf8");
        socket.on("data", (d: string) => {
            this.buffer += d;
            this.deliver();
        });
        const end = (e?: Error) => {
            this.closed ??= e ?? new Error("connection closed");
            this.waiting?.reject(this.closed);
            this.waiting = undefined;
        };
        socket.on("error", end);
        socket.on("close", () => end());
    }

    private deliver(): void {
        if (!this.waiting) return;
        const lines = this.buffer.split("\r\n");
        // The last element is an incomplete line (or "" after a full one).
        for (let i = 0; i < lines.length - 1; i++) {
            const reply = this.dialect.end(lines.slice(0, i + 1));
            if (reply === undefined) continue;
            this.buffer = lines.slice(i + 1).join("\r\n");
            const w = this.waiting;
            this.waiting = undefined;
            w.resolve(reply);
            return;
        }
    }

    /** Send a command (or nothing, for the greeting) and read the reply. */
    reply(command?: string): Promise<R> {
        if (this.closed) return Promise.reject(this.closed);
        const p = new Promise<R>((resolve, reject) => {
            this.waiting = { resolve, reject };
        });
        if (command !== undefined) this.socket.write(`${command}\r\n`);
        this.deliver();
        return p;
    }

    /** STARTTLS's handshake on this connection. */
    async startTls(endpoint: Endpoint, options: tls.ConnectionOptions = {}): Promise<TlsFacts> {
        const plain = this.socket;
        plain.removeAllListeners("data");
        plain.removeAllListeners("error");
        plain.removeAllListeners("close");
        const secure = await handshake({ ...tlsOptions(endpoint), ...options, socket: plain });
        this.buffer = "";
        this.closed = undefined;
        this.attach(secure);
        return tlsFacts(secure);
    }

    close(): void {
        this.socket.end(`${this.dialect.quit}\r\n`);
        this.socket.destroy();
    }
}

function tlsOptions(e: Endpoint): tls.ConnectionOptions {
    return {
        servername: e.hostname,
        // Verified below and reported, instead of a refused connection with no details.
        rejectUnauthorized: false,
        ...(e.ca?.length ? { ca: [...tls.rootCertificates, ...e.ca] } : {}),
    };
}

function handshake(options: tls.ConnectionOptions): Promise<tls.TLSSocket> {
    return new Promise((resolve, reject) => {
        const s = tls.connect(options, () => resolve(s));
        s.once("error", reject);
    });
}

function tlsFacts(s: tls.TLSSocket): TlsFacts {
    const cert = s.getPeerCertificate();
    const name = s.servername || "";
    const identity = cert.subject ? tls.checkServerIdentity(name, cert) : new Error("no certificate");
    const verifyError = !s.authorized ? String(s.authorizationError) : identity ? identity.message : "";
    return {
        protocol: s.getProtocol() ?? "",
        verifyError,
        validTo: new Date(cert.valid_to),
        subject: [cert.subject?.CN ?? ""].flat().join(", "),
    };
}

/** A TCP connection, or the reason there is none (refused, unreachable, time limit). */
export function connect(address: string, port: number, signal: AbortSignal): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
        const s = net.connect({ host: address, port });
        const abort = () => {
            s.destroy();
            reject(new Error(`no answer from ${address} port ${port} within the time limit`));
        };
        signal.addEventListener("abort", abort, { once: true });
        s.once("connect", () => {
            signal.removeEventListener("abort", abort);
            resolve(s);
        });
        s.once("error", (e: NodeJS.ErrnoException) => {
            signal.removeEventListener("abort", abort);
            reject(new Error(connectError(address, port, e)));
        });
    });
}

function connectError(address: string, port: number, e: NodeJS.ErrnoException): string {
    if (e.code === "ECONNREFUSED") return `${address} port ${port} refused the connection (nothing listening)`;
    if (e.code === "ENETUNREACH" || e.code === "EHOSTUNREACH")
        return `${address} is unreachable from here (${e.code}: no route to that network)`;
    return `${address} port ${port}: ${e.code ?? e.message}`;
}

/** Implicit TLS from the first byte (465, 993, 995). */
export async function implicitTls(
    e: Endpoint,
    signal: AbortSignal,
    options: tls.ConnectionOptions = {},
): Promise<TlsFacts> {
    const socket = await connect(e.address, e.port, signal);
    const abort = () => socket.destroy();
    signal.addEventListener("abort", abort, { once: true });
    try {
        return tlsFacts(await handshake({ ...tlsOptions(e), ...options, socket }));
    } finally {
        signal.removeEventListener("abort", abort);
        socket.destroy();
    }
}

export type SmtpSession = Session<SmtpReply>;
export type SieveSession = Session<SieveReply>;

/** An SMTP session after the greeting; the caller closes it. */
export async function smtpSession(e: Endpoint, signal: AbortSignal): Promise<SmtpSession> {
    const session = new Session(await connect(e.address, e.port, signal), signal, SMTP);
    const greeting = await session.reply();
    if (greeting.code !== 220) {
        session.close();
        throw new Error(`port ${e.port} greeted with ${greeting.code} ${greeting.lines.join(" ")}`);
    }
    return session;
}

/** A ManageSieve session and its greeting (the capabilities); the caller closes it. */
export async function sieveSession(
    e: Endpoint,
    signal: AbortSignal,
): Promise<{ session: SieveSession; capabilities: Record<string, string> }> {
    const session = new Session(await connect(e.address, e.port, signal), signal, MANAGESIEVE);
    const greeting = await session.reply();
    if (greeting.status !== "OK") {
        session.close();
        throw new Error(`port ${e.port} greeted with ${greeting.status} ${greeting.lines.join(" ")}`);
    }
    return { session, capabilities: sieveCapabilities(greeting.lines) };
}

/** ManageSieve capabilities by name, upper case: `"SASL" "PLAIN LOGIN"` is SASL -> "PLAIN LOGIN". */
export function sieveCapabilities(lines: readonly string[]): Record<string, string> {
    return Object.fromEntries(
        lines.flatMap((l) => {
            const m = /^"([^"]*)"(?:\s+"([^"]*)")?\s*$/.exec(l);
            return m ? [[m[1].toUpperCase(), m[2] ?? ""]] : [];
        }),
    );
}

/** The EHLO keywords (STARTTLS, AUTH, SIZE, ...), upper case. */
export function ehloKeywords(lines: readonly string[]): string[] {
    return lines.slice(1).map((l) => l.split(" ")[0].toUpperCase());
}
