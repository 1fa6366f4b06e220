// Senders for applications (mailstack:senders): logins that may only submit mail, as their
// own address. Postfix needs nothing new: their rows in sender-logins (addressOwners) hold
// the envelope and the From: header (mailstack-sender-milter) to that address, and the
// submission limit counts them like any login. Dovecot asks their passdb only for Postfix's
// logins (protocol smtp): host-config brings the passdb, mail-data the hashes.

import type { MailSpec } from "../../model";
import { DOVECOT_EXTRA_DIR } from "./dav";
import { renderTemplate } from "./template";
import { hostFile, type HostFile } from "./types";

/** The senders' passwd-file: address:{BLF-CRYPT}hash (0640 root:dovecot), from mail-data. */
export const DOVECOT_SENDERS = "/etc/dovecot/senders";
/** Its passdb, for protocol smtp only; dovecot.conf includes the directory. */
export const SENDERS_CONF = `${DOVECOT_EXTRA_DIR}/senders.conf`;

/** The passdb (host-config): the same on every server, with or without senders. */
export function renderSendersConf(): HostFile[] {
    return [
        hostFile(
            SENDERS_CONF,
            renderTemplate("dovecot/senders.conf", { path: SENDERS_CONF, senders: DOVECOT_SENDERS }),
            ["reload:dovecot"],
        ),
    ];
}

/** The passwd-file rows (mail-data): each sender with its hash, in config order. */
export function renderSendersFile(spec: MailSpec, passwordHashes: Readonly<Record<string, string>>): HostFile {
    const rows = spec.senders.map((s) => {
        const hash = passwordHashes[s];
        if (hash === undefined) throw new Error(`mail-data: no password hash for the sender ${s}`);
        if (/[:\n]/.test(hash) || !/^\{[A-Z0-9-]+\}/.test(hash))
            throw new Error(`mail-data: the password hash for ${s} is not a {SCHEME}hash value`);
        if (/[:\s#]/.test(s)) throw new Error(`mail-data: the sender "${s}" cannot be written to a passwd-file`);
        return `${s}:${hash}\n`;
    });
    return {
        path: DOVECOT_SENDERS,
        mode: "0640",
        owner: "root",
        group: "dovecot",
        content: rows.join(""),
        // Dovecot reads a changed passwd-file at the next login by itself; the reload also
        // empties any authentication cache, so a changed password works, and the old one
        // fails, at once.
        onChange: ["reload:dovecot"],
    };
}
