// Who owns a mailbox password, and changing it in the webmail (render/host/mailbox-passwords.ts):
// the root-owned helper that writes Dovecot's passwd-file, and with the webmail its socket
// and fail2ban's jail for wrong current passwords; app passwords, checked by Dovecot's Lua
// passdb before the main password. Host-config only: nothing logs in before
// mail-data, which runs after it.

import { renderPasswordFiles } from "../host/mailbox-passwords";
import type { Feature } from "./feature";

export const passwords: Feature = {
    name: "passwords",
    // The Lua passdb that checks app passwords (render/host/templates/dovecot/app-passwords.lua).
    packages: ["dovecot-auth-lua"],
    actions: ["apply:passwords", "restart:password-socket"],
    laterFiles: (spec) => renderPasswordFiles(spec),
};
