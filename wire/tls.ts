// TLS: a handshake (implicit, or on a connected socket after STARTTLS), and what it showed.

import * as tls from "node:tls";

/** What a handshake showed of the server. */
export interface TlsFacts {
    readonly protocol: string;
    /** Empty when the chain verifies and the name matches; else why not. */
    readonly verifyError: string;
    readonly validTo: Date;
    readonly subject: string;
}

/** A TLS handshake (on `options.socket`, or a new connection); rejects when it fails. */
export function handshake(options: tls.ConnectionOptions): Promise<tls.TLSSocket> {
    return new Promise((resolve, reject) => {
        const s = tls.connect(options, () => resolve(s));
        s.once("error", reject);
    });
}

/** The negotiated protocol, and whether the certificate verifies for the name asked (SNI). */
export function tlsFacts(s: tls.TLSSocket): TlsFacts {
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

/** The negotiated protocol and the SHA-256 fingerprint of the server's certificate. */
export function peer(s: tls.TLSSocket): { protocol?: string; fingerprint: string } {
    return { protocol: s.getProtocol() ?? undefined, fingerprint: s.getPeerCertificate().fingerprint256 };
}

/**
 * An implicit-TLS handshake only (465, 993, 995): resolves with the negotiated protocol and
 * the certificate's fingerprint, rejects when the handshake (or, with `rejectUnauthorized`,
 * the verification) fails.
 */
export function tlsPeer(
    host: string,
    port: number,
    tlsOptions: tls.ConnectionOptions = {},
): Promise<{ protocol: string; fingerprint: string }> {
    return new Promise((resolve, reject) => {
        const s = tls.connect({ host, port, ...tlsOptions }, () => {
            const r = { protocol: s.getProtocol() ?? "unknown", fingerprint: s.getPeerCertificate().fingerprint256 };
            s.end();
            resolve(r);
        });
        s.once("error", reject);
        s.setTimeout(15_000, () => s.destroy(new Error("TLS handshake timeout")));
    });
}
