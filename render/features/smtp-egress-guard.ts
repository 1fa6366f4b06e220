// Only Postfix and root open connections to another server's port 25 (the nft file says why).

import { renderTemplate } from "../host/template";
import { hostFile as file } from "../host/types";
import type { Feature } from "./feature";

export const smtpEgressGuard: Feature = {
    name: "smtp-egress-guard",
    packages: ["nftables"],
    laterUnits: ["mailstack-smtp-egress-guard"],
    actions: ["restart:smtp-egress-guard"],
    // Its rule names the postfix user, which exists only once the packages are installed.
    laterFiles: () => [
        file("/etc/mailstack/smtp-egress-guard.nft", renderTemplate("nftables/smtp-egress-guard.nft"), [
            "restart:smtp-egress-guard",
        ]),
        file(
            "/etc/systemd/system/mailstack-smtp-egress-guard.service",
            renderTemplate("systemd/mailstack-smtp-egress-guard.service"),
            ["daemon-reload", "restart:smtp-egress-guard"],
        ),
    ],
};
