// The "old provider" of the import check (lab/checks/import.test.ts): a real IMAP server in
// msl-out holding a Gmail-like account, as a user moving in would have at Gmail. It is Debian
// 13's own Dovecot (2.4), installed from the lab image's offline repository into a copy of
// the image on the lab's tmpfs and run chrooted in its own mount and PID namespaces, as the
// Storage Box's sshd is (lab/world/storagebox.ts): nothing is installed on or listens on the host.
//
// imap.oldmail.test (NET.oldImap4) has a lab-CA certificate, which the server trusts like a
// public CA's; badcert.oldmail.test (NET.oldImapBadCert4) the same Dovecot with a self-signed
// one, for the certificate that does not verify. Its mailboxes are Maildirs written directly
// (fast, and exact: the file's mtime is the INTERNALDATE, its name carries the flags).

import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { labCaCertificate } from "./acme";
import { imageTarball, labTmpfs } from "../harness/container";
import { NET, startOutsideProcess } from "../harness/net";
import { OAUTH2_INTERNAL } from "./oauth2";
import { readPid, sh, stopRecorded } from "../harness/processes";

/** The old account, as the stack config's mailstack:imports names it. */
export const OLD_ACCOUNT = {
    host: "imap.oldmail.test",
    user: "alice@gmail.test",
    password: "old-account-app-password",
};
export const OLD_BAD_CERT_HOST = "badcert.oldmail.test";
const UID = 2002;

/**
 * A Microsoft-365-like account on the same provider: it takes no password over IMAP, only
 * XOAUTH2 with an access token of the lab's OAuth2 provider (lab/world/oauth2.ts), which Dovecot
 * checks there (oauth2_introspection_url).
 */
export const M365_ACCOUNT = { host: "imap.oldmail.test", user: "carol@contoso.test" };

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

