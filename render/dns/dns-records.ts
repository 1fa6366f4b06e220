// Every DNS record a mail domain needs, from one function of the spec (as mox does), so that
// what the DNS component publishes, what the tests check and what the lab's DKIM verifier
// is given as DNS answer cannot drift apart. Their text form: text.ts; the zone pre-flight
// and whose a record is: zone.ts.

import {
    CLIENT_HOST_LABELS,
    clientHostName,
    DAV_PATH,
    DAV_SERVICES,
    dkimName,
    dmarcName,
    mtaStsName,
    port,
    REFUSED_SERVICES,
    SRV_SERVICES,
    srvName,
    tlsRptName,
    type DomainSpec,
    type MailSpec,
} from "../../model";
import { mtaStsRecordValue } from "../host/client-config";
import { PRIMARY_MX_PREFERENCE, SECONDARY_MX_PREFERENCE, txtContent } from "./text";

/** One DNS record, with full names (never `@`), as Cloudflare stores it. */
export interface MailDnsRecord {
    /** Fully qualified name, no trailing dot. */
    readonly name: string;
    readonly type: "MX" | "A" | "AAAA" | "CNAME" | "TXT" | "SRV" | "CAA";
    /** Record content; TXT content is already split into quoted strings. Absent for SRV and CAA. */
    readonly content?: string;
    readonly ttl: number;
    /** MX preference; for SRV the same value as srv.priority (Cloudflare wants both). */
    readonly priority?: number;
    /** SRV fields (RFC 6186 client autoconfiguration). */
    readonly srv?: {
        readonly priority: number;
        readonly weight: number;
        readonly port: number;
        readonly target: string;
    };
    /**
     * CAA fields (RFC 8659), as Cloudflare's provider wants them in `data`: flags a number,
     * the value bare (Cloudflare adds the quotes in the record's content).
     */
    readonly caa?: { readonly flags: number; readonly tag: "issue" | "iodef"; readonly value: string };
    /** What the record is for, shown in `pulumi preview` as the record's comment. */
    readonly purpose: string;
    /**
     * Published only once the server serves what the record announces: the `_mta-sts` id
     * tells senders to fetch a new policy, which must be there by then (RFC 8461 3.1).
     */
    readonly publishAfter?: "mta-sts-policy";
}

/** Values only known at deploy time. */
export interface DnsFacts {
    readonly ipv4: string;
    readonly ipv6: string;
    /** PEM (SPKI, "PUBLIC KEY") of the domain's DKIM key. */
    readonly dkimPublicKeyPem: string;
    /**
     * Retired selector -> PEM public key, for the retired selectors still published (the
     * caller decides by date: spec's publishedRetiredSelectors). None when absent.
     */
    readonly dkimRetiredPublicKeysPem?: Readonly<Record<string, string>>;
    /** The backup MX's addresses; required when spec.secondaryMx is set. */
    readonly secondary?: { readonly ipv4: string; readonly ipv6: string };
}

/** The last day a retired selector stays published; a selector not retired in the spec is a bug. */
function retiredUntil(domain: DomainSpec, selector: string): string {
    const r = domain.dkimRetired.find((x) => x.selector === selector);
    if (!r) throw new Error(`dns: ${selector} is not a retired DKIM selector of ${domain.name}`);
    return r.until;
}

/** One hour: short enough to fix a mistake the same day, long enough to be cached. */
export const MAIL_DNS_TTL = 3600;

/** `v=DKIM1; k=rsa; p=<base64 SPKI>` for a PEM public key. */
export function dkimRecordValue(publicKeyPem: string): string {
    const body = publicKeyPem
        .replace(/-----BEGIN PUBLIC KEY-----/, "")
        .replace(/-----END PUBLIC KEY-----/, "")
        .replace(/\s+/g, "");
    if (!/^[A-Za-z0-9+/]+=*$/.test(body) || body.length < 300) {
        throw new Error('DKIM public key must be a PEM "PUBLIC KEY" of an RSA 2048 key');
    }
    return `v=DKIM1; k=rsa; p=${body}`;
}

