// Importing old IMAP accounts (mailstack:imports): mbsync on the server, one way, hourly, until
// the entry is removed from the config. Everything goes to the server in the `import`
// provisioning step, over SSH stdin, never in the user-data: the script and the folder
// mapper, each account's mbsync settings and its password (root only) or, for an OAuth2
// account (Microsoft 365), its app and endpoints (the refresh token is on the mail volume,
// from `mailstack-import authorize`, never in the stack config), and the timer. With
// no import configured the units are left out and pruned, and `mailstack-import enable` (run
// by the step) stops and disables what a server still had: switching off removes the timer.
//
// Why mbsync and not `doveadm sync -1` with imapc: dsync keeps every folder's name as the
// old provider spells it ("[Gmail]/Sent Mail" beside our Sent), and cannot map it; mbsync
// takes one Channel per folder with any name on each side. docs/benchmarks.md has the figures.

import type { ImportSpec, MailSpec } from "../../model";
import type { PruneRule } from "../plan/bundle";
import { renderTemplate } from "./template";
import { rootFile, type HostFile } from "./types";

export const IMPORT_CONF_DIR = "/etc/mailstack/import";
/** mbsync's record of what was imported, per mailbox: on the mail volume, so in the backup. */
export const IMPORT_STATE_DIR = "/srv/mail/state/import";
export const IMPORT_UNITS = ["mailstack-import.service", "mailstack-import.timer"] as const;
/** Where an OAuth2 import's access token is kept for one run (import-oauth2.py refresh); mbsync's PassCmd reads it. */
export const IMPORT_RUN_DIR = "/run/mailstack-import";

/** What the import step removes when it is no longer listed: accounts switched off, and the units. */
export const IMPORT_PRUNE: readonly PruneRule[] = [
    { dir: IMPORT_CONF_DIR, pattern: "*.mbsyncrc", onChange: [] },
    { dir: IMPORT_CONF_DIR, pattern: "*.password", onChange: [] },
    { dir: IMPORT_CONF_DIR, pattern: "*.oauth2", onChange: [] },
    { dir: "/etc/systemd/system", pattern: "mailstack-import*", onChange: ["daemon-reload"] },
];

/** A value inside mbsync's double quotes: the schema refuses `"` and `\`, checked again here. */
function quoted(value: string, what: string): string {
    if (/["\\\x00-\x1f\x7f]/.test(value)) throw new Error(`import: ${what} cannot be written into mbsync's config`);
    return `"${value}"`;
}

/** One account's mbsync settings (the channels are added at run time by import-folders.py). */
export function renderImportRc(i: ImportSpec): string {
    const password = `${IMPORT_CONF_DIR}/${i.mailbox}.password`;
    const login = i.oauth2
        ? [
              "# XOAUTH2 (Cyrus SASL's plugin from libsasl2-modules-kdexoauth2) with the access token",
              "# import-oauth2.py obtained for this run from the refresh token; never a password.",
              "AuthMechs XOAUTH2",
              `PassCmd "cat ${IMPORT_RUN_DIR}/${i.mailbox}.token"`,
          ]
        : [
              "# IMAP LOGIN with the password. Named: by default mbsync tries every SASL mechanism",
              "# the server offers, and with the XOAUTH2 plugin installed it would send the password",
              "# as a token wherever XOAUTH2 is offered (Gmail offers it) and fail.",
              "AuthMechs LOGIN",
              `PassCmd "cat ${password}"`,
          ];
    return [
        `# ${IMPORT_CONF_DIR}/${i.mailbox}.mbsyncrc - rendered by mailstack (import step). Root only.`,
        "# Every channel pulls new messages and flag changes from the old account, and never",
        "# pushes, expunges or deletes anywhere: the old provider is only read.",
        "Sync PullNew PullFlags",
        "Create Near",
        "Remove None",
        "Expunge None",
        "# The message's INTERNALDATE (when it arrived there) is kept, not the import's time.",
        "CopyArrivalDate yes",
        `SyncState ${IMPORT_STATE_DIR}/${i.mailbox}/`,
        "",
        "# The old account. Its certificate must verify for Host against the system's CAs.",
        "IMAPAccount old",
        `Host ${i.host}`,
        `Port ${i.port}`,
        `TLSType ${i.tls === "implicit" ? "IMAPS" : "STARTTLS"}`,
        `User ${quoted(i.user, "user")}`,
        ...login,
        "SystemCertificates yes",
        "Timeout 60",
        "",
        "IMAPStore old",
        "Account old",
        "",
        "# The mailbox here: Dovecot's own imap, started as the mailbox's user by doveadm (no",
        "# password; quota and indexes apply as for any client). imap refuses a socket on its",
        "# stdout (it takes it for inetd), hence the pipe through cat.",
        "IMAPAccount here",
        `Tunnel "doveadm exec imap -u ${i.mailbox} | cat"`,
        "",
        "IMAPStore here",
        "Account here",
        "",
    ].join("\n");
}

/**
 * An OAuth2 import's app and endpoints, for import-oauth2.py (JSON). Nothing secret: the
 * refresh token is on the mail volume, from `mailstack-import authorize`.
 */
export function renderImportOAuth2(i: ImportSpec): string {
    if (!i.oauth2) throw new Error(`import: ${i.mailbox} does not log in with OAuth2`);
    const o = i.oauth2;
    const conf = {
        user: i.user,
        host: i.host,
        client_id: o.clientId,
        token_url: o.tokenUrl,
        device_url: o.deviceUrl,
        scope: o.scope,
    };
    return `${JSON.stringify(conf, null, 2)}\n`;
}

/** Every file of the import step; the passwords by mailbox (checkImports made them match). */
export function renderImportFiles(spec: MailSpec, passwords: Readonly<Record<string, string>> = {}): HostFile[] {
    const accounts = spec.imports.flatMap((i) => {
        if (i.oauth2)
            return [
                rootFile(`${IMPORT_CONF_DIR}/${i.mailbox}.mbsyncrc`, renderImportRc(i), "0600"),
                rootFile(`${IMPORT_CONF_DIR}/${i.mailbox}.oauth2`, renderImportOAuth2(i), "0600"),
            ];
        const password = passwords[i.mailbox];
        if (password === undefined) throw new Error(`import: no password for ${i.mailbox}`);
        if (/[\n\r\0]/.test(password)) throw new Error(`import: the password for ${i.mailbox} must be one line`);
        return [
            rootFile(`${IMPORT_CONF_DIR}/${i.mailbox}.mbsyncrc`, renderImportRc(i), "0600"),
            rootFile(`${IMPORT_CONF_DIR}/${i.mailbox}.password`, `${password}\n`, "0600"),
        ];
    });
    return [
        rootFile("/usr/local/sbin/mailstack-import", renderTemplate("import/mailstack-import.sh"), "0755"),
        rootFile("/usr/local/lib/mailstack/import-folders.py", renderTemplate("import/import-folders.py"), "0755"),
        rootFile("/usr/local/lib/mailstack/import-oauth2.py", renderTemplate("import/import-oauth2.py"), "0755"),
        ...accounts,
        ...(spec.imports.length > 0
            ? IMPORT_UNITS.map((u) => rootFile(`/etc/systemd/system/${u}`, renderTemplate(`import/${u}`)))
            : []),
    ];
}