/** Microsoft's folders (Outlook's English names, no special-use here): found by name. */
export const M365_FOLDERS: readonly OldFolder[] = [
    { name: "INBOX", dir: "", ours: "INBOX" },
    { name: "Sent Items", dir: ".Sent Items", ours: "Sent" },
    { name: "Deleted Items", dir: ".Deleted Items", ours: "Trash" },
    { name: "Junk Email", dir: ".Junk Email", ours: "Junk" },
    { name: "Archive", dir: ".Archive", ours: "Archive" },
    { name: "Kunden", dir: ".Kunden", ours: "Kunden" },
    // Mail waiting to be sent there: left out.
    { name: "Outbox", dir: ".Outbox" },
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
const m365Maildir = () => path.join(root(), "home", "carol", "Maildir");

export function oldProviderConfig(): string {
    const mailbox = (f: OldFolder) =>
        f.specialUse ? [`  mailbox "${f.name}" {`, `    special_use = ${f.specialUse}`, "  }"] : [];
    return [
        "# The lab's old provider (lab/world/oldmail.ts): one Gmail-like account over IMAPS.",
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
        "auth_mechanisms = plain login xoauth2",
        "passdb passwd-file {",
        "  passwd_file_path = /etc/dovecot/oldmail/users",
        "  mechanisms_filter = plain login",
        "}",
        "# XOAUTH2: the access token is checked at the provider's OAuth2 server (RFC 7662",
        "# introspection), and must be active and issued to the user logging in.",
        "passdb oauth2 {",
        "  mechanisms_filter = xoauth2",
        "}",
        "oauth2_introspection_mode = post",
        `oauth2_introspection_url = ${OAUTH2_INTERNAL}/introspect`,
        "oauth2_username_attribute = email",
        "oauth2_active_attribute = active",
        "oauth2_active_value = true",
        "oauth2_force_introspection = yes",
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
    // carol's password is known to nobody: her account is reached with XOAUTH2 only.
    fs.writeFileSync(
        path.join(conf, "users"),
        `${OLD_ACCOUNT.user}:{PLAIN}${OLD_ACCOUNT.password}:${UID}:${UID}::/home/alice::\n` +
            `${M365_ACCOUNT.user}:{PLAIN}${randomBytes(18).toString("hex")}:${UID}:${UID}::/home/carol::\n`,
        { mode: 0o644 },
    );
    fs.writeFileSync(path.join(dir, "etc/dovecot/dovecot.conf"), oldProviderConfig());
    fs.mkdirSync(path.join(dir, "home/alice"), { recursive: true });
    for (const f of OLD_FOLDERS)
        for (const sub of ["cur", "new", "tmp"]) fs.mkdirSync(path.join(maildir(), f.dir, sub), { recursive: true });
    for (const f of M365_FOLDERS)
        for (const sub of ["cur", "new", "tmp"])
            fs.mkdirSync(path.join(m365Maildir(), f.dir, sub), { recursive: true });
    sh("chown", ["-R", `${UID}:${UID}`, path.join(dir, "home")]);
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
    /** The file's size in bytes. */
    readonly bytes: number;
}

/** How the messages are spread and what they hold (the lab's check: the defaults). */
export interface SeedOptions {
    /**
     * "even": one message per folder in turn (every folder, flag and date is crossed with few
     * messages); "gmail": as a Gmail account is filled, most mail in All Mail, then INBOX and
     * Sent, a little in each label; "all-mail": every message in All Mail.
     */
    readonly layout?: "even" | "gmail" | "all-mail";
    /**
     * "short": one line each (the check); "real": a body of 150 to 900 words drawn from a
     * vocabulary of 20 000 words (a few common, most rare, as in prose), one in ten with a
     * 20-50 KB attachment: about 6 KB a message, for the bench's import and index figures.
     */
    readonly body?: "short" | "real";
    /** The messages (0-based, in this call) that also carry `word` in their text. */
    readonly rare?: { readonly word: string; readonly at: readonly number[] };
}

let serial = 0;

/** A deterministic generator (mulberry32), so that every bench run writes the same mail. */
function random(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

let vocabulary: string[] | undefined;
/** 20 000 made-up words of 3 to 11 letters. */
function words(): string[] {
    if (vocabulary) return vocabulary;
    const rnd = random(31);
    const syllables =
        "ka lo mi ne ru sa te vo bri chen dor fal gun hes jit lum mar nok pel quo rin sol tur wex zan".split(" ");
    const set = new Set<string>();
    while (set.size < 20_000) {
        let w = "";
        for (let k = 1 + Math.floor(rnd() * 4); k > 0; k--) w += syllables[Math.floor(rnd() * syllables.length)];
        set.add(w);
    }
    return (vocabulary = [...set]);
}

/** A body of ordinary text: words picked with a steep (Zipf-like) bias toward the first ones. */
function prose(rnd: () => number, count: number): string {
    const v = words();
    const lines: string[] = [];
    let line: string[] = [];
    for (let i = 0; i < count; i++) {
        line.push(v[Math.floor(v.length * rnd() ** 4)]);
        if (line.length === 12) {
            lines.push(line.join(" "));
            line = [];
        }
    }
    if (line.length) lines.push(line.join(" "));
    return lines.join("\r\n");
}

const GMAIL_WEIGHTS: Readonly<Record<string, number>> = {
    "[Gmail]/All Mail": 60,
    INBOX: 15,
    "[Gmail]/Sent Mail": 10,
    "[Gmail]/Drafts": 1,
    "[Gmail]/Trash": 3,
    "[Gmail]/Spam": 2,
    "[Gmail]/Starred": 2,
    Work: 4,
    "Work/Projekte": 2,
    Ärger: 1,
};

/** The folder of message `i` of a call, by layout. */
function folderOf(layout: NonNullable<SeedOptions["layout"]>, i: number): OldFolder {
    if (layout === "even") return OLD_FOLDERS[i % OLD_FOLDERS.length];
    if (layout === "all-mail") return OLD_FOLDERS.find((f) => f.name === "[Gmail]/All Mail")!;
    // Spread by weight over every 100 messages, the same way each time.
    let k = i % 100;
    for (const f of OLD_FOLDERS) {
        k -= GMAIL_WEIGHTS[f.name] ?? 0;
        if (k < 0) return f;
    }
    return OLD_FOLDERS[0];
}

/**
 * Write `count` messages into the old account's folders (with flags and dates that vary), `tag`
 * in each subject. Dovecot sees them as any Maildir delivery. Returns what was written.
 */
export function seedOldAccount(count: number, tag: string, o: SeedOptions = {}): OldMessage[] {
    const written: OldMessage[] = [];
    const flagSets = ["", "S", "FS", "RS", "S", "DS"];
    const rare = new Set(o.rare?.at ?? []);
    for (let i = 0; i < count; i++) {
        const folder = folderOf(o.layout ?? "even", i);
        const n = serial++;
        const rnd = random(n + 1);
        const flags = folder.name === "[Gmail]/Drafts" ? "DS" : flagSets[n % flagSets.length];
        const date = new Date(Date.UTC(2019 + (n % 6), n % 12, 1 + (n % 28), 8 + (n % 10), n % 60, 0));
        const subject = `${tag} ${n}`;
        const head = [
            `From: sender${n % 17}@oldmail.test`,
            `To: ${OLD_ACCOUNT.user}`,
            `Subject: ${subject}`,
            `Message-ID: <${tag}-${n}@oldmail.test>`,
            `Date: ${date.toUTCString().replace("GMT", "+0000")}`,
            "MIME-Version: 1.0",
        ];
        let text = `Message ${n} of the old account, in ${folder.name}.`;
        if (o.body === "real") text += "\r\n\r\n" + prose(rnd, 150 + Math.floor(rnd() * 750));
        if (rare.has(i)) text += `\r\n\r\nIt was all about the ${o.rare!.word} this year.`;
        const attach = o.body === "real" && n % 10 === 3 ? 15_000 + Math.floor(rnd() * 22_500) : 0;
        const parts = attach
            ? [
                  'Content-Type: multipart/mixed; boundary="b"',
                  "",
                  "--b",
                  "Content-Type: text/plain; charset=utf-8",
                  "",
                  text,
                  "--b",
                  'Content-Type: application/octet-stream; name="scan.bin"',
                  "Content-Transfer-Encoding: base64",
                  "",
                  ...(Buffer.from(Array.from({ length: attach }, () => Math.floor(rnd() * 256)))
                      .toString("base64")
                      .match(/.{1,76}/g) ?? []),
                  "--b--",
                  "",
              ]
            : ["Content-Type: text/plain; charset=utf-8", "", text, ""];
        const message = [...head, ...parts].join("\r\n");
        const file = path.join(
            maildir(),
            folder.dir,
            "cur",
            `${Math.floor(date.getTime() / 1000)}.M${n}P1.oldmail:2,${flags}`,
        );
        writeMaildirFile(file, message, date);
        written.push({ folder, subject, flags, date, bytes: Buffer.byteLength(message) });
    }
    return written;
}

/** One message file of the old provider: its mtime is the INTERNALDATE Dovecot shows. */
function writeMaildirFile(file: string, message: string, date: Date): void {
    fs.writeFileSync(file, message);
    fs.utimesSync(file, date, date);
    fs.chownSync(file, UID, UID);
}

/** Write `count` messages into carol's Microsoft-like folders, one per folder in turn, `tag` in each subject. */
export function seedM365Account(count: number, tag: string): OldMessage[] {
    const written: OldMessage[] = [];
    for (let i = 0; i < count; i++) {
        const folder = M365_FOLDERS[i % M365_FOLDERS.length];
        const n = serial++;
        const flags = ["S", "", "FS", "RS"][n % 4];
        const date = new Date(Date.UTC(2020 + (n % 5), n % 12, 1 + (n % 28), 9, n % 60, 0));
        const message = [
            `From: colleague${n % 5}@contoso.test`,
            `To: ${M365_ACCOUNT.user}`,
            `Subject: ${tag} ${n}`,
            `Message-ID: <${tag}-${n}@contoso.test>`,
            `Date: ${date.toUTCString().replace("GMT", "+0000")}`,
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "",
            `Message ${n} of the Microsoft 365 account, in ${folder.name}.`,
            "",
        ].join("\r\n");
        const file = path.join(
            m365Maildir(),
            folder.dir,
            "cur",
            `${Math.floor(date.getTime() / 1000)}.M${n}P2.m365:2,${flags}`,
        );
        writeMaildirFile(file, message, date);
        written.push({ folder, subject: `${tag} ${n}`, flags, date, bytes: Buffer.byteLength(message) });
    }
    return written;
}

/** Empty every folder of the old account (the provider stopped): the bench starts from nothing. */
export function emptyOldAccount(): void {
    if (readPid("oldmail") !== undefined) throw new Error("stop the old provider before emptying its account");
    fs.rmSync(maildir(), { recursive: true, force: true });
    for (const f of OLD_FOLDERS)
        for (const sub of ["cur", "new", "tmp"]) fs.mkdirSync(path.join(maildir(), f.dir, sub), { recursive: true });
    sh("chown", ["-R", `${UID}:${UID}`, maildir()]);
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
    await stopRecorded("oldmail", "SIGKILL", "the lab's old provider");
}

/** How many messages the old account holds (every folder's cur/ and new/), read on the host. */
export function oldMessageCount(): number {
    return OLD_FOLDERS.reduce(
        (n, f) => n + ["cur", "new"].reduce((k, sub) => k + fs.readdirSync(path.join(maildir(), f.dir, sub)).length, 0),
        0,
    );
}
