// Limits that keep one login or one full disk from hurting everyone: the submission rate
// limit per login (a Postfix policy service on 587/465) and the mail volume's free space
// (a mail to the postmaster at DISK_ALERT_PERCENT, Postfix's queue_minfree at
// DISK_FULL_PERCENT). Host-config files only, like the filter's: the user-data is near
// Hetzner's 32 KiB, and no mailbox exists before mail-data anyway.

import * as path from "path";
import { hostPostmaster, type MailSpec } from "../../model";
import { shellQuote } from "../../scripts/commands";
import { renderTemplate } from "./template";
import { hostFile as file, type HostFile } from "./types";
import { MAIL_VOLUME_MOUNT, MAILBOX_ROOT } from "./volume";

/** Where mailstack-submission-limit answers Postfix's policy requests. */
export const SUBMISSION_LIMIT_LISTEN = "127.0.0.1:10040";

/**
 * Where `mailstack-submission-limit clear` asks the service: a unix socket in its runtime
 * directory (0700, the service's own user), so only root may clear a login's count.
 */
export const SUBMISSION_LIMIT_CONTROL = "/run/mailstack-submission-limit/control.sock";

/** The postmaster is told when the mail volume is this full (and doctor warns). */
export const DISK_ALERT_PERCENT = 90;
/** ... and told again once it is back below this. */
export const DISK_CLEAR_PERCENT = 85;
/** Postfix stops taking mail (4xx) when less than the rest is free (and doctor fails). */
export const DISK_FULL_PERCENT = 95;

/** Whether some login has a limit: the mailboxes' or a sender's own. */
function anyLimit(spec: MailSpec): boolean {
    const { recipientsPerHour, senders } = spec.submissionLimit;
    return recipientsPerHour !== false || Object.values(senders).some((l) => l !== false);
}

/**
 * The policy service's arguments: the limit of every login, then each sender's own
 * (`--own ADDRESS=LIMIT|off`; addresses are checked, a-z, 0-9, ".", "_", "-" and "@").
 */
function limitArguments(spec: MailSpec): string {
    const { recipientsPerHour, senders } = spec.submissionLimit;
    const own = Object.entries(senders)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([address, l]) => ` --own ${address}=${l === false ? "off" : String(l)}`);
    return (recipientsPerHour === false ? "off" : String(recipientsPerHour)) + own.join("");
}

/**
 * main.cf's recipient restrictions for 465/587 (master.cf): the rate limit first, when some
 * login has one, so that a login past it gets 450 for each further recipient.
 */
export function submissionRecipientRestrictions(spec: MailSpec): string {
    return [
        "reject_non_fqdn_recipient",
        ...(anyLimit(spec) ? [`check_policy_service inet:${SUBMISSION_LIMIT_LISTEN}`] : []),
        "permit_sasl_authenticated",
        "reject",
    ]
        .map((r) => `    ${r}`)
        .join(",\n");
}

/**
 * Postfix's queue_minfree in bytes: the last (100 - DISK_FULL_PERCENT)% of the mail volume,
 * which holds the queue too, and never less than twice the largest message (Postfix wants at
 * least 1.5 times message_size_limit).
 */
export function queueMinFreeBytes(spec: MailSpec): number {
    const volume = spec.mailVolumeSizeGb * 1024 ** 3;
    return Math.max(Math.ceil((volume * (100 - DISK_FULL_PERCENT)) / 100), 2 * spec.messageSizeLimitBytes);
}

export function renderLimitFiles(spec: MailSpec): HostFile[] {
    const guarded = { alertPercent: DISK_ALERT_PERCENT, mailVolume: MAIL_VOLUME_MOUNT };
    return [
        file(
            "/usr/local/sbin/mailstack-submission-limit",
            renderTemplate("mailstack/submission-limit.py", {
                listen: SUBMISSION_LIMIT_LISTEN,
                controlDir: path.posix.dirname(SUBMISSION_LIMIT_CONTROL),
                controlName: path.posix.basename(SUBMISSION_LIMIT_CONTROL),
            }),
            ["restart:submission-limit"],
            "0755",
        ),
        file(
            "/etc/systemd/system/mailstack-submission-limit.service",
            renderTemplate("systemd/mailstack-submission-limit.service", {
                listen: SUBMISSION_LIMIT_LISTEN,
                control: SUBMISSION_LIMIT_CONTROL,
                limits: limitArguments(spec),
            }),
            ["daemon-reload", "restart:submission-limit"],
        ),
        file(
            "/usr/local/sbin/mailstack-disk-guard",
            renderTemplate("mailstack/disk-guard.sh", {
                ...guarded,
                clearPercent: DISK_CLEAR_PERCENT,
                fullPercent: DISK_FULL_PERCENT,
                mailRoot: MAILBOX_ROOT,
                hostname: shellQuote(spec.hostname),
                postmaster: shellQuote(hostPostmaster(spec)),
            }),
            ["enable:disk-guard"],
            "0755",
        ),
        file(
            "/etc/systemd/system/mailstack-disk-guard.service",
            renderTemplate("systemd/mailstack-disk-guard.service", guarded),
            ["daemon-reload"],
        ),
        file("/etc/systemd/system/mailstack-disk-guard.timer", renderTemplate("systemd/mailstack-disk-guard.timer"), [
            "daemon-reload",
            "enable:disk-guard",
        ]),
    ];
}
