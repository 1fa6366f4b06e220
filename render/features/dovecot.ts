// Dovecot 2.4: IMAPS, POP3S and LMTP delivery into the mailboxes on the mail volume.

import { port } from "../../model";
import { DOVECOT_CONFIG_VERSION, DOVECOT_STORAGE_VERSION } from "../host/migrations";
import { sieveTemplateValues } from "../host/sieve";
import { renderTemplate } from "../host/template";
import { hostFile as file } from "../host/types";
import type { Feature } from "./feature";
import { LMTP_PER_MAILBOX_CONCURRENCY } from "./postfix";
import { restartAfterCrash } from "./systemd";
import { DOVECOT_USERS } from "../host/mailbox-passwords";
import { DOVECOT_EXTRA_DIR } from "../host/dav";

/** What Dovecot runs when a mailbox passes 80% or 95% of its quota (dovecot.conf service quota-warning). */
export const QUOTA_WARNING_SCRIPT = "/usr/local/lib/mailstack/quota-warning.sh";

/**
 * Dovecot's per-user limit, above Postfix's: Dovecot counts a delivery as ended a moment
 * after Postfix does (its anvil process is told asynchronously), so at equal limits a burst
 * still drew a few 451s in the lab. With this margin Postfix's cap is the one that holds.
 */
export const DOVECOT_LMTP_USER_CONCURRENCY = 2 * LMTP_PER_MAILBOX_CONCURRENCY;

/**
 * The processes Dovecot keeps started and waiting for the next IMAPS connection (one
 * connection each, as always): a login waits for no process to start (issue 30;
 * docs/benchmarks.md). Host-config's file, not the user-data's (no room there).
 */
export const DOVECOT_PROCESSES_CONF = `${DOVECOT_EXTRA_DIR}/processes.conf`;
/** imap-login processes waiting (pre-login, dovenull in their chroot): two logins at once start none. */
export const IMAP_LOGIN_PROCESSES_WAITING = 2;
/** imap processes waiting for a logged-in connection (root until one is handed over, then the user's). */
export const IMAP_PROCESSES_WAITING = 2;

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
    laterFiles: () => [
        file(QUOTA_WARNING_SCRIPT, renderTemplate("dovecot/quota-warning.sh"), [], "0755"),
        restartAfterCrash("dovecot"),
        file(
            DOVECOT_PROCESSES_CONF,
            renderTemplate("dovecot/processes.conf", {
                path: DOVECOT_PROCESSES_CONF,
                loginProcesses: IMAP_LOGIN_PROCESSES_WAITING,
                imapProcesses: IMAP_PROCESSES_WAITING,
            }),
            ["reload:dovecot"],
        ),
    ],
};
