// Dovecot 2.4: IMAPS, POP3S and LMTP delivery into the mailboxes on the mail volume.

import { port } from "../../model";
import { DOVECOT_CONFIG_VERSION, DOVECOT_STORAGE_VERSION } from "../host/migrations";
import { sieveTemplateValues } from "../host/sieve";
import { renderTemplate } from "../host/template";
import { hostFile as file } from "../host/types";
import type { Feature } from "./feature";
import { LMTP_PER_MAILBOX_CONCURRENCY } from "./postfix";
import { DOVECOT_USERS } from "../host/mailbox-passwords";

/** What Dovecot runs when a mailbox passes 80% or 95% of its quota (dovecot.conf service quota-warning). */
export const QUOTA_WARNING_SCRIPT = "/usr/local/lib/mailstack/quota-warning.sh";

/**
 * Dovecot's per-user limit, above Postfix's: Dovecot counts a delivery as ended a moment
 * after Postfix does (its anvil process is told asynchronously), so at equal limits a burst
 * still drew a few 451s in the lab. With this margin Postfix's cap is the one that holds.
 */
export const DOVECOT_LMTP_USER_CONCURRENCY = 2 * LMTP_PER_MAILBOX_CONCURRENCY;

export const dovecot: Feature = {
    name: "dovecot",
    services: ["imaps", "pop3s"],
    packages: ["dovecot-core", "dovecot-imapd", "dovecot-pop3d", "dovecot-lmtpd"],
    units: ["dovecot"],
    actions: ["reload:dovecot"],
    files: (spec) => [
        file(
            "/etc/dovecot/dovecot.conf",
            renderTemplate("dovecot/dovecot.conf", {
                dovecotConfigVersion: DOVECOT_CONFIG_VERSION,
                dovecotStorageVersion: DOVECOT_STORAGE_VERSION,
                dovecotUsers: DOVECOT_USERS,
                lmtpUserConcurrency: DOVECOT_LMTP_USER_CONCURRENCY,
                managesievePort: port("sieve"),
                quotaWarningScript: QUOTA_WARNING_SCRIPT,
                ...sieveTemplateValues(spec),
            }),
            ["reload:dovecot"],
        ),
    ],
    // No mailbox is near its quota at first boot.
    laterFiles: () => [file(QUOTA_WARNING_SCRIPT, renderTemplate("dovecot/quota-warning.sh"), [], "0755")],
};
