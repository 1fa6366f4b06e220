// Everything that depends on the domains and mailboxes, and the secrets derived from them:
// Postfix lookup tables, Dovecot's passwd-file (as configured) and the senders' passwd-file,
// postsrsd's exclusions, relay credentials.

import { addressOwners, hostPostmaster, type MailSpec } from "../../model";
import { CONFIGURED_USERS, passwordGeneration } from "./mailbox-passwords";
import { renderSendersFile } from "./senders";
import { renderTemplate } from "./template";
import type { HostFile } from "./types";
import { MAILBOX_ROOT } from "./volume";

export interface MailDataSecrets {
    /** Dovecot password hash per login (mailbox or sender), e.g. `{BLF-CRYPT}$2b$12$...`. */
    readonly passwordHashes: Readonly<Record<string, string>>;
    /** The relay's SASL password; required when spec.relay is set. */
    readonly relayPassword?: string;
}

const VMAIL_UID = 5000;
const VMAIL_GID = 5000;

/** Where a mailbox lives on the mail volume (the same path Dovecot's mail_home computes). */
function mailboxHome(address: string): string {
    const at = address.lastIndexOf("@");
    return `${MAILBOX_ROOT}/${address.slice(at + 1)}/${address.slice(0, at)}`;
}

function header(path: string, why: string): string {
    return `# ${path} - rendered by mailstack from the stack config (mail-data). ${why}\n`;
}

function lines(rows: readonly string[]): string {
    return rows.map((r) => `${r}\n`).join("");
}

