// The DNS names mailstack publishes under each mail domain, written once: the DNS records
// (render/dns/dns-records.ts) are named by these functions, and buildSpec refuses a domain
// whose longest name would not fit in DNS (RFC 1035: 253 characters).

import { CLIENT_HOST_LABELS, REFUSED_SERVICES, SRV_SERVICES } from "./services";

/** RFC 1035 2.3.4: a name of at most 255 octets on the wire, 253 characters as text. */
export const DNS_NAME_LIMIT = 253;

/** Where a domain's DKIM key with this selector is published (RFC 6376 3.6.2.1). */
export const dkimName = (selector: string, domain: string): string => `${selector}._domainkey.${domain}`;
/** dkimName read back: the selector and the domain of `<selector>._domainkey.<domain>`, or undefined. */
export function parseDkimName(name: string): { selector: string; domain: string } | undefined {
    const m = /^([^.]+)\._domainkey\.(.+)$/.exec(name);
    return m ? { selector: m[1], domain: m[2] } : undefined;
}
export const dmarcName = (domain: string): string => `_dmarc.${domain}`;
export const tlsRptName = (domain: string): string => `_smtp._tls.${domain}`;
export const mtaStsName = (domain: string): string => `_mta-sts.${domain}`;
export const srvName = (service: string, domain: string): string => `${service}._tcp.${domain}`;
export const clientHostName = (label: string, domain: string): string => `${label}.${domain}`;

/** Every name published for a domain whose DKIM keys have these selectors (signing and retired). */
export function publishedNames(domain: string, selectors: readonly string[]): string[] {
    return [
        domain,
        ...selectors.map((s) => dkimName(s, domain)),
        dmarcName(domain),
        tlsRptName(domain),
        mtaStsName(domain),
        ...CLIENT_HOST_LABELS.map((label) => clientHostName(label, domain)),
        ...[...SRV_SERVICES, ...REFUSED_SERVICES].map((s) => srvName(s.srv, domain)),
    ];
}

/** The longest name published for a domain, e.g. `_submissions._tcp.<domain>`. */
export function longestPublishedName(domain: string, selectors: readonly string[]): string {
    return publishedNames(domain, selectors).reduce((a, b) => (b.length > a.length ? b : a));
}
