// OpenDKIM: signs outgoing mail (keys and tables come with the dkim step).

import { dkimName, type DomainSpec } from "../../model";
import { txtRecord } from "../dns/record";
import { OPENDKIM_SOCKET } from "../host/accounts";
import { renderTemplate } from "../host/template";
import { hostFile as file } from "../host/types";
import type { Feature } from "./feature";

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

/** The last day a retired selector stays published; a selector not retired in the spec is a bug. */
function retiredUntil(domain: DomainSpec, selector: string): string {
    const r = domain.dkimRetired.find((x) => x.selector === selector);
    if (!r) throw new Error(`dns: ${selector} is not a retired DKIM selector of ${domain.name}`);
    return r.until;
}

export const opendkim: Feature = {
    name: "opendkim",
    packages: ["opendkim", "opendkim-tools"],
    units: ["opendkim"],
    actions: ["restart:opendkim"],
    files: () => [
        file("/etc/opendkim.conf", renderTemplate("opendkim/opendkim.conf", { socket: OPENDKIM_SOCKET }), [
            "restart:opendkim",
        ]),
        file("/etc/opendkim/trusted.hosts", renderTemplate("opendkim/trusted.hosts"), ["restart:opendkim"]),
    ],
    dnsRecords: (_spec, domain, facts) => [
        txtRecord(
            dkimName(domain.dkimSelector, domain.name),
            dkimRecordValue(facts.dkimPublicKeyPem),
            "DKIM public key of the key OpenDKIM signs with",
        ),
        // A rotation: the earlier keys stay published for mail signed before it, still in transit.
        ...Object.keys(facts.dkimRetiredPublicKeysPem ?? {})
            .sort()
            .map((selector) =>
                txtRecord(
                    dkimName(selector, domain.name),
                    dkimRecordValue(facts.dkimRetiredPublicKeysPem![selector]),
                    `retired DKIM key, no longer signing, published until ${retiredUntil(domain, selector)}`,
                ),
            ),
    ],
};
