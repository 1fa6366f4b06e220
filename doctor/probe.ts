// The connections the doctor makes from outside: TLS (implicit or after STARTTLS) and a few
// SMTP or ManageSieve commands (the protocols are wire/'s), each ended by the check's
// AbortSignal. Never DATA, never a login: nothing is ever sent or changed.

import * as tls from "node:tls";
import { Session } from "../wire/session";
import { MANAGESIEVE, sieveCapabilities, type SieveReply } from "../wire/sieve";
import { SMTP, type SmtpReply } from "../wire/smtp";
import { connect } from "../wire/tcp";
import { handshake, tlsFacts, type TlsFacts } from "../wire/tls";

export interface Endpoint {
    readonly address: string;
    readonly port: number;
    /** The name the certificate must be valid for (SNI and verification). */
    readonly hostname: string;
    /** Extra trusted CAs (PEM), e.g. the lab's ACME CA. */
    readonly ca?: readonly string[];
}

function tlsOptions(e: Endpoint): tls.ConnectionOptions {
    return {
        servername: e.hostname,
        // Verified below and reported, instead of a refused connection with no details.
        rejectUnauthorized: false,
        ...(e.ca?.length ? { ca: [...tls.rootCertificates, ...e.ca] } : {}),
    };
}

/** STARTTLS's handshake on a session's connection (after the server said yes), and what it showed. */
export async function startTls<R>(
    session: Session<R>,
    e: Endpoint,
    options: tls.ConnectionOptions = {},
): Promise<TlsFacts> {
    return tlsFacts(await session.startTls({ ...tlsOptions(e), ...options }));
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
    const session = new Session(await connect(e.address, e.port, signal), SMTP, { signal });
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
    const session = new Session(await connect(e.address, e.port, signal), MANAGESIEVE, { signal });
    const greeting = await session.reply();
    if (greeting.status !== "OK") {
        session.close();
        throw new Error(`port ${e.port} greeted with ${greeting.status} ${greeting.lines.join(" ")}`);
    }
    return { session, capabilities: sieveCapabilities(greeting) };
}
