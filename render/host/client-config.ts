// What mail clients and sending servers fetch over HTTPS from the mail host: Thunderbird's
// autoconfig, Outlook's POX autodiscover and the MTA-STS policy (RFC 8461), and the names
// they are fetched from. The servers are read off the services table (model/services.ts);
// nginx serves the files (templates/nginx/default), the certificate step covers the names
// (scripts/issue-certificate.sh) and the DNS records point them at the host
// (dns-records.ts). These files are the same for every domain, so they are host-config;
// Apple's profiles, one per domain, come with mail-data (the step a new domain re-runs).

import { createHash } from "node:crypto";

import { CERTIFICATE_NAME_LIMIT, CLIENT_HOST_LABELS, CLIENT_SERVICES, port, type MailSpec } from "../../model";
import type { PruneRule } from "../plan/bundle";
import { renderTemplate } from "./template";
import type { HostFile } from "./types";

/** `autoconfig.<domain>`, `autodiscover.<domain>`, `mta-sts.<domain>`. */
export function clientHostNames(domain: string): string[] {
    return CLIENT_HOST_LABELS.map((label) => `${label}.${domain}`);
}

/**
 * Every name the host's certificates cover: the hostname first, then each domain's client
 * names, in the config's order of domains.
 */
export function certificateNames(spec: MailSpec): string[] {
    return hostCertificates(spec).flatMap((c) => c.names);
}

/** One certificate of the host: its certbot lineage (the `--cert-name`) and its names. */
export interface HostCertificate {
    readonly lineage: string;
    readonly names: readonly string[];
}

/**
 * The host's certificates. The first, named after the host, holds the hostname and the
 * client names of as many domains as fit the CA's limit of names (Let's Encrypt: 100, so
 * 33 domains); Postfix, Dovecot and nginx's own name use it. Each further 33 domains get one
 * more, `<hostname>-2`, `-3`, ..., only for nginx's client names. A new domain extends the
 * last certificate (one ACME order); only a removed or reordered domain moves the names of
 * the domains after it. Few certificates keep us far from Let's Encrypt's limits (300 orders
 * in 3 hours, 50 certificates per registered domain a week).
 */
export function hostCertificates(spec: MailSpec): HostCertificate[] {
    const perDomain = CLIENT_HOST_LABELS.length;
    const first = Math.floor((CERTIFICATE_NAME_LIMIT - 1) / perDomain);
    const later = Math.floor(CERTIFICATE_NAME_LIMIT / perDomain);
    const names = (from: number, to: number) => spec.domains.slice(from, to).flatMap((d) => clientHostNames(d.name));
    const out: HostCertificate[] = [{ lineage: spec.hostname, names: [spec.hostname, ...names(0, first)] }];
    for (let from = first, n = 2; from < spec.domains.length; from += later, n++)
        out.push({ lineage: `${spec.hostname}-${n}`, names: names(from, from + later) });
    return out;
}

/**
 * The certificate step's stdin (scripts/issue-certificate.sh): one certificate a line, its
 * lineage and then its names, the host's own first.
 */
export function renderCertificateRequests(spec: MailSpec): string {
    return hostCertificates(spec)
        .map((c) => {
            if (c.names.length > CERTIFICATE_NAME_LIMIT)
                throw new Error(`certificate ${c.lineage}: ${c.names.length} names exceed the CA's limit`);
            return `${[c.lineage, ...c.names].join(" ")}\n`;
        })
        .join("");
}

/** One week: long enough to protect between a sender's visits, short enough to recover from a mistake. */
export const MTA_STS_MAX_AGE_SECONDS = 7 * 24 * 3600;

/** The policy file (RFC 8461 3.2: key/value lines ending in CRLF). The same for every domain: its MX hosts. */
export function mtaStsPolicy(spec: MailSpec): string {
    const lines = [
        "version: STSv1",
        `mode: ${spec.mtaStsMode}`,
        `mx: ${spec.hostname}`,
        // The backup MX takes mail too: senders that enforce the policy must accept its name.
        ...(spec.secondaryMx ? [`mx: ${spec.secondaryMx.hostname}`] : []),
        `max_age: ${MTA_STS_MAX_AGE_SECONDS}`,
    ];
    return lines.map((l) => `${l}\r\n`).join("");
}

