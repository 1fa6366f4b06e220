// The "old provider" of the import check (lab/checks/import.test.ts): a real IMAP server in
// msl-out holding a Gmail-like account, as a user moving in would have at Gmail. It is Debian
// 13's own Dovecot (2.4), installed from the lab image's offline repository into a copy of
// the image on the lab's tmpfs and run chrooted in its own mount and PID namespaces, as the
// Storage Box's sshd is (lab/storagebox.ts): nothing is installed on or listens on the host.
//
// imap.oldmail.test (NET.oldImap4) has a lab-CA certificate, which the server trusts like a
// public CA's; badcert.oldmail.test (NET.oldImapBadCert4) the same Dovecot with a self-signed
// one, for the certificate that does not verify. Its mailboxes are Maildirs written directly
// (fast, and exact: the file's mtime is the INTERNALDATE, its name carries the flags).

import * as fs from "node:fs";
import * as path from "node:path";
import { labCaCertificate } from "./acme";
import { imageTarball, labTmpfs } from "./harness/container";
import { NET, startOutsideProcess } from "./harness/net";
import { readPid, sh, sleep } from "./harness/processes";

/** The old account, as the stack config's mailstack:imports names it. */
export const OLD_ACCOUNT = {
    host: "imap.oldmail.test",
    user: "alice@gmail.test",
    password: "old-account-app-password",
};
export const OLD_BAD_CERT_HOST = "badcert.oldmail.test";
const UID = 2002;

/** A folder of the old account: its name there (as IMAP lists it, decoded), special-use, where it must land. */
export interface OldFolder {
    readonly name: string;
    /** The Maildir++ directory under Maildir/ ("" is INBOX). */
    readonly dir: string;
    readonly specialUse?: string;
    /** Where the import puts it on our server, or undefined when it is left out. */
    readonly ours?: string;
}

/** A Gmail-like account: system folders under [Gmail] with special-use, labels, a modified-UTF-7 name. */
export const OLD_FOLDERS: readonly OldFolder[] = [
    { name: "INBOX", dir: "", ours: "INBOX" },
    { name: "[Gmail]/All Mail", dir: ".[Gmail].All Mail", specialUse: "\\All", ours: "Archive" },
    { name: "[Gmail]/Sent Mail", dir: ".[Gmail].Sent Mail", specialUse: "\\Sent", ours: "Sent" },
    { name: "[Gmail]/Drafts", dir: ".[Gmail].Drafts", specialUse: "\\Drafts", ours: "Drafts" },
    { name: "[Gmail]/Trash", dir: ".[Gmail].Trash", specialUse: "\\Trash", ours: "Trash" },
    { name: "[Gmail]/Spam", dir: ".[Gmail].Spam", specialUse: "\\Junk", ours: "Junk" },
    // A view of mail held in other folders: importing it would duplicate that mail.
    { name: "[Gmail]/Starred", dir: ".[Gmail].Starred", specialUse: "\\Flagged" },
    { name: "Work", dir: ".Work", ours: "Work" },
    { name: "Work/Projekte", dir: ".Work.Projekte", ours: "Work/Projekte" },
    // "Ärger" in modified UTF-7 (RFC 3501 5.1.3), as it is on disk and on the wire.
    { name: "Ärger", dir: ".&AMQ-rger", ours: "Ärger" },
];

/** Maildir info flags -> IMAP flags. */
export const MAILDIR_FLAGS: Readonly<Record<string, string>> = {
    S: "\\Seen",
    R: "\\Answered",
    F: "\\Flagged",
    D: "\\Draft",
};

const root = () => path.join(labTmpfs(), "oldmail");
const maildir = () => path.join(root(), "home", "alice", "Maildir");

export function oldProviderConfig(): string {
    const mailbox = (f: OldFolder) =>
        f.specialUse ? [`  mailbox "${f.name}" {`, `    special_use = ${f.specialUse}`, "  }"] : [];
    return [
        "# The lab's old provider (lab/oldmail.ts): one Gmail-like account over IMAPS.",
        "dovecot_config_version = 2.4.0",
        "dovecot_storage_version = 2.4.0",
        "protocols = imap",
        `listen = ${NET.oldImap4}, ${NET.oldImapBadCert4}`,
        "log_path = /dev/stderr",
        "ssl = required",
        "ssl_server_cert_file = /etc/dovecot/oldmail/imap.pem",
        "ssl_server_key_file = /etc/dovecot/oldmail/imap.key",
        `local ${NET.oldImapBadCert4} {`,
        "  ssl_server_cert_file = /etc/dovecot/oldmail/selfsigned.pem",
        "  ssl_server_key_file = /etc/dovecot/oldmail/selfsigned.key",
        "}",
        "auth_mechanisms = plain login",
        "passdb passwd-file {",
        "  passwd_file_path = /etc/dovecot/oldmail/users",
        "}",
        "userdb passwd-file {",
        "  passwd_file_path = /etc/dovecot/oldmail/users",
        "}",
        `first_valid_uid = ${UID}`,
        "mail_driver = maildir",
        "mail_path = ~/Maildir",
        "namespace inbox {",
        "  inbox = yes",
        "  separator = /",
        ...OLD_FOLDERS.flatMap(mailbox),
        "}",
        "service imap-login {",
        "  inet_listener imap {",
        "    port = 0",
        "  }",
        "  inet_listener imaps {",
        "    port = 993",
        "  }",
        "}",
        "",
    ].join("\n");
}

