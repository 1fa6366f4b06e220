// Every DNS record a mail domain needs, from one function of the spec (as mox does), so that
// what the DNS component publishes, what the tests check and what the lab's DKIM verifier
// is given as DNS answer cannot drift apart. Each feature declares its own records
// (`dnsRecords`, render/features/); this puts a domain's together. The record's shape and the
// shared record kinds: record.ts; their text form: text.ts; the zone pre-flight and whose a
// record is: zone.ts.

import type { DomainSpec, MailSpec } from "../../model";
import { DNS_FEATURES } from "../features";
import type { DnsFacts, MailDnsRecord } from "./record";

export { MAIL_DNS_TTL, type DnsFacts, type MailDnsRecord } from "./record";
export { dkimRecordValue } from "../features/opendkim";
export { spfValue } from "../features/postfix";
export { dmarcValue } from "../features/dmarc";

/**
 * The records of one mail domain: each feature's in RECORD_ORDER (render/features/index.ts),
 * with the mail hosts' own records (a name with an A or AAAA record: its addresses and its
 * SPF) first and the MX records next, so a zone reads from the hosts to what points at them.
 */
export function mailDnsRecords(spec: MailSpec, domain: DomainSpec, facts: DnsFacts): MailDnsRecord[] {
    const records = DNS_FEATURES.flatMap((f) => f.dnsRecords!(spec, domain, facts));
    const hosts = new Set(records.filter((r) => r.type === "A" || r.type === "AAAA").map((r) => r.name));
    const place = (r: MailDnsRecord) => (hosts.has(r.name) ? 0 : r.type === "MX" ? 1 : 2);
    return [0, 1, 2].flatMap((p) => records.filter((r) => place(r) === p));
}
