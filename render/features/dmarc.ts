// DMARC (RFC 7489): each domain's policy for mail that fails SPF and DKIM alignment, and
// where receivers send their reports. Mail to us is judged by the spam filter (filter.ts).

import { dmarcName, type DomainSpec } from "../../model";
import { txtRecord } from "../dns/record";
import type { Feature } from "./feature";

export function dmarcValue(domain: DomainSpec): string {
    // adkim/aspf relaxed: subdomains of the domain may align (the defaults, stated for review).
    return `v=DMARC1; p=${domain.dmarc.policy}; rua=mailto:${domain.dmarc.rua}; adkim=r; aspf=r`;
}

export const dmarc: Feature = {
    name: "dmarc",
    dnsRecords: (_spec, domain) => [txtRecord(dmarcName(domain.name), dmarcValue(domain), "DMARC policy and reports")],
};
