// fail2ban: bans addresses that keep failing logins (Dovecot, Postfix SASL, Roundcube, SSH).

import { renderTemplate } from "../host/template";
import { hostFile as file } from "../host/types";
import type { Feature } from "./feature";

export const fail2ban: Feature = {
    name: "fail2ban",
    // python3-systemd: its jails read the journal (Debian 13 has no auth.log).
    packages: ["fail2ban", "python3-systemd"],
    units: ["fail2ban"],
    actions: ["reload:fail2ban"],
    files: (spec) => [
        file("/etc/fail2ban/jail.local", renderTemplate("fail2ban/jail.local", { webmailJail: String(spec.webmail) }), [
            "reload:fail2ban",
        ]),
        file("/etc/fail2ban/filter.d/dovecot.local", renderTemplate("fail2ban/dovecot.local"), ["reload:fail2ban"]),
        file("/etc/fail2ban/filter.d/roundcube-auth.local", renderTemplate("fail2ban/roundcube-auth.local"), [
            "reload:fail2ban",
        ]),
    ],
};
