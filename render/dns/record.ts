// One DNS record as Cloudflare stores it, the deploy-time facts records are rendered from, and
// the shapes several features' records share. The features declare their records
// (`dnsRecords` in render/features/feature.ts); dns-records.ts puts a domain's together.

import { srvName } from "../../model";
import { txtContent } from "./text";

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

/** One hour: short enough to fix a mistake the same day, long enough to be cached. */
export const MAIL_DNS_TTL = 3600;

/** A TXT record of the given value. */
export function txtRecord(name: string, value: string, purpose: string): MailDnsRecord {
    return { name, type: "TXT", content: txtContent(value), ttl: MAIL_DNS_TTL, purpose };
}

/** A mail host's A, AAAA and own SPF records (its EHLO name is checked by receivers). */
export function hostRecords(
    hostname: string,
    ipv4: string,
    ipv6: string,
    what: string,
    spfWhy: string,
): MailDnsRecord[] {
    const ttl = MAIL_DNS_TTL;
    return [
        { name: hostname, type: "A", content: ipv4, ttl, purpose: `${what} IPv4 (matches its PTR)` },
        { name: hostname, type: "AAAA", content: ipv6, ttl, purpose: `${what} IPv6 (matches its PTR)` },
        { name: hostname, type: "TXT", content: txtContent("v=spf1 a -all"), ttl, purpose: spfWhy },
    ];
}

/**
 * An SRV record of a domain (RFC 6186/8314, RFC 6764). Target "." says a service is not
 * offered. Cloudflare wants an SRV record's priority at the top level as well as in its
 * data, or every preview shows a change.
 */
export function srvRecord(
    service: string,
    domain: string,
    port: number,
    target: string,
    purpose: string,
): MailDnsRecord {
    const priority = target === "." ? 0 : 10;
    return {
        name: srvName(service, domain),
        type: "SRV",
        ttl: MAIL_DNS_TTL,
        priority,
        srv: { priority, weight: target === "." ? 0 : 1, port, target },
        purpose,
    };
}
