// What clients and sending servers fetch over HTTPS: autoconfig, autodiscover, the MTA-STS
// policy (render/host/client-config.ts); the per-domain Apple profiles come with mail-data.
// In DNS: the names they fetch them from, and the SRV records that let a mail client find the
// server from the address alone.

import { CLIENT_HOST_LABELS, clientHostName, REFUSED_SERVICES, SRV_SERVICES } from "../../model";
import { MAIL_DNS_TTL, srvRecord, type MailDnsRecord } from "../dns/record";
import { renderClientFiles } from "../host/client-config";
import type { Feature } from "./feature";

export const clients: Feature = {
    name: "clients",
    config: ["mtaSts"],
    laterFiles: (spec) => renderClientFiles(spec),
    dnsRecords: (spec, domain) => [
        // Mail clients and senders find the HTTPS services under the domain itself. CNAMEs
        // follow the host's addresses; the certificate step covers each name.
        ...CLIENT_HOST_LABELS.map((label): MailDnsRecord => ({
            name: clientHostName(label, domain.name),
            type: "CNAME",
            content: spec.hostname,
            ttl: MAIL_DNS_TTL,
            purpose: `${label} (HTTPS on ${spec.hostname})`,
        })),
        // RFC 6186/8314: mail clients find the server from the address alone. Plain IMAP and
        // POP3 are published as not offered.
        ...SRV_SERVICES.map((s) => srvRecord(s.srv, domain.name, s.port, spec.hostname, s.srvPurpose)),
        ...REFUSED_SERVICES.map((s) => srvRecord(s.srv, domain.name, 0, ".", s.purpose)),
    ],
};