export function spfValue(domain: DomainSpec): string {
    // mx: the only hosts that send our mail are the MX hosts (the backup MX, when there is one,
    // sends the bounces and delay notices it must). -all: everything else is forged.
    return ["v=spf1", "mx", ...domain.spfExtra, "-all"].join(" ");
}

export function dmarcValue(domain: DomainSpec): string {
    // adkim/aspf relaxed: subdomains of the domain may align (the defaults, stated for review).
    return `v=DMARC1; p=${domain.dmarc.policy}; rua=mailto:${domain.dmarc.rua}; adkim=r; aspf=r`;
}

/** A mail host's A, AAAA and own SPF records (its EHLO name is checked by receivers). */
function hostRecords(hostname: string, ipv4: string, ipv6: string, what: string, spfWhy: string): MailDnsRecord[] {
    const ttl = MAIL_DNS_TTL;
    return [
        { name: hostname, type: "A", content: ipv4, ttl, purpose: `${what} IPv4 (matches its PTR)` },
        { name: hostname, type: "AAAA", content: ipv6, ttl, purpose: `${what} IPv6 (matches its PTR)` },
        { name: hostname, type: "TXT", content: txtContent("v=spf1 a -all"), ttl, purpose: spfWhy },
    ];
}

/**
 * The records of one mail domain. The domain holding the hostname also gets the hostname's
 * A/AAAA records (the backup MX's likewise); every domain points its MX at that one host,
 * and with a backup MX a second MX of a higher preference at it.
 */
