// The one table of what the server offers on which port. The firewall, the SRV records, the
// client settings and the lab's TLS and certificate checks are all read off it.

/** How TLS starts on a port: from the first byte (RFC 8314), or after STARTTLS. */
export type TlsMode = "implicit" | "starttls";

export interface MailService {
    readonly port: number;
    /** Short name, as in /etc/services. */
    readonly name: string;
    /** Why the port is open (the firewall rule's description). */
    readonly purpose: string;
    /** TLS on this port, when it carries mail or logins. */
    readonly tls?: TlsMode;
    /** What is spoken inside (and, with STARTTLS, before) TLS: how a probe talks to the port. */
    readonly protocol?: "smtp" | "imap" | "pop3" | "managesieve" | "http";
    /** SRV service label that announces it, e.g. `_imaps` (RFC 6186) or `_sieve` (RFC 5804). */
    readonly srv?: string;
    /** What a mail client uses it for. */
    readonly client?: "imap" | "pop3" | "smtp";
    /** The SRV record's comment. */
    readonly srvPurpose?: string;
}

/** Inbound TCP services, open to the world. */
export const SERVICES = [
    { port: 25, name: "smtp", purpose: "SMTP: mail from other servers", tls: "starttls", protocol: "smtp" },
    {
        port: 465,
        name: "submissions",
        purpose: "submissions: clients sending with implicit TLS",
        tls: "implicit",
        protocol: "smtp",
        srv: "_submissions",
        client: "smtp",
        srvPurpose: "mail submission with implicit TLS",
    },
    {
        port: 587,
        name: "submission",
        purpose: "submission: clients sending with STARTTLS",
        tls: "starttls",
        protocol: "smtp",
        srv: "_submission",
        client: "smtp",
        srvPurpose: "mail submission with STARTTLS",
    },
    {
        port: 993,
        name: "imaps",
        purpose: "IMAPS",
        tls: "implicit",
        protocol: "imap",
        srv: "_imaps",
        client: "imap",
        srvPurpose: "IMAP with TLS",
    },
    {
        port: 995,
        name: "pop3s",
        purpose: "POP3S",
        tls: "implicit",
        protocol: "pop3",
        srv: "_pop3s",
        client: "pop3",
        srvPurpose: "POP3 with TLS",
    },
    {
        port: 4190,
        name: "sieve",
        purpose: "ManageSieve: users' mail filters and vacation replies",
        tls: "starttls",
        protocol: "managesieve",
        srv: "_sieve",
        srvPurpose: "ManageSieve (RFC 5804) with STARTTLS",
    },
    { port: 80, name: "http", purpose: "HTTP: ACME HTTP-01 challenges" },
    { port: 443, name: "https", purpose: "HTTPS: MTA-STS and client autoconfig", tls: "implicit", protocol: "http" },
] as const satisfies readonly MailService[];

/** Services that must not be offered at all: clients use the TLS ones (SRV target "."). */
export const REFUSED_SERVICES = [
    { port: 143, name: "imap", srv: "_imap", purpose: "plain IMAP is not offered" },
    { port: 110, name: "pop3", srv: "_pop3", purpose: "plain POP3 is not offered" },
] as const;

/** The names every mail domain gets under it for the HTTPS services, each pointing at the mail host. */
export const CLIENT_HOST_LABELS = ["autoconfig", "autodiscover", "mta-sts"] as const;

/** Let's Encrypt's limit of names in one certificate (the host's certificates, render/host/client-config.ts). */
export const CERTIFICATE_NAME_LIMIT = 100;

/** SSH: only from the deployers' CIDRs. */
export const SSH_PORT = 22;

/** The ports that present the host's certificate, with how TLS starts on each. */
export const TLS_SERVICES = SERVICES.filter(
    (s): s is Extract<(typeof SERVICES)[number], { tls: TlsMode }> => "tls" in s,
);

/** The ports mail clients are told about. */
export const CLIENT_SERVICES = SERVICES.filter(
    (s): s is Extract<(typeof SERVICES)[number], { client: string }> => "client" in s,
);

/** The services announced by an SRV record under every domain. */
export const SRV_SERVICES = SERVICES.filter(
    (s): s is Extract<(typeof SERVICES)[number], { srv: string }> => "srv" in s,
);

/** Each service's port by its name, as literal types: `PortOf["smtp"]` is 25. */
export type PortOf = { [S in (typeof SERVICES)[number] as S["name"]]: S["port"] };

/** The port of a service by name: `port("submission")` is 587 (and typed so). */
export function port<N extends keyof PortOf>(name: N): PortOf[N] {
    return SERVICES.find((s) => s.name === name)!.port as PortOf[N];
}

/** A service's name in the table: `"smtp"`, `"imaps"`, ... */
export type ServiceName = keyof PortOf;
