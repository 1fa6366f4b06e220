// The settings that matter for security, delivery or data, each named with the value it must
// have. The golden files (test/golden/) show every change for review; these tests make sure
// that a reviewed golden update can never be the only guard of such a setting (issue 29).
// They read the rendered files the way the daemons do (a setting's last value wins, master.cf
// overrides main.cf), so a reworded comment or a moved line does not fail them.

import { buildSpec, type MailSpec, type RawConfig } from "../model";
import { renderDkimFiles, renderHostFiles, renderMailData, type HostFile } from "../render";
import { renderBackupFiles } from "../render/host/backup";
import { ACTIVE_UNITS, renderFirstBootFiles, renderLaterFiles } from "../render/features";
import { renderTemplate } from "../render/host/template";
import { renderSecondaryHostFiles } from "../render/features/backup-mx";
import { dmarcValue, mailDnsRecords, spfValue } from "../render/dns/dns-records";
import { sftpBackup, twoDomains } from "./helpers/fixtures";

const HASH = "{BLF-CRYPT}$2b$12$FsG2dsfa7VtRVtJ5nDpC5OXrM8/o1BrWkIzFcMjXgfRPL7Izgzht.";
const PEM = "-----BEGIN PRIVATE KEY-----\nNOT-A-KEY\n-----END PRIVATE KEY-----\n";
/** Not a key: the DNS records only take its base64 apart. */
const DKIM_PUBLIC_KEY = `-----BEGIN PUBLIC KEY-----\n${"A".repeat(392)}\n-----END PUBLIC KEY-----`;

const spec = (extra: Partial<RawConfig> = {}): MailSpec => buildSpec({ ...twoDomains(), ...extra });
const withRelay = (tlsFingerprint?: string) =>
    spec({
        relay: { host: "smtp.relay.example.net", port: 587, username: "mailer", tlsFingerprint },
        hasRelayPassword: true,
    });
const hashesFor = (s: MailSpec) => Object.fromEntries(s.domains.flatMap((d) => d.mailboxes).map((m) => [m, HASH]));

function byPath(files: readonly HostFile[], p: string): HostFile {
    const f = files.find((x) => x.path === p);
    if (!f) throw new Error(`no file ${p}`);
    return f;
}
const hostFile = (p: string, s = spec()) => byPath(renderHostFiles(s), p).content;

// --- Postfix ------------------------------------------------------------------------------