/** The old provider's root: a copy of the lab image with Debian's dovecot-imapd, once per lab run. */
async function oldProviderRoot(): Promise<string> {
    const dir = root();
    const conf = path.join(dir, "etc/dovecot/oldmail");
    if (fs.existsSync(path.join(dir, "usr/sbin/dovecot")) && fs.existsSync(conf)) return dir;
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir);
    sh("tar", ["-C", dir, "--numeric-owner", "-xf", await imageTarball()]);
    // Offline, from the image's own repository; no daemon starts inside the chroot.
    fs.writeFileSync(path.join(dir, "usr/sbin/policy-rc.d"), "#!/bin/sh\nexit 101\n", { mode: 0o755 });
    sh("chroot", [dir, "apt-get", "install", "-y", "-q", "--no-install-recommends", "dovecot-imapd"], {
        timeoutMs: 300_000,
    });
    fs.mkdirSync(conf, { recursive: true, mode: 0o755 });
    labCaCertificate(conf, "imap", [OLD_ACCOUNT.host]);
    sh("openssl", [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        `/CN=${OLD_BAD_CERT_HOST}`,
        "-addext",
        `subjectAltName=DNS:${OLD_BAD_CERT_HOST}`,
        "-keyout",
        path.join(conf, "selfsigned.key"),
        "-out",
        path.join(conf, "selfsigned.pem"),
    ]);
    fs.writeFileSync(
        path.join(conf, "users"),
        `${OLD_ACCOUNT.user}:{PLAIN}${OLD_ACCOUNT.password}:${UID}:${UID}::/home/alice::\n`,
        { mode: 0o644 },
    );
    fs.writeFileSync(path.join(dir, "etc/dovecot/dovecot.conf"), oldProviderConfig());
    fs.mkdirSync(path.join(dir, "home/alice"), { recursive: true });
    for (const f of OLD_FOLDERS)
        for (const sub of ["cur", "new", "tmp"]) fs.mkdirSync(path.join(maildir(), f.dir, sub), { recursive: true });
    sh("chown", ["-R", `${UID}:${UID}`, path.join(dir, "home/alice")]);
    return dir;
}

/** One message of the old account. */
export interface OldMessage {
    readonly folder: OldFolder;
    readonly subject: string;
    /** Maildir info flags, e.g. "FS". */
    readonly flags: string;
    /** INTERNALDATE, whole seconds. */
    readonly date: Date;
}

let serial = 0;

/**
 * Write `count` messages spread over the folders (with flags and dates that vary), `tag` in each
 * subject. Dovecot sees them as any Maildir delivery. Returns what was written.
 */
export function seedOldAccount(count: number, tag: string): OldMessage[] {
    const written: OldMessage[] = [];
    const flagSets = ["", "S", "FS", "RS", "S", "DS"];
    for (let i = 0; i < count; i++) {
        const folder = OLD_FOLDERS[i % OLD_FOLDERS.length];
        const n = serial++;
        const flags = folder.name === "[Gmail]/Drafts" ? "DS" : flagSets[n % flagSets.length];
        const date = new Date(Date.UTC(2019 + (n % 6), n % 12, 1 + (n % 28), 8 + (n % 10), n % 60, 0));
        const subject = `${tag} ${n}`;
        const text = [
            `From: sender${n % 17}@oldmail.test`,
            `To: ${OLD_ACCOUNT.user}`,
            `Subject: ${subject}`,
            `Message-ID: <${tag}-${n}@oldmail.test>`,
            `Date: ${date.toUTCString().replace("GMT", "+0000")}`,
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "",
            `Message ${n} of the old account, in ${folder.name}.`,
            "",
        ].join("\r\n");
        const file = path.join(
            maildir(),
            folder.dir,
            "cur",
            `${Math.floor(date.getTime() / 1000)}.M${n}P1.oldmail:2,${flags}`,
        );
        fs.writeFileSync(file, text);
        fs.utimesSync(file, date, date);
        fs.chownSync(file, UID, UID);
        written.push({ folder, subject, flags, date });
    }
    return written;
}

/** Start the old provider in msl-out (first call: builds its root); resolves when Dovecot listens. */
export async function startOldProvider(): Promise<number> {
    const dir = await oldProviderRoot();
    const running = readPid("oldmail");
    if (running !== undefined) return running;
    const inside =
        'mount --bind /dev "$1/dev" && mount -t proc proc "$1/proc" && exec chroot "$1" /usr/sbin/dovecot -F';
    return startOutsideProcess(
        "oldmail",
        ["unshare", "--mount", "--pid", "--fork", "--kill-child", "bash", "-c", inside, "oldmail", dir],
        /starting up for imap/,
        {},
        "KILL",
    );
}

/** Stop it by its recorded PID (unshare ignores SIGTERM; --kill-child ends Dovecot). */
export async function stopOldProvider(): Promise<void> {
    const pid = readPid("oldmail");
    if (pid === undefined) return;
    process.kill(pid, "SIGKILL");
    const start = Date.now();
    while (readPid("oldmail") !== undefined) {
        if (Date.now() - start > 10_000) throw new Error("the lab's old provider did not stop");
        await sleep(100);
    }
}

/** How many messages the old account holds (every folder's cur/ and new/), read on the host. */
export function oldMessageCount(): number {
    return OLD_FOLDERS.reduce(
        (n, f) => n + ["cur", "new"].reduce((k, sub) => k + fs.readdirSync(path.join(maildir(), f.dir, sub)).length, 0),
        0,
    );
}
