// Sample stack configs, as `pulumi config` would hold them.
import type { RawConfig } from "../../spec";

export function oneDomain(): RawConfig {
    return {
        hostname: "mail.nathabee.de",
        acmeEmail: "postmaster@nathabee.de",
        sshAllowedCidrs: ["203.0.113.7/32"],
        domains: [
            {
                name: "nathabee.de",
                mailboxes: ["evaluation", "freebus"],
                aliases: {
                    admin: ["someone@example.net"],
                    postmaster: ["evaluation@nathabee.de"],
                },
                dmarc: { policy: "quarantine" },
            },
        ],
    };
}

export function twoDomains(): RawConfig {
    const base = oneDomain();
    return {
        ...base,
        domains: [
            ...(base.domains as object[]),
            {
                name: "example.org",
                mailboxes: ["carol"],
                aliases: { postmaster: ["carol@example.org"], abuse: ["postmaster@nathabee.de"] },
            },
        ],
    };
}
