// The host's certificate: certbot (the certificate step) and its deploy hook, which copies it
// to /etc/mailstack/tls/ for the daemons and reloads them.

import { CLIENT_HOST_LABELS } from "../../model";
import { shellQuote } from "../../scripts/commands";
import { MAIL_DNS_TTL, type MailDnsRecord } from "../dns/record";
import { renderTemplate } from "../host/template";
import { hostFile as file } from "../host/types";
import type { Feature } from "./feature";

/** certbot runs it after every issue and renewal: copies the certificate for the daemons, reloads them. */
const CERTBOT_DEPLOY_HOOK = "/etc/letsencrypt/renewal-hooks/deploy/50-mailstack";

export const certificate: Feature = {
    name: "certificate",
    config: ["acmeEmail", "acmeServer", "acmeCaaIdentity"],
    packages: ["certbot"],
    files: (spec) => [
        file(
            "/etc/mailstack/acme.env",
            renderTemplate("mailstack/acme.env", {
                hostname: shellQuote(spec.hostname),
                acmeServer: shellQuote(spec.acmeServer),
                acmeEmail: shellQuote(spec.acmeEmail),
            }),
            [],
        ),
    ],
    // The certificate step comes after host-config.
    laterFiles: () => [
        file(
            CERTBOT_DEPLOY_HOOK,
            renderTemplate("certbot/deploy-hook.sh", { clientLabels: CLIENT_HOST_LABELS.join(" ") }),
            [],
            "0755",
        ),
    ],
    // RFC 8659: only our ACME CA may issue for the domain and every name under it (the client
    // names too), and it reports refused requests to the domain's report address. Flags 0:
    // not critical, every CA understands issue and iodef.
    dnsRecords: (spec, domain) =>
        (["issue", "iodef"] as const).map((tag): MailDnsRecord => ({
            name: domain.name,
            type: "CAA",
            ttl: MAIL_DNS_TTL,
            caa: { flags: 0, tag, value: tag === "issue" ? spec.acmeCaaIdentity : `mailto:${domain.dmarc.rua}` },
            purpose:
                tag === "issue"
                    ? `CAA: only ${spec.acmeCaaIdentity} may issue certificates`
                    : "CAA: where CAs report refused requests",
        })),
};