/** main.cf as postconf reads it: continuation lines joined, comments dropped, the last value wins. */
export function postconf(text: string): Map<string, string> {
    const logical: string[] = [];
    for (const line of text.split("\n")) {
        if (/^\s*#/.test(line) || line.trim() === "") continue;
        if (/^\s/.test(line) && logical.length) logical[logical.length - 1] += " " + line.trim();
        else logical.push(line);
    }
    const out = new Map<string, string>();
    for (const l of logical) {
        const m = /^([A-Za-z0-9_]+)\s*=\s*(.*)$/.exec(l);
        if (m) out.set(m[1], m[2].trim());
    }
    return out;
}

interface MasterService {
    readonly name: string;
    readonly type: string;
    readonly command: string;
    /** The `-o name=value` overrides. */
    readonly overrides: Map<string, string>;
}
/** master.cf's services with their -o overrides. */
export function masterServices(text: string): MasterService[] {
    const out: MasterService[] = [];
    for (const line of text.split("\n")) {
        if (/^\s*#/.test(line) || line.trim() === "") continue;
        if (/^\S/.test(line)) {
            const f = line.split(/\s+/);
            out.push({ name: f[0], type: f[1], command: f.slice(7).join(" "), overrides: new Map() });
        } else {
            const o = /^\s+-o\s+([A-Za-z0-9_]+)=(.*)$/.exec(line);
            if (o) out[out.length - 1].overrides.set(o[1], o[2].trim());
        }
    }
    return out;
}

/** Postfix's effective value of a setting for one smtpd service: its -o override, else main.cf. */
function smtpdSetting(service: string, name: string, s = spec()): string | undefined {
    const main = postconf(hostFile("/etc/postfix/main.cf", s));
    const svc = masterServices(hostFile("/etc/postfix/master.cf", s)).find(
        (m) => m.name === service && m.type === "inet",
    );
    if (!svc) throw new Error(`master.cf has no ${service} inet service`);
    const v = svc.overrides.get(name) ?? main.get(name);
    // $name refers to another main.cf parameter (master.cf's -o x=$mailstack_...).
    return v?.startsWith("$") ? main.get(v.slice(1)) : v;
}
const list = (v: string | undefined) => (v ?? "").split(/[\s,]+/).filter((x) => x !== "");

const SMTPD_PORTS = [
    { service: "smtp", port: 25 },
    { service: "submission", port: 587 },
    { service: "submissions", port: 465 },
];

describe("Postfix", () => {
    test("master.cf runs smtpd on exactly ports 25, 587 and 465", () => {
        const smtpd = masterServices(hostFile("/etc/postfix/master.cf")).filter(
            (m) => m.type === "inet" && m.command.startsWith("smtpd"),
        );
        expect(smtpd.map((m) => m.name)).toEqual(SMTPD_PORTS.map((p) => p.service));
    });

    test.each(SMTPD_PORTS)("port $port offers TLS 1.2 and later only, opportunistic and mandatory", ({ service }) => {
        expect(smtpdSetting(service, "smtpd_tls_protocols")).toBe(">=TLSv1.2");
        expect(smtpdSetting(service, "smtpd_tls_mandatory_protocols")).toBe(">=TLSv1.2");
    });

    test.each(SMTPD_PORTS)("port $port offers AUTH only after TLS (smtpd_tls_auth_only = yes)", ({ service }) => {
        expect(smtpdSetting(service, "smtpd_tls_auth_only")).toBe("yes");
    });

    test.each([
        { port: 587, service: "submission", wrapper: undefined, how: "requires STARTTLS" },
        { port: 465, service: "submissions", wrapper: "yes", how: "speaks TLS from the first byte" },
    ])("port $port $how, and requires AUTH before any mail", ({ service, wrapper }) => {
        expect(smtpdSetting(service, "smtpd_tls_wrappermode")).toBe(wrapper);
        expect(smtpdSetting(service, "smtpd_tls_security_level")).toBe("encrypt");
        expect(smtpdSetting(service, "smtpd_sasl_auth_enable")).toBe("yes");
        for (const restriction of ["smtpd_relay_restrictions", "smtpd_client_restrictions"])
            expect(list(smtpdSetting(service, restriction))).toEqual(["permit_sasl_authenticated", "reject"]);
    });

    test("port 25 offers STARTTLS without requiring it, and no AUTH at all", () => {
        expect(smtpdSetting("smtp", "smtpd_tls_security_level")).toBe("may");
        expect(smtpdSetting("smtp", "smtpd_sasl_auth_enable")).toBe("no");
    });

    test("port 25 relays for no one, not even a local process on 127.0.0.1 (loopback is not a trust boundary)", () => {
        expect(list(smtpdSetting("smtp", "smtpd_relay_restrictions"))).toEqual(["reject_unauth_destination"]);
    });

    test("port 25 refuses an unknown recipient at RCPT time, and a full mailbox with 452 through Dovecot's quota-status", () => {
        expect(smtpdSetting("smtp", "smtpd_reject_unlisted_recipient")).toBe("yes");
        const rcpt = list(smtpdSetting("smtp", "smtpd_recipient_restrictions"));
        expect(rcpt).toContain("reject_unlisted_recipient");
        expect(rcpt.slice(-2)).toEqual(["check_policy_service", "unix:private/quota-status"]);
    });

    test("port 25 refuses our own domains as envelope sender from anyone, the machine itself included", () => {
        const senders = list(smtpdSetting("smtp", "smtpd_sender_restrictions"));
        expect(senders).not.toContain("permit_mynetworks");
        expect(senders.slice(-2)).toEqual([
            "check_sender_access",
            "texthash:/etc/postfix/mailstack/own-sender-domains",
        ]);
    });

    test("VRFY does not tell anyone which mailboxes exist", () => {
        expect(postconf(hostFile("/etc/postfix/main.cf")).get("disable_vrfy_command")).toBe("yes");
    });

    test.each(SMTPD_PORTS)(
        "port $port defers mail while a milter is down, never passes it unchecked",
        ({ service }) => {
            expect(smtpdSetting(service, "milter_default_action")).toBe("tempfail");
        },
    );

    test("mail to other servers is sent with DANE; through a relay, only to its verified name or pinned certificate", () => {
        expect(postconf(hostFile("/etc/postfix/main.cf")).get("smtp_tls_security_level")).toBe("dane");
        const main = (s: MailSpec) => postconf(hostFile("/etc/postfix/main.cf", s));
        expect(main(withRelay()).get("smtp_tls_security_level")).toBe("secure");
        expect(
            main(
                withRelay(
                    "a0:9d:d3:66:e7:50:6d:e1:86:2a:8a:1b:40:ed:6b:72:90:a0:90:72:89:e9:83:f2:58:83:c2:1a:b5:02:7f:e4",
                ),
            ).get("smtp_tls_security_level"),
        ).toBe("fingerprint");
    });
});

// --- Dovecot ------------------------------------------------------------------------------

/** dovecot.conf's top-level settings (outside every block); the last value wins. */
function dovecotTopLevel(text: string): Map<string, string> {
    const out = new Map<string, string>();
    let depth = 0;
    for (const raw of text.split("\n")) {
        const line = raw.replace(/^\s*#.*$/, "").trim();
        if (line === "") continue;
        if (depth === 0) {
            const m = /^([A-Za-z0-9_]+)\s*=\s*(.*)$/.exec(line);
            if (m && !line.endsWith("{")) out.set(m[1], m[2].trim());
        }
        depth += (line.match(/\{/g) ?? []).length - (line.match(/\}/g) ?? []).length;
    }
    return out;
}
const dovecot = (s = spec()) => dovecotTopLevel(hostFile("/etc/dovecot/dovecot.conf", s));

/**
 * Every dovecot.conf setting under its blocks' path ("fts flatcurve/commit_limit",
 * "namespace inbox/mailbox Junk/fts_autoindex"); a block opened twice adds to the same path
 * (as Dovecot merges it), and the last value wins.
 */
function dovecotSettings(text: string): Map<string, string> {
    const out = new Map<string, string>();
    const path: string[] = [];
    for (const raw of text.split("\n")) {
        const line = raw.replace(/^\s*#.*$/, "").trim();
        if (line === "") continue;
        const open = /^(.*?)\s*\{$/.exec(line);
        if (open) path.push(open[1]);
        else if (line === "}") path.pop();
        else {
            const m = /^([A-Za-z0-9_]+)\s*=\s*(.*)$/.exec(line);
            if (m) out.set([...path, m[1]].join("/"), m[2].trim());
        }
    }
    return out;
}
const dovecotAll = (s = spec()) => dovecotSettings(hostFile("/etc/dovecot/dovecot.conf", s));

describe("Dovecot", () => {
    test("IMAP, POP3 and ManageSieve require TLS 1.2 or later, and never take a password in clear text", () => {
        const conf = dovecot();
        expect(conf.get("ssl")).toBe("required");
        expect(conf.get("ssl_min_protocol")).toBe("TLSv1.2");
        expect(conf.get("auth_allow_cleartext")).toBe("no");
    });

    test("a message to a full mailbox is refused at RCPT, with a temporary error, so the sender keeps it", () => {
        const conf = dovecot();
        expect(conf.get("lmtp_rcpt_check_quota")).toBe("yes");
        expect(conf.get("quota_full_tempfail")).toBe("yes");
        expect(conf.get("quota_status_overquota")).toMatch(/^"452 /);
    });

    test("mail is indexed for full-text search with the flatcurve backend as it is delivered or appended, in every folder but Junk", () => {
        const conf = dovecotAll();
        expect(conf.get("mail_plugins/fts")).toBe("yes");
        expect(conf.get("mail_plugins/fts_flatcurve")).toBe("yes");
        expect(conf.get("fts_autoindex")).toBe("yes");
        expect(conf.get("namespace inbox/mailbox Junk/fts_autoindex")).toBe("no");
    });

    test("SEARCH BODY and TEXT are answered from the index, complete (what it lacks is indexed first), with IMAP's substring match, and never by reading every message", () => {
        const conf = dovecotAll();
        expect(conf.get("fts_search_add_missing")).toBe("yes");
        expect(conf.get("fts_search_read_fallback")).toBe("no");
        expect(conf.get("fts flatcurve/substring_search")).toBe("yes");
    });

    test('words of one character are indexed (flatcurve\'s default of 2 drops them from the index but not from a query: SUBJECT "away-2-x" found nothing)', () => {
        expect(dovecotAll().get("fts flatcurve/min_term_size")).toBe("1");
    });

    test("words are indexed whatever their language: split into words and whole addresses, lower-cased without accents, never stemmed", () => {
        const conf = dovecotAll();
        expect(list(conf.get("language_tokenizers"))).toEqual(["generic", "email-address"]);
        expect(conf.get("language en/default")).toBe("yes");
        expect(conf.get("language en/filters")).toBe("normalizer-icu");
        expect([...conf.keys()].filter((k) => k.startsWith("language ") && k.endsWith("/default"))).toEqual([
            "language en/default",
        ]);
    });

    test("indexing memory is bounded: at most two indexer processes of 256 MB each, Xapian writing to disk every 500 messages", () => {
        const conf = dovecotAll();
        expect(conf.get("service indexer-worker/process_limit")).toBe("2");
        expect(conf.get("service indexer-worker/vsz_limit")).toBe("256M");
        expect(conf.get("fts flatcurve/commit_limit")).toBe("500");
    });
});

// --- Durability: what a crash must not lose (docs/faults.md, lab/checks/faults.test.ts) ----------

/** A systemd unit file's `Key=value` lines of one section; the last value wins. */
function unitSection(text: string, section: string): Map<string, string> {
    const out = new Map<string, string>();
    let current = "";
    for (const line of text.split("\n")) {
        const head = /^\[(\w+)\]$/.exec(line.trim());
        if (head) current = head[1];
        const m = /^(\w+)=(.*)$/.exec(line.trim());
        if (m && current === section) out.set(m[1], m[2]);
    }
    return out;
}

describe("durability", () => {
    test.each(["postfix", "dovecot"])(
        "%s is started again when its main process dies (Restart=on-failure): Debian's unit leaves it down",
        (unit) => {
            const path = `/etc/systemd/system/${unit}.service.d/restart.conf`;
            const service = unitSection(hostFile(path), "Service");
            expect(service.get("Restart")).toBe("on-failure");
            expect(Number(service.get("RestartSec"))).toBeLessThanOrEqual(5);
            // Host-config brings it; the user-data (32 KiB) has no room to spare.
            expect(renderFirstBootFiles(spec()).map((f) => f.path)).not.toContain(path);
            expect(byPath(renderHostFiles(spec()), path).onChange).toEqual(["daemon-reload"]);
        },
    );

    test("systemd knows Postfix's master by its pid file, and starts it again when it dies, on the primary and the backup MX (without PIDFile= systemd may guess no main PID, and a dead master then goes unnoticed)", () => {
        const withBackupMx = spec({ secondaryMx: { hostname: "mx2.nathabee.de", location: "fsn1" } });
        for (const files of [renderHostFiles(spec()), renderSecondaryHostFiles(withBackupMx)]) {
            const pid = byPath(files, "/etc/systemd/system/postfix.service.d/main-pid.conf");
            // Where the master writes it: queue_directory/pid/master.pid.
            expect(unitSection(pid.content, "Service").get("PIDFile")).toBe("/var/spool/postfix/pid/master.pid");
            expect(pid.onChange).toEqual(["daemon-reload"]);
            const restart = unitSection(
                byPath(files, "/etc/systemd/system/postfix.service.d/restart.conf").content,
                "Service",
            );
            expect(restart.get("Restart")).toBe("on-failure");
        }
        expect(renderFirstBootFiles(spec()).map((f) => f.path)).not.toContain(
            "/etc/systemd/system/postfix.service.d/main-pid.conf",
        );
    });

    test("a stopped Postfix is waited for 15 s at most, on the primary and the backup MX (systemd's 90 s cost a lab stop and shutdown 90 s, issue 33)", () => {
        const path = "/etc/systemd/system/postfix.service.d/stop.conf";
        const withBackupMx = spec({ secondaryMx: { hostname: "mx2.nathabee.de", location: "fsn1" } });
        for (const files of [renderHostFiles(spec()), renderSecondaryHostFiles(withBackupMx)]) {
            const service = unitSection(byPath(files, path).content, "Service");
            // More than postfix-script's own 5 s before it kills what is left.
            expect(service.get("TimeoutStopSec")).toBe("15s");
            expect(byPath(files, path).onChange).toEqual(["daemon-reload"]);
        }
        expect(renderFirstBootFiles(spec()).map((f) => f.path)).not.toContain(path);
    });

    test("a killed rspamd is started again within 15 s of systemd's wait, on the primary and the backup MX (its default 90 s kept it down in a lab fault run)", () => {
        const path = "/etc/systemd/system/rspamd.service.d/stop.conf";
        const withBackupMx = spec({ secondaryMx: { hostname: "mx2.nathabee.de", location: "fsn1" } });
        for (const files of [renderHostFiles(spec()), renderSecondaryHostFiles(withBackupMx)]) {
            expect(unitSection(byPath(files, path).content, "Service").get("TimeoutStopSec")).toBe("15s");
            expect(byPath(files, path).onChange).toEqual(["daemon-reload"]);
        }
    });

    test("Dovecot fsyncs each delivered message, and new/ after the rename, before LMTP answers 250 (mail_fsync = optimized)", () => {
        expect(dovecot().get("mail_fsync")).toBe("optimized");
    });

    test("the mail volume keeps ext4's journal order and write barriers, which Postfix's and Dovecot's fsyncs rely on", () => {
        const mount = unitSection(renderTemplate("systemd/srv-mail.mount", { mailVolumeDevice: "/dev/x" }), "Mount");
        expect(mount.get("Type")).toBe("ext4");
        const options = (mount.get("Options") ?? "").split(",");
        for (const risky of ["nobarrier", "barrier=0", "data=writeback", "async", "journal_async_commit"])
            expect(options).not.toContain(risky);
        expect(options.filter((o) => /^(data|commit|barrier)=/.test(o))).toEqual([]);
    });
});

// --- OpenDKIM -----------------------------------------------------------------------------

/** opendkim.conf: `Key value`, the last value wins. */
function opendkimConf(text: string): Map<string, string> {
    const out = new Map<string, string>();
    for (const line of text.split("\n")) {
        const m = /^([A-Za-z]+)\s+(.*)$/.exec(line.trim());
        if (m && !line.trim().startsWith("#")) out.set(m[1], m[2].trim());
    }
    return out;
}

describe("OpenDKIM", () => {
    const conf = () => opendkimConf(hostFile("/etc/opendkim.conf"));

    test("signs outgoing mail and verifies incoming mail (Mode sv)", () => {
        expect(conf().get("Mode")).toBe("sv");
    });

    test("oversigns From, so a From header added in transit breaks the signature", () => {
        expect(list(conf().get("OversignHeaders"))).toContain("From");
    });

    test("refuses a key file that others can read, and signs with the domain's key from the KeyTable", () => {
        expect(conf().get("RequireSafeKeys")).toBe("yes");
        expect(conf().get("KeyTable")).toBe("/etc/opendkim/key.table");
        expect(conf().get("SigningTable")).toBe("refile:/etc/opendkim/signing.table");
    });
});

// --- nginx --------------------------------------------------------------------------------

/** The `server { ... }` blocks of an nginx file, as text. */
function serverBlocks(text: string): string[] {
    const blocks: string[] = [];
    const re = /^\s*server\s*\{/gm;
    for (let m = re.exec(text); m; m = re.exec(text)) {
        let depth = 0;
        let i = text.indexOf("{", m.index);
        const start = i;
        for (; i < text.length; i++) {
            if (text[i] === "{") depth++;
            else if (text[i] === "}" && --depth === 0) break;
        }
        blocks.push(text.slice(start, i + 1));
    }
    return blocks;
}

describe("nginx", () => {
    const files = renderHostFiles(spec());
    const nginxFiles = files.filter((f) => f.path.startsWith("/etc/nginx/"));
    const settings = "/etc/nginx/snippets/mailstack-tls-settings.conf";
    // The certbot deploy hook writes the server blocks of the further certificates.
    const deployHook = byPath(files, "/etc/letsencrypt/renewal-hooks/deploy/50-mailstack").content;

    test("offers exactly TLS 1.2 and TLS 1.3, in the one snippet every HTTPS server includes", () => {
        const protocols = [...nginxFiles, { path: "deploy hook", content: deployHook }].flatMap((f) =>
            [...f.content.matchAll(/^\s*ssl_protocols\s+([^;]*);/gm)].map((m) => `${f.path}: ${m[1].trim()}`),
        );
        expect(protocols).toEqual([`${settings}: TLSv1.2 TLSv1.3`]);
    });

    test("every server on 443, including the deploy hook's, includes the TLS settings", () => {
        const tls = byPath(files, "/etc/nginx/snippets/mailstack-tls.conf").content;
        expect(tls).toMatch(new RegExp(`^include ${settings};$`, "m"));
        const servers = [...nginxFiles.map((f) => f.content), deployHook].flatMap(serverBlocks);
        const https = servers.filter((b) => /listen\s+(\[::\]:)?443\s+ssl/.test(b));
        expect(https.length).toBeGreaterThanOrEqual(5);
        for (const b of https)
            expect(b).toMatch(
                new RegExp(`include (/etc/nginx/snippets/mailstack-tls\\.conf|${settings.replace(/\./g, "\\.")});`),
            );
    });

    test("tells browsers to use HTTPS only (HSTS) and keeps session tickets off", () => {
        const text = byPath(files, settings).content;
        expect(text).toMatch(/^add_header Strict-Transport-Security "max-age=\d{8,}" always;$/m);
        expect(text).toMatch(/^ssl_session_tickets off;$/m);
    });
});

// --- Other daemons ------------------------------------------------------------------------

describe("SSH, Valkey and rspamd", () => {
    test("sshd takes keys only: no passwords, no keyboard-interactive, root only with a key", () => {
        const conf = hostFile("/etc/ssh/sshd_config.d/00-mailstack.conf");
        const value = (k: string) => new RegExp(`^${k}\\s+(\\S+)$`, "m").exec(conf)?.[1];
        expect(value("PasswordAuthentication")).toBe("no");
        expect(value("KbdInteractiveAuthentication")).toBe("no");
        expect(value("PermitEmptyPasswords")).toBe("no");
        expect(value("PermitRootLogin")).toBe("prohibit-password");
    });

    const loopback = (addr: string) => /^(-?(127\.0\.0\.1|::1|\[::1\]|localhost)(:\d+)?|\/.*)$/.test(addr);

    test("Valkey listens on loopback only", () => {
        const conf = hostFile("/etc/valkey/valkey.conf");
        const binds = [...conf.matchAll(/^bind\s+(.*)$/gm)].flatMap((m) => m[1].trim().split(/\s+/));
        const port = /^port\s+(\d+)$/m.exec(conf)?.[1];
        // Either TCP on loopback addresses only, or no TCP at all (port 0).
        if (port !== "0") {
            expect(binds.length).toBeGreaterThan(0);
            for (const b of binds) expect(loopback(b)).toBe(true);
        }
        expect(/^protected-mode\s+(\S+)$/m.exec(conf)?.[1]).toBe("yes");
    });

    test("rspamd's workers (the controller among them) listen on loopback only", () => {
        const workers = renderHostFiles(spec()).filter((f) => /^\/etc\/rspamd\/local\.d\/worker-/.test(f.path));
        expect(workers.map((f) => f.path)).toContain("/etc/rspamd/local.d/worker-controller.inc");
        for (const f of workers)
            for (const m of f.content.matchAll(/^\s*bind_socket\s*=\s*"([^"]*)"/gm))
                expect(`${f.path}: ${loopback(m[1])}`).toBe(`${f.path}: true`);
    });

    test("rspamd refuses a message whose domain asks for it (DMARC p=reject) and marks p=quarantine as spam", () => {
        const conf = hostFile("/etc/rspamd/local.d/dmarc.conf");
        expect(conf).toMatch(/^\s*reject\s*=\s*"reject";$/m);
        expect(conf).toMatch(/^\s*quarantine\s*=\s*"add_header";$/m);
    });
});

// --- Files that hold secrets --------------------------------------------------------------

describe("local accounts and port 25 elsewhere", () => {
    const nft = () => hostFile("/etc/mailstack/smtp-egress-guard.nft");

    test("only Postfix's SMTP client and root may open connections to another server's port 25; every other account is refused at once", () => {
        expect(nft()).toMatch(/^\s*tcp dport 25 meta skuid != \{ root, postfix \} counter reject with tcp reset$/m);
        // Loopback's port 25 is Postfix's own, which relays for no one.
        expect(nft()).toMatch(/^\s*oifname "lo" accept$/m);
    });

    test("the guard is a unit that must be active, brought by host-config (its rule names the postfix user, which the first boot does not have yet)", () => {
        expect(ACTIVE_UNITS).toContain("mailstack-smtp-egress-guard");
        expect(renderLaterFiles(spec()).map((f) => f.path)).toEqual(
            expect.arrayContaining([
                "/etc/mailstack/smtp-egress-guard.nft",
                "/etc/systemd/system/mailstack-smtp-egress-guard.service",
            ]),
        );
        expect(byPath(renderHostFiles(spec()), "/etc/mailstack/smtp-egress-guard.nft").onChange).toEqual([
            "restart:smtp-egress-guard",
        ]);
    });
});

describe("files that hold secrets are readable only by who needs them", () => {
    test("DKIM private keys: 0600, owned by opendkim", () => {
        const s = spec();
        const keys = renderDkimFiles(s, {
            privateKeysPem: Object.fromEntries(s.domains.map((d) => [d.name, PEM])),
        }).filter((f) => f.content.includes("PRIVATE KEY"));
        expect(keys).toHaveLength(s.domains.length);
        for (const k of keys) expect([k.path, k.mode, k.owner]).toEqual([k.path, "0600", "opendkim"]);
    });

    test("the configured password hashes and the relay password: 0600 root (Dovecot's passwd-file is written on the server)", () => {
        const s = withRelay();
        const files = renderMailData(s, { passwordHashes: hashesFor(s), relayPassword: "relay-secret" });
        const users = byPath(files, "/etc/dovecot/configured-users");
        expect([users.mode, users.owner, users.group]).toEqual(["0600", "root", "root"]);
        const relay = byPath(files, "/etc/postfix/mailstack/relay-password");
        expect(relay.content).toContain("relay-secret");
        expect([relay.mode, relay.owner, relay.group]).toEqual(["0600", "root", "root"]);
    });

    test("the backup's password, credentials and SSH key: 0600 root", () => {
        const s = spec(sftpBackup());
        const secret = "backup-secret-value";
        const files = renderBackupFiles(s, {
            password: secret,
            sshPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nNOT-A-KEY\n-----END OPENSSH PRIVATE KEY-----\n",
        });
        const holding = files.filter((f) => f.content.includes(secret) || f.content.includes("PRIVATE KEY"));
        expect(holding.length).toBeGreaterThanOrEqual(2);
        for (const f of holding) expect([f.path, f.mode, f.owner]).toEqual([f.path, "0600", "root"]);
    });
});

// --- DNS ----------------------------------------------------------------------------------

describe("DNS", () => {
    const records = (s: MailSpec, domain: MailSpec["domains"][number]) =>
        mailDnsRecords(s, domain, { ipv4: "192.0.2.1", ipv6: "2001:db8::1", dkimPublicKeyPem: DKIM_PUBLIC_KEY });
    const txt = (content = "") => [...content.matchAll(/"([^"]*)"/g)].map((m) => m[1]).join("");

    test("each domain publishes one SPF record, ending in exactly one -all, after the extra mechanisms", () => {
        const s = spec({
            domains: [
                {
                    ...(twoDomains().domains as Record<string, unknown>[])[0],
                    spf: { extra: ["include:_spf.example.net", "ip4:198.51.100.7"] },
                },
                (twoDomains().domains as Record<string, unknown>[])[1],
            ],
        });
        for (const d of s.domains) {
            const spf = records(s, d)
                .filter((r) => r.type === "TXT" && r.name === d.name)
                .map((r) => txt(r.content))
                .filter((t) => t.startsWith("v=spf1"));
            expect(spf).toEqual([spfValue(d)]);
            const terms = spf[0].split(" ");
            expect(terms.filter((t) => /^[+~?-]?all$/i.test(t))).toEqual(["-all"]);
            expect(terms[terms.length - 1]).toBe("-all");
            expect(terms.slice(0, terms.length - 1)).toEqual(["v=spf1", "mx", ...d.spfExtra]);
        }
        expect(s.domains[0].spfExtra).toEqual(["include:_spf.example.net", "ip4:198.51.100.7"]);
    });

    test.each(["none", "quarantine", "reject"] as const)("DMARC publishes the configured policy p=%s", (policy) => {
        const base = twoDomains().domains as Record<string, unknown>[];
        const s = spec({ domains: [{ ...base[0], dmarc: { policy } }, base[1]] });
        const d = s.domains[0];
        expect(dmarcValue(d)).toMatch(new RegExp(`^v=DMARC1; p=${policy};`));
        const published = records(s, d).filter((r) => r.name === `_dmarc.${d.name}`);
        expect(published.map((r) => txt(r.content))).toEqual([dmarcValue(d)]);
    });
});

// --- Names --------------------------------------------------------------------------------

describe("mailbox names", () => {
    test("an upper-case mailbox in the config is a lower-case address in the model, the maps and Dovecot's passwd-file", () => {
        const base = twoDomains().domains as Record<string, unknown>[];
        const s = spec({
            domains: [{ ...base[0], mailboxes: ["Evaluation", "FREEBUS"] }, base[1]],
            passwords: { "Evaluation@Nathabee.de": "a-long-enough-password" },
        } as Partial<RawConfig>);
        expect(s.domains[0].mailboxes).toEqual(["evaluation@nathabee.de", "freebus@nathabee.de"]);
        expect(Object.keys(s.domains[0].mailboxQuotas)).toEqual(["evaluation@nathabee.de", "freebus@nathabee.de"]);
        const files = renderMailData(s, { passwordHashes: hashesFor(s) });
        for (const f of files) expect(`${f.path}: ${/Evaluation|FREEBUS/.test(f.content)}`).toBe(`${f.path}: false`);
        expect(byPath(files, "/etc/postfix/mailstack/virtual-mailboxes").content).toMatch(/^evaluation@nathabee\.de /m);
        expect(byPath(files, "/etc/dovecot/configured-users").content).toMatch(/^freebus@nathabee\.de:/m);
    });
});