/** A table row "key value" must not contain anything that would split or comment it. */
function checkToken(value: string, what: string): string {
    if (value === "" || /[\s#:,]/.test(value))
        throw new Error(`mail-data: ${what} "${value}" cannot be written to a lookup table`);
    return value;
}

/** Host-level addresses (root@, postmaster@, abuse@ the host name) go to the first domain's postmaster. */
const HOST_ADDRESSES = ["root", "postmaster", "abuse", "hostmaster", "webmaster", "mailer-daemon"];

/**
 * Port 25 refuses our domains as envelope sender (main.cf check_sender_access), on the
 * primary and on the backup MX alike: our users send through 587/465 with a login.
 */
export function ownSenderDomainsFile(spec: MailSpec): HostFile {
    return {
        path: "/etc/postfix/mailstack/own-sender-domains",
        mode: "0644",
        owner: "root",
        group: "root",
        content:
            header(
                "own-sender-domains",
                "Port 25 refuses our domains as envelope sender: our users authenticate on 587/465.",
            ) +
            lines(
                spec.domains.map(
                    (d) =>
                        `${d.name} REJECT 5.7.1 Mail from ${d.name} is only accepted with authentication on port 587 or 465`,
                ),
            ),
        onChange: ["reload:postfix"],
    };
}

export function renderMailData(spec: MailSpec, secrets: MailDataSecrets): HostFile[] {
    const domains = spec.domains.map((d) => d.name);
    const mailboxes = spec.domains.flatMap((d) => d.mailboxes);

    const missing = mailboxes.filter((m) => !secrets.passwordHashes[m]);
    if (missing.length > 0) throw new Error(`mail-data: no password hash for ${missing.join(", ")}`);
    const extra = Object.keys(secrets.passwordHashes).filter(
        (a) => !mailboxes.includes(a) && !spec.senders.includes(a),
    );
    if (extra.length > 0) throw new Error(`mail-data: password hash for unknown login ${extra.join(", ")}`);
    if (spec.relay && secrets.relayPassword === undefined)
        throw new Error("mail-data: spec.relay is set but no relayPassword was given");

    const virtualDomains = domains.map((d) => `${checkToken(d, "domain")} OK`);
    const virtualMailboxes = mailboxes.map((m) => {
        const at = m.lastIndexOf("@");
        return `${checkToken(m, "mailbox")} ${m.slice(at + 1)}/${m.slice(0, at)}/Maildir/`;
    });

    // Aliases from the config, then addresses every domain must have (RFC 2142 abuse@) when
    // the config does not define them, then a catch-all domain's mailboxes and its @domain
    // row, then the host's own addresses.
    const aliasRows: string[] = [];
    for (const d of spec.domains) {
        const defined = new Set([...d.mailboxes, ...d.aliases.map((a) => a.address)]);
        for (const a of d.aliases)
            aliasRows.push(
                `${checkToken(a.address, "alias")} ${a.targets.map((t) => checkToken(t, "alias target")).join(",")}`,
            );
        if (!defined.has(`abuse@${d.name}`)) aliasRows.push(`abuse@${d.name} postmaster@${d.name}`);
        if (d.catchAll !== undefined) {
            if (!d.mailboxes.includes(d.catchAll))
                throw new Error(`mail-data: the catch-all ${d.catchAll} is not a mailbox of ${d.name}`);
            // Postfix looks up user@domain before @domain (virtual(5)), but a mailbox is only in
            // virtual-mailboxes: without a row of its own here the catch-all would take its mail.
            // Aliases (and abuse@ above) have their rows; each mailbox gets one to itself.
            for (const m of d.mailboxes) aliasRows.push(`${m} ${m}`);
            aliasRows.push(`@${checkToken(d.name, "domain")} ${checkToken(d.catchAll, "catch-all")}`);
        }
    }
    const firstPostmaster = hostPostmaster(spec);
    for (const local of HOST_ADDRESSES) aliasRows.push(`${local}@${spec.hostname} ${firstPostmaster}`);

    const logins = [...addressOwners(spec)].map(([address, owners]) => `${address} ${owners.join(",")}`);

    const users = mailboxes.map((m) => {
        const hash = secrets.passwordHashes[m];
        if (/[:\n]/.test(hash) || !/^\{[A-Z0-9-]+\}/.test(hash))
            throw new Error(`mail-data: the password hash for ${m} is not a {SCHEME}hash value`);
        const domain = spec.domains.find((d) => d.mailboxes.includes(m))!;
        // The last field: userdb extra fields; the quota limit (dovecot.conf, quota "User quota").
        const quota = checkToken(domain.mailboxQuotas[m], "quota");
        // The gecos field (Dovecot ignores it) holds the generation: mailstack-passwords keeps
        // a password the user set while it names the generation the user replaced.
        const generation = passwordGeneration(hash, domain.passwordResets[m]);
        return `${m}:${hash}:${VMAIL_UID}:${VMAIL_GID}:${generation}:${mailboxHome(m)}::userdb_quota_storage_size=${quota}`;
    });

    // Always written, so removing the relay from the config also removes its password here.
    let relayCredentials = "# No relay configured: mail goes straight to each recipient's MX.\n";
    if (spec.relay) {
        const password = secrets.relayPassword ?? "";
        // buildSpec refuses these up front (the username; the password's shape in readStackConfig).
        if (/[\n\r]/.test(password) || /[\s:]/.test(spec.relay.username))
            throw new Error('mail-data: relay credentials must be one line without spaces or ":" in the user name');
        relayCredentials = `[${spec.relay.host}]:${spec.relay.port} ${spec.relay.username}:${password}\n`;
    }

    return [
        {
            path: "/etc/postfix/mailstack/virtual-domains",
            mode: "0644",
            owner: "root",
            group: "root",
            content: header("virtual-domains", "Domains we receive mail for.") + lines(virtualDomains),
            onChange: ["reload:postfix"],
        },
        {
            path: "/etc/postfix/mailstack/virtual-mailboxes",
            mode: "0644",
            owner: "root",
            group: "root",
            content: header("virtual-mailboxes", "Addresses delivered to a Dovecot mailbox.") + lines(virtualMailboxes),
            onChange: ["reload:postfix"],
        },
        {
            path: "/etc/postfix/mailstack/virtual-aliases",
            mode: "0644",
            owner: "root",
            group: "root",
            content:
                header("virtual-aliases", "Alias -> targets; host addresses reach the first domain's postmaster.") +
                lines(aliasRows),
            onChange: ["reload:postfix"],
        },
        {
            path: "/etc/postfix/mailstack/sender-logins",
            mode: "0644",
            owner: "root",
            group: "root",
            content: header("sender-logins", "Envelope sender -> the logins allowed to use it.") + lines(logins),
            onChange: ["reload:postfix"],
        },
        ownSenderDomainsFile(spec),
        renderSendersFile(spec, secrets.passwordHashes),
        {
            // Not what Dovecot reads: mailstack-passwords writes /etc/dovecot/users from it and
            // the passwords users set themselves (mailbox-passwords.ts).
            path: CONFIGURED_USERS,
            mode: "0600",
            owner: "root",
            group: "root",
            content: lines(users),
            onChange: ["apply:passwords"],
        },
        {
            path: "/etc/default/postsrsd",
            mode: "0644",
            owner: "root",
            group: "root",
            content: renderTemplate("postsrsd/postsrsd", {
                hostname: spec.hostname,
                excludeDomains: domains.join(","),
            }),
            onChange: ["restart:postsrsd"],
        },
        {
            path: "/etc/postfix/mailstack/relay-password",
            mode: "0600",
            owner: "root",
            group: "root",
            content: relayCredentials,
            onChange: ["reload:postfix"],
        },
    ];
}
