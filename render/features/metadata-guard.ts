// Only root reaches the cloud's metadata service (169.254.169.254), from the first boot on.

import { renderTemplate } from "../host/template";
import { hostFile as file } from "../host/types";
import type { Feature } from "./feature";

export const metadataGuard: Feature = {
    name: "metadata-guard",
    packages: ["nftables"],
    units: ["mailstack-metadata-guard"],
    actions: ["restart:metadata-guard"],
    files: () => [
        file("/etc/mailstack/metadata-guard.nft", renderTemplate("nftables/metadata-guard.nft"), [
            "restart:metadata-guard",
        ]),
        file(
            "/etc/systemd/system/mailstack-metadata-guard.service",
            renderTemplate("systemd/mailstack-metadata-guard.service"),
            ["daemon-reload", "restart:metadata-guard"],
        ),
    ],
};