export function mailDnsRecords(spec: MailSpec, domain: DomainSpec, facts: DnsFacts): MailDnsRecord[] {
    const ttl = MAIL_DNS_TTL;
    const d = domain.name;
    const records: MailDnsRecord[] = [];
    const secondary = spec.secondaryMx;
    if (secondary && !facts.secondary)
        throw new Error("dns: mailstack:secondaryMx is set but its addresses are not known");
    if (spec.hostnameDomain === d) {
        // The host's own SPF: forwarded mail leaves with an SRS sender @hostname (postsrsd),
        // which must pass SPF as well.
        records.push(
            ...hostRecords(
                spec.hostname,
                facts.ipv4,
                facts.ipv6,
                "mail host",
                "SPF for the host name (EHLO, SRS senders)",
            ),
        );
    }
    if (secondary && secondary.hostnameDomain === d) {
        // Its bounces and delay notices come from MAILER-DAEMON, checked against its EHLO name.
        records.push(
            ...hostRecords(
                secondary.hostname,
                facts.secondary!.ipv4,
                facts.secondary!.ipv6,
                "backup MX",
                "SPF for the backup MX's name (EHLO, its bounces)",
            ),
        );
    }
    records.push(
        {
            name: d,
            type: "MX",
            content: spec.hostname,
            priority: PRIMARY_MX_PREFERENCE,
            ttl,
            purpose: `mail for ${d} goes to ${spec.hostname}`,
        },
        // Senders try it only when the primary does not answer (a higher preference).
        ...(secondary
            ? [
                  {
                      name: d,
                      type: "MX" as const,
                      content: secondary.hostname,
                      priority: SECONDARY_MX_PREFERENCE,
                      ttl,
                      purpose: `backup MX: queues mail for ${d} while ${spec.hostname} is down`,
                  },
              ]
            : []),
        {
            name: d,
            type: "TXT",
            content: txtContent(spfValue(domain)),
            ttl,
            purpose: "SPF: only the MX sends for this domain",
        },
        {
            name: dkimName(domain.dkimSelector, d),
            type: "TXT",
            content: txtContent(dkimRecordValue(facts.dkimPublicKeyPem)),
            ttl,
            purpose: "DKIM public key of the key OpenDKIM signs with",
        },
        // A rotation: the earlier keys stay published for mail signed before it, still in transit.
        ...Object.keys(facts.dkimRetiredPublicKeysPem ?? {})
            .sort()
            .map((selector) => ({
                name: dkimName(selector, d),
                type: "TXT" as const,
                content: txtContent(dkimRecordValue(facts.dkimRetiredPublicKeysPem![selector])),
                ttl,
                purpose: `retired DKIM key, no longer signing, published until ${retiredUntil(domain, selector)}`,
            })),
        {
            name: dmarcName(d),
            type: "TXT",
            content: txtContent(dmarcValue(domain)),
            ttl,
            purpose: "DMARC policy and reports",
        },
        // RFC 8460: receivers that fail TLS to us report it here. MTA-STS failures are
        // reported the same way, so this address serves both.
        {
            name: tlsRptName(d),
            type: "TXT",
            content: txtContent(`v=TLSRPTv1; rua=mailto:${domain.dmarc.rua}`),
            ttl,
            purpose: "SMTP TLS reporting",
        },
        // RFC 8461: senders that see this fetch https://mta-sts.<domain>/.well-known/mta-sts.txt
        // and then insist on verified TLS to our MX.
        {
            name: mtaStsName(d),
            type: "TXT",
            content: txtContent(mtaStsRecordValue(spec)),
            ttl,
            purpose: "MTA-STS: the policy's id (changes with the policy)",
            publishAfter: "mta-sts-policy",
        },
        // RFC 8659: only our ACME CA may issue for the domain and every name under it (the
        // client names too), and it reports refused requests to the domain's report address.
        // Flags 0: not critical, every CA understands issue and iodef.
        ...(["issue", "iodef"] as const).map((tag): MailDnsRecord => ({
            name: d,
            type: "CAA",
            ttl,
            caa: { flags: 0, tag, value: tag === "issue" ? spec.acmeCaaIdentity : `mailto:${domain.dmarc.rua}` },
            purpose:
                tag === "issue"
                    ? `CAA: only ${spec.acmeCaaIdentity} may issue certificates`
                    : "CAA: where CAs report refused requests",
        })),
        // Mail clients and senders find the HTTPS services under the domain itself. CNAMEs
        // follow the host's addresses; the certificate step covers each name.
        ...CLIENT_HOST_LABELS.map((label): MailDnsRecord => ({
            name: clientHostName(label, d),
            type: "CNAME",
            content: spec.hostname,
            ttl,
            purpose: `${label} (HTTPS on ${spec.hostname})`,
        })),
    );
    // RFC 6186/8314: mail clients find the server from the address alone. Target "." says a
    // service is not offered (plain IMAP and POP3 are not).
    // Cloudflare wants an SRV record's priority at the top level as well as in its data, or
    // every preview shows a change.
    const srv = (service: string, port: number, target: string, purpose: string): MailDnsRecord => {
        const priority = target === "." ? 0 : 10;
        return {
            name: srvName(service, d),
            type: "SRV",
            ttl,
            priority,
            srv: { priority, weight: target === "." ? 0 : 1, port, target },
            purpose,
        };
    };
    records.push(
        ...SRV_SERVICES.map((s) => srv(s.srv, s.port, spec.hostname, s.srvPurpose)),
        ...REFUSED_SERVICES.map((s) => srv(s.srv, 0, ".", s.purpose)),
    );
    // RFC 6764: calendar and contact clients (iOS, DAVx5, Thunderbird) find the server from
    // the address alone: the SRV record gives host and port, its TXT the path on it.
    if (spec.dav)
        records.push(
            ...DAV_SERVICES.flatMap((s) => [
                srv(s.srv, port("https"), spec.hostname, s.srvPurpose),
                {
                    name: srvName(s.srv, d),
                    type: "TXT" as const,
                    content: txtContent(`path=${DAV_PATH}`),
                    ttl,
                    purpose: `${s.srvPurpose}: its path on ${spec.hostname}`,
                },
            ]),
        );
    return records;
}