/**
 * The `id` of the `_mta-sts` TXT record: a digest of the policy text, so it changes exactly
 * when the policy does (RFC 8461 3.1: senders fetch the policy again when the id changes).
 */
export function mtaStsId(spec: MailSpec): string {
    return createHash("sha256").update(mtaStsPolicy(spec)).digest("hex").slice(0, 20);
}

/** The `_mta-sts.<domain>` TXT value. */
export function mtaStsRecordValue(spec: MailSpec): string {
    return `v=STSv1; id=${mtaStsId(spec)}`;
}

type ClientService = (typeof CLIENT_SERVICES)[number];

/** Thunderbird's names for the client protocols and TLS modes. */
function autoconfigServer(spec: MailSpec, s: ClientService): string {
    const element = s.client === "smtp" ? "outgoingServer" : "incomingServer";
    return [
        `    <${element} type="${s.client}">`,
        `      <hostname>${spec.hostname}</hostname>`,
        `      <port>${s.port}</port>`,
        `      <socketType>${s.tls === "implicit" ? "SSL" : "STARTTLS"}</socketType>`,
        "      <authentication>password-cleartext</authentication>",
        "      <username>%EMAILADDRESS%</username>",
        `    </${element}>`,
    ].join("\n");
}

/** config-v1.1.xml: IMAPS and POP3S in, submission out, in the services table's order. */
export function renderAutoconfig(spec: MailSpec): string {
    const of = (incoming: boolean) =>
        CLIENT_SERVICES.filter((s) => (s.client !== "smtp") === incoming)
            .map((s) => autoconfigServer(spec, s))
            .join("\n");
    return renderTemplate("clients/config-v1.1.xml", {
        hostname: spec.hostname,
        incomingServers: of(true),
        outgoingServers: of(false),
    });
}

/** One POX `<Protocol>`: Encryption SSL is implicit TLS, TLS is STARTTLS. */
function autodiscoverProtocol(spec: MailSpec, s: ClientService): string {
    return [
        "      <Protocol>",
        `        <Type>${s.client.toUpperCase()}</Type>`,
        `        <Server>${spec.hostname}</Server>`,
        `        <Port>${s.port}</Port>`,
        "        <DomainRequired>off</DomainRequired>",
        "        <SPA>off</SPA>",
        "        <SSL>on</SSL>",
        `        <Encryption>${s.tls === "implicit" ? "SSL" : "TLS"}</Encryption>`,
        "        <AuthRequired>on</AuthRequired>",
        ...(s.client === "smtp" ? ["        <UsePOPAuth>off</UsePOPAuth>", "        <SMTPLast>off</SMTPLast>"] : []),
        "      </Protocol>",
    ].join("\n");
}

/** autodiscover.xml: IMAP first (Outlook takes the first incoming protocol), then POP3, then SMTP. */
export function renderAutodiscover(spec: MailSpec): string {
    const rank = { imap: 0, pop3: 1, smtp: 2 } as const;
    const protocols = [...CLIENT_SERVICES]
        .sort((a, b) => rank[a.client] - rank[b.client])
        .map((s) => autodiscoverProtocol(spec, s))
        .join("\n");
    return renderTemplate("clients/autodiscover.xml", { protocols });
}

/** Where nginx finds each file (the roots of templates/nginx/default). */
export const CLIENT_FILE_PATHS = {
    autoconfig: "/var/www/mailstack/autoconfig/mail/config-v1.1.xml",
    autodiscover: "/var/www/mailstack/autodiscover/autodiscover/autodiscover.xml",
    mtaSts: "/var/www/mailstack/mta-sts/.well-known/mta-sts.txt",
    /** Apple's profiles, `<domain>.mobileconfig` (nginx: mailstack-autoconfig.conf). */
    appleProfiles: "/var/www/mailstack/autoconfig/apple",
} as const;

