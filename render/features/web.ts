// nginx: HTTP for ACME's challenges, HTTPS for MTA-STS, client autoconfig and the webmail.
// Nothing needs it before the certificate step (after host-config), so the user-data leaves
// it out; Debian's default site answers port 80 for those minutes.

import { CLIENT_HOST_LABELS } from "../../model";
import { renderTemplate } from "../host/template";
import { hostFile as file } from "../host/types";
import type { Feature } from "./feature";

export const web: Feature = {
    name: "web",
    services: ["http", "https"],
    packages: ["nginx"],
    units: ["nginx"],
    actions: ["reload:nginx"],
    laterFiles: (spec) => [
        ...[
            "mailstack-tls-settings.conf",
            "mailstack-tls.conf",
            ...CLIENT_HOST_LABELS.map((l) => `mailstack-${l}.conf`),
        ].map((name) => file(`/etc/nginx/snippets/${name}`, renderTemplate(`nginx/${name}`), ["reload:nginx"])),
        file("/etc/nginx/sites-available/default", renderTemplate("nginx/default", { hostname: spec.hostname }), [
            "reload:nginx",
        ]),
    ],
};
