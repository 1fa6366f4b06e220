// MTA-STS (RFC 8461). For outgoing mail: postfix-mta-sts-resolver answers Postfix with each
// domain's policy. For incoming mail: each domain's policy id and TLS reporting address in DNS
// (the policy file itself is served with the client files, clients.ts).

import { mtaStsName, tlsRptName } from "../../model";
import { MAIL_DNS_TTL, txtRecord } from "../dns/record";
import { txtContent } from "../dns/text";
import { mtaStsRecordValue } from "../host/client-config";
import { renderMtaStsFiles } from "../host/outbound";
import type { Feature } from "./feature";

export const mtaSts: Feature = {
    name: "mta-sts",
    packages: ["postfix-mta-sts-resolver"],
    units: ["postfix-mta-sts-resolver"],
    actions: ["restart:mta-sts"],
    laterFiles: () => renderMtaStsFiles(),
    dnsRecords: (spec, domain) => [
        // RFC 8460: receivers that fail TLS to us report it here. MTA-STS failures are
        // reported the same way, so this address serves both.
        txtRecord(tlsRptName(domain.name), `v=TLSRPTv1; rua=mailto:${domain.dmarc.rua}`, "SMTP TLS reporting"),
        // RFC 8461: senders that see this fetch https://mta-sts.<domain>/.well-known/mta-sts.txt
        // and then insist on verified TLS to our MX.
        {
            name: mtaStsName(domain.name),
            type: "TXT",
            content: txtContent(mtaStsRecordValue(spec)),
            ttl: MAIL_DNS_TTL,
            purpose: "MTA-STS: the policy's id (changes with the policy)",
            publishAfter: "mta-sts-policy",
        },
    ],
};
