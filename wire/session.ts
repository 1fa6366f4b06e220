// A line-based conversation (SMTP, ManageSieve), reply by reply: the framing of the bytes
// into lines (with ManageSieve's literals, `{n}` and then n octets), the cutting of the lines
// into replies where a protocol says a reply ends, and the socket it runs on (STARTTLS
// included). Used by the doctor, the lab and the bench; it knows no server of ours.

import * as net from "node:net";
import * as tls from "node:tls";
import { handshake } from "./tls";

/** Where a protocol's reply ends (its last line), and the reply it makes; how it says goodbye. */
export interface Dialect<R> {
    readonly end: (lines: readonly string[]) => R | undefined;
    readonly quit: string;
    /**
     * A line ending in `{n}` (or `{n+}`) announces a literal: the next n octets belong to
     * the line whatever they hold (CRLF and lines that look like a status included), and
     * the line goes on after them (RFC 5804 4, as IMAP's RFC 9051 4.3).
     */
    readonly literals?: boolean;
}

const CRLF = Buffer.from("\r\n");

/** Bytes in, replies out: the framing alone, no socket (so chunks can be fed as a network cuts them). */
export class ReplyReader<R> {
    private buffer = Buffer.alloc(0);
    /** The parts read so far of a line that carries a literal. */
    private line: Buffer[] = [];
    /** Octets of a literal still to come. */
    private literal = 0;
    private lines: string[] = [];

    constructor(private readonly dialect: Pick<Dialect<R>, "end" | "literals">) {}

    /** Feed what the socket gave; returns the replies it completed, in order. */
    feed(chunk: Buffer | string): R[] {
        this.buffer = Buffer.concat([this.buffer, typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk]);
        const replies: R[] = [];
        for (;;) {
            if (this.literal > 0) {
                if (this.buffer.length < this.literal) break;
                this.line.push(this.buffer.subarray(0, this.literal));
                this.buffer = this.buffer.subarray(this.literal);
                this.literal = 0;
            }
            const i = this.buffer.indexOf(CRLF);
            if (i < 0) break;
            const part = this.buffer.subarray(0, i);
            this.buffer = this.buffer.subarray(i + 2);
            const announced = this.dialect.literals ? /\{(\d+)\+?\}$/.exec(part.toString("latin1")) : null;
            if (announced) {
                this.line.push(part, CRLF);
                this.literal = Number(announced[1]);
                continue;
            }
            // Decoded only when whole: a UTF-8 character cut between two chunks stays whole.
            this.lines.push(Buffer.concat([...this.line, part]).toString("utf8"));
            this.line = [];
            const reply = this.dialect.end(this.lines);
            if (reply === undefined) continue;
            this.lines = [];
            replies.push(reply);
        }
        return replies;
    }
}

/** A conversation on a connected socket; one command at a time. */
export class Session<R> {
    private reader: ReplyReader<R>;
    private ready: R[] = [];
    private waiting?: { resolve: (r: R) => void; reject: (e: Error) => void };
    private closed?: Error;

    /**
     * `signal`: destroys the connection (the doctor's time limit of a check); `timeoutMs`: how
     * long each reply may take (the lab's dialogs).
     */
    constructor(
        private socket: net.Socket,
        private readonly dialect: Dialect<R>,
        private readonly limits: { readonly signal?: AbortSignal; readonly timeoutMs?: number } = {},
    ) {
        this.reader = new ReplyReader(dialect);
        limits.signal?.addEventListener("abort", () => socket.destroy(new Error("time limit")), { once: true });
        this.attach(socket);
    }

    /** The socket the conversation runs on now (the TLS one after STARTTLS). */
    get current(): net.Socket {
        return this.socket;
    }

    private attach(socket: net.Socket): void {
        this.socket = socket;
        socket.on("data", (d: Buffer) => {
            this.ready.push(...this.reader.feed(d));
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
        if (!this.waiting || this.ready.length === 0) return;
        const w = this.waiting;
        this.waiting = undefined;
        w.resolve(this.ready.shift()!);
    }

    /** Send a command (or nothing, for the greeting) and read the reply. */
    reply(command?: string): Promise<R> {
        if (this.closed && (command !== undefined || this.ready.length === 0)) return Promise.reject(this.closed);
        if (command !== undefined) this.socket.write(`${command}\r\n`);
        const p = new Promise<R>((resolve, reject) => {
            const timer =
                this.limits.timeoutMs === undefined
                    ? undefined
                    : setTimeout(() => {
                          this.waiting = undefined;
                          reject(new Error("reply timeout"));
                      }, this.limits.timeoutMs);
            const stop = () => clearTimeout(timer);
            this.waiting = {
                resolve: (r) => (stop(), resolve(r)),
                reject: (e) => (stop(), reject(e)),
            };
        });
        this.deliver();
        return p;
    }

    /** STARTTLS's handshake on this connection (after the server said yes to it). */
    async startTls(options: tls.ConnectionOptions): Promise<tls.TLSSocket> {
        const plain = this.socket;
        plain.removeAllListeners("data");
        plain.removeAllListeners("error");
        plain.removeAllListeners("close");
        const secure = await handshake({ ...options, socket: plain });
        this.reader = new ReplyReader(this.dialect);
        this.ready = [];
        this.closed = undefined;
        this.attach(secure);
        return secure;
    }

    /** Say goodbye (QUIT, LOGOUT) and close; the socket is destroyed a second later at the latest. */
    close(): void {
        const sock = this.socket;
        try {
            sock.write(`${this.dialect.quit}\r\n`);
        } catch {
            /* closed */
        }
        sock.end();
        setTimeout(() => sock.destroy(), 1000).unref();
    }
}

/** Where a dialog connects, and how. */
export interface DialogTarget {
    readonly host: string;
    readonly port: number;
    /** The source address to connect from. */
    readonly localAddress?: string;
    /** TLS from the first byte (465, 993, 995). */
    readonly implicitTls?: boolean;
    /** The options of every TLS handshake (implicit or after STARTTLS). */
    readonly tlsOptions?: tls.ConnectionOptions;
    /** A time limit on the whole socket's idleness and on each reply. */
    readonly timeoutMs: number;
}

/** Connect, optionally TLS from the first byte; a time limit on the socket's idleness. */
export function openSocket(t: DialogTarget): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
        const s: net.Socket = t.implicitTls
            ? tls.connect(
                  {
                      host: t.host,
                      port: t.port,
                      localAddress: t.localAddress,
                      ...t.tlsOptions,
                  } as tls.ConnectionOptions,
                  () => resolve(s),
              )
            : net.connect({ host: t.host, port: t.port, localAddress: t.localAddress }, () => resolve(s));
        s.once("error", reject);
        s.setTimeout(t.timeoutMs, () => s.destroy(new Error(`connection to port ${t.port} timed out`)));
    });
}
