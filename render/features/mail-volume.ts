// The mail volume at /srv/mail: Dovecot and Postfix wait for it; the mail-volume step grows
// its filesystem (resize2fs) after the volume was resized.

import { renderTemplate } from "../host/template";
import { hostFile as file } from "../host/types";
import type { Feature } from "./feature";

export const mailVolume: Feature = {
    name: "mail-volume",
    config: ["mailVolumeSizeGb"],
    packages: ["e2fsprogs"],
    files: () => [
        file(
            "/etc/systemd/system/dovecot.service.d/mailstack.conf",
            renderTemplate("systemd/dovecot-requires-mail-volume.conf"),
            ["daemon-reload"],
        ),
        file(
            "/etc/systemd/system/postfix.service.d/mailstack.conf",
            renderTemplate("systemd/postfix-requires-mail-volume.conf"),
            ["daemon-reload"],
        ),
    ],
};