/** The URL of a domain's Apple configuration profile. */
export function appleProfileUrl(domain: string): string {
    return `https://autoconfig.${domain}/mailstack.mobileconfig`;
}

/** A UUID fixed by its name (the form of RFC 9562's version 8: a name's SHA-256, not random). */
function namedUuid(name: string): string {
    const b = createHash("sha256").update(name).digest().subarray(0, 16);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = b.toString("hex").toUpperCase();
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * A domain's configuration profile for Apple Mail (iOS, iPadOS, macOS): IMAP over implicit
 * TLS in, submission out (implicit TLS when the table has it: RFC 8314), both from the
 * services table. The identifiers are the domain's, reversed, so each domain's profile is
 * its own account on a device that has several.
 */
export function renderAppleProfile(spec: MailSpec, domain: string): string {
    const imap = CLIENT_SERVICES.find((s) => s.client === "imap" && s.tls === "implicit");
    const smtp = [...CLIENT_SERVICES]
        .filter((s) => s.client === "smtp")
        .sort((a, b) => Number(b.tls === "implicit") - Number(a.tls === "implicit"))[0];
    if (!imap || !smtp) throw new Error("the services table has no IMAPS or no submission port");
    const identifier = `${domain.split(".").reverse().join(".")}.mailstack`;
    // With mailstack:dav: calendars and contacts too. No principal URL (it holds the login):
    // the device asks the host's well-known URLs, which lead it to its own.
    const davPayloads = spec.dav
        ? renderTemplate("clients/dav-payloads.plist", {
              domain,
              hostname: spec.hostname,
              port: port("https"),
              identifier,
              caldavUuid: namedUuid(`mailstack caldav account ${spec.hostname} ${domain}`),
              carddavUuid: namedUuid(`mailstack carddav account ${spec.hostname} ${domain}`),
          }).trimEnd()
        : "";
    return renderTemplate("clients/mailstack.mobileconfig", {
        domain,
        hostname: spec.hostname,
        imapPort: imap.port,
        smtpPort: smtp.port,
        davPayloads,
        description: `Mail${spec.dav ? ", calendars and contacts" : ""} for ${domain} on ${spec.hostname} (IMAP and SMTP with TLS${spec.dav ? ", CalDAV and CardDAV over HTTPS" : ""}).`,
        identifier,
        profileUuid: namedUuid(`mailstack profile ${spec.hostname} ${domain}`),
        accountUuid: namedUuid(`mailstack mail account ${spec.hostname} ${domain}`),
    });
}

/** A file nginx serves: world-readable, read per request, so a change needs no reload. */
const servedFile = (path: string, content: string): HostFile => ({
    path,
    mode: "0644",
    owner: "root",
    group: "root",
    content,
    onChange: [],
});

/** The files nginx serves on 443 for every domain. */
export function renderClientFiles(spec: MailSpec): HostFile[] {
    return [
        servedFile(CLIENT_FILE_PATHS.autoconfig, renderAutoconfig(spec)),
        servedFile(CLIENT_FILE_PATHS.autodiscover, renderAutodiscover(spec)),
        servedFile(CLIENT_FILE_PATHS.mtaSts, mtaStsPolicy(spec)),
    ];
}

/**
 * Each domain's Apple profile, for the mail-data step: a new domain adds one, and the prune
 * rule removes the profile of a domain no longer configured (nginx reads them per request:
 * nothing to reload).
 */
export function renderAppleProfiles(spec: MailSpec): HostFile[] {
    return spec.domains.map((d) =>
        servedFile(`${CLIENT_FILE_PATHS.appleProfiles}/${d.name}.mobileconfig`, renderAppleProfile(spec, d.name)),
    );
}

export const APPLE_PROFILES_PRUNE: PruneRule = {
    dir: CLIENT_FILE_PATHS.appleProfiles,
    pattern: "*.mobileconfig",
    onChange: [],
};
