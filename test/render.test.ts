// Unit tests of the pure renderers in cloud-init/ and of scripts/commands.ts.
// The daemons' own tools judge the same files in test/host-tools/run.sh.

import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { parse, stringify } from "yaml";
import { addressOwners, buildSpec, type MailSpec, type RawConfig } from "../model";
import {
    MAIL_PACKAGES,
    parseBundle,
    parseBundleRules,
    renderBundle,
    renderDkimFiles,
    renderHostFiles,
    renderMailData,
    renderUserData,
    USER_DATA_LIMIT_BYTES,
    type HostFile,
} from "../render";
import { fill } from "../render/host/template";
import { TLS_DIR } from "../render/host/tls";
import { userDataFiles as userDataEntries } from "./helpers/user-data";
import { FIRST_BOOT_ARCHIVE } from "../render/boot/user-data";
import { DKIM_KEYS_PRUNE } from "../render/host/dkim";
import { MAIL_UNITS, QUOTA_WARNING_SCRIPT, renderLaterFiles } from "../render/features";
import { mountUnitName, VOLUME_STATE_DIRS } from "../render/host/volume";
import { hostKeyFromReport, PROVISIONING_PLAN, renderPackageList } from "../render/plan/plan";
import { WEBMAIL_PACKAGES } from "../render/features";
import { PHP_FPM_UNIT, WEBMAIL_DATABASE, WEBMAIL_NGINX_CONF } from "../render/host/webmail";
import { HOST_CONFIG_PRUNE } from "../render/features";
import { DAV_PRUNE } from "../render/host/dav";
import { remoteCommand } from "../scripts/commands";
import { passwordGeneration } from "../render/host/mailbox-passwords";
import { TEST_PROVISIONAL_HOST_KEY } from "./helpers/host-key";

const DEVICE = "/dev/disk/by-id/scsi-0HC_Volume_123";
const HASH = "{BLF-CRYPT}$2b$12$FsG2dsfa7VtRVtJ5nDpC5OXrM8/o1BrWkIzFcMjXgfRPL7Izgzht.";
const PEM =
    "-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEAtestkeymaterial\n-----END PRIVATE KEY-----\n";

const orgDomain = {
    name: "example.org",
    mailboxes: ["alice", "bob"],
    aliases: {
        postmaster: ["alice@example.org"],
        info: ["alice@example.org", "bob@example.org"],
        team: ["info@example.org"],
        forward: ["someone@example.net"],
    },
};
const comDomain = {
    name: "example.com",
    mailboxes: ["carol"],
    aliases: { postmaster: ["alice@example.org"], abuse: ["carol@example.com"] },
    dkimSelector: "s2026",
};

function spec(overrides: Partial<RawConfig> = {}): MailSpec {
    return buildSpec({
        hostname: "mail.example.org",
        acmeEmail: "hostmaster@example.org",
        sshAllowedCidrs: ["203.0.113.7/32"],
        domains: [orgDomain, comDomain],
        ...overrides,
    });
}
const oneDomain = () => spec({ domains: [orgDomain] });
const RELAY_FINGERPRINT =
    "a0:9d:d3:66:e7:50:6d:e1:86:2a:8a:1b:40:ed:6b:72:90:a0:90:72:89:e9:83:f2:58:83:c2:1a:b5:02:7f:e4";
const withRelay = (host = "smtp.relay.example.net", port = 587, tlsFingerprint?: string) =>
    spec({ relay: { host, port, username: "relayuser", tlsFingerprint }, hasRelayPassword: true });

const hashesFor = (s: MailSpec) => Object.fromEntries(s.domains.flatMap((d) => d.mailboxes).map((m) => [m, HASH]));
const keysFor = (s: MailSpec) => Object.fromEntries(s.domains.map((d) => [d.name, PEM]));
/** The user-data without its provisional SSH host key. */
function withoutHostKey(text: string): string {
    const doc = parse(text) as Record<string, unknown>;
    delete doc.ssh_keys;
    return stringify(doc);
}

const byPath = (files: readonly HostFile[], p: string): HostFile => {
    const f = files.find((x) => x.path === p);
    if (!f) throw new Error(`no file ${p}`);
    return f;
};
/** Table rows without comments. */
const rows = (f: HostFile) => f.content.split("\n").filter((l) => l !== "" && !l.startsWith("#"));

interface WriteFile {
    path: string;
    owner: string;
    permissions: string;
    content: string;
    encoding?: string;
    defer?: boolean;
}
function userDataFiles(text: string): Map<string, string> {
    return new Map(userDataEntries(text).map((f) => [f.path, f.content]));
}

describe("user-data", () => {
    const text = renderUserData(spec(), { mailVolumeDevice: DEVICE, provisionalHostKey: TEST_PROVISIONAL_HOST_KEY });
    const cfg = parse(text) as Record<string, unknown> & {
        write_files: WriteFile[];
        packages: string[];
        runcmd: unknown[];
    };

    it("is a #cloud-config document under Hetzner's 32 KiB limit", () => {
        expect(text.startsWith("#cloud-config\n")).toBe(true);
        expect(Buffer.byteLength(text)).toBeLessThanOrEqual(USER_DATA_LIMIT_BYTES);
    });

    it("is identical for one or two domains and any mailboxes: adding a domain does not replace the server", () => {
        expect(
            renderUserData(oneDomain(), { mailVolumeDevice: DEVICE, provisionalHostKey: TEST_PROVISIONAL_HOST_KEY }),
        ).toBe(text);
        const moreMailboxes = spec({ domains: [{ ...orgDomain, mailboxes: ["alice", "bob", "dave"] }, comDomain] });
        expect(
            renderUserData(moreMailboxes, { mailVolumeDevice: DEVICE, provisionalHostKey: TEST_PROVISIONAL_HOST_KEY }),
        ).toBe(text);
    });

    it("holds no secret and nothing of the domains or mailboxes", () => {
        // The one key in it is the provisional host key (checked in "provisioning plan").
        const everything = [...userDataFiles(text).values()].join("\n") + withoutHostKey(text);
        for (const forbidden of ["PRIVATE KEY", "$2b$", "example.com", "alice", "carol", "relayuser"]) {
            expect(everything).not.toContain(forbidden);
        }
    });

    it("installs the mail packages and runs the first-boot script", () => {
        expect(cfg.packages).toEqual([...MAIL_PACKAGES]);
        expect(cfg.runcmd).toEqual([["/usr/local/sbin/mailstack-first-boot"]]);
        expect(cfg.locale).toBe("C.UTF-8");
        expect(cfg.ssh_pwauth).toBe(false);
    });

    it("writes every host file but the spam filter's, the resolver's and the limits' with the same text, mode and owner as the host-config step, after the packages", () => {
        const files = new Map(userDataEntries(text).map((f) => [f.path, f]));
        // The filter's files come with host-config only (test/filter.test.ts), and so do the
        // resolver's and MTA-STS's (renderOutboundFiles), the limits' and the web files.
        const filter = new Set(renderLaterFiles(spec()).map((f) => f.path));
        for (const f of renderHostFiles(spec(), { firstBoot: true }).filter((h) => !filter.has(h.path))) {
            const written = files.get(f.path)!;
            expect(written.content).toBe(f.content);
            expect(written.mode).toBe(f.mode);
            expect(`${written.owner}:${written.group}`).toBe(`${f.owner}:${f.group}`);
            // In the archive, which first-boot.sh unpacks after the packages.
            expect(written.via).toBe(FIRST_BOOT_ARCHIVE);
            expect(written.deferred).toBe(true);
        }
    });

    it("leaves the certificate's deploy hook, the quota warning and the unattended upgrades' settings to host-config (nothing needs them earlier, and the user-data must fit 32 KiB)", () => {
        const files = userDataFiles(text);
        const later = renderLaterFiles(spec()).map((f) => f.path);
        for (const path of [
            "/etc/letsencrypt/renewal-hooks/deploy/50-mailstack",
            QUOTA_WARNING_SCRIPT,
            "/etc/apt/apt.conf.d/52mailstack-unattended-upgrades",
        ]) {
            expect(later).toContain(path);
            expect(files.has(path)).toBe(false);
            expect(renderHostFiles(spec()).map((f) => f.path)).toContain(path);
        }
    });

    it("writes exactly the features' first-boot files, and leaves every later file (the filter's, the resolver's, the limits', nginx with what it serves on 443, the webmail, mailstack-migrate) to host-config", () => {
        const files = userDataFiles(text);
        const later = renderLaterFiles(spec()).map((f) => f.path);
        const all = renderHostFiles(spec()).map((f) => f.path);
        expect(later.filter((p) => files.has(p))).toEqual([]);
        // Every host file is a first-boot file (in the user-data) or a later one, never both.
        expect(all.filter((p) => !files.has(p)).sort()).toEqual([...later].sort());
        expect(later).toEqual(
            expect.arrayContaining([
                "/usr/local/sbin/mailstack-migrate",
                "/etc/nginx/snippets/mailstack-tls-settings.conf",
                "/etc/nginx/snippets/mailstack-tls.conf",
                "/etc/nginx/snippets/mailstack-autoconfig.conf",
                "/etc/nginx/snippets/mailstack-autodiscover.conf",
                "/etc/nginx/snippets/mailstack-mta-sts.conf",
                "/etc/nginx/sites-available/default",
                "/var/www/mailstack/autoconfig/mail/config-v1.1.xml",
                "/var/www/mailstack/autodiscover/autodiscover/autodiscover.xml",
                "/var/www/mailstack/mta-sts/.well-known/mta-sts.txt",
                "/usr/local/sbin/mailstack-webmail",
                "/etc/systemd/system/php8.4-fpm.service.d/mailstack.conf",
                "/etc/php/8.4/fpm/conf.d/90-mailstack-webmail.ini",
                "/etc/roundcube/config.inc.php",
                "/var/lib/roundcube/plugins/mailstack_origin/mailstack_origin.php",
                "/etc/nginx/conf.d/mailstack-webmail.conf",
            ]),
        );
    });

    it("mounts the mail volume by its device path without nofail", () => {
        const mount = userDataFiles(text).get("/etc/systemd/system/srv-mail.mount")!;
        expect(mount).toMatch(/^What=\/dev\/disk\/by-id\/scsi-0HC_Volume_123$/m);
        expect(mount).toMatch(/^Where=\/srv\/mail$/m);
        expect(mount).not.toMatch(/^Options=.*nofail/m);
        expect(
            renderUserData(spec(), {
                mailVolumeDevice: "/dev/disk/by-id/scsi-0HC_Volume_999",
                provisionalHostKey: TEST_PROVISIONAL_HOST_KEY,
            }),
        ).not.toBe(text);
    });

    it("refuses a volume device that is not a path under /dev", () => {
        expect(() =>
            renderUserData(spec(), { mailVolumeDevice: "sdb", provisionalHostKey: TEST_PROVISIONAL_HOST_KEY }),
        ).toThrow(/device path/);
        expect(() =>
            renderUserData(spec(), {
                mailVolumeDevice: "/dev/sdb\nruncmd: [reboot]",
                provisionalHostKey: TEST_PROVISIONAL_HOST_KEY,
            }),
        ).toThrow(/device path/);
        expect(() =>
            renderUserData(spec(), {
                mailVolumeDevice: "/dev/../etc/passwd",
                provisionalHostKey: TEST_PROVISIONAL_HOST_KEY,
            }),
        ).toThrow(/device path/);
    });
});

describe("host files", () => {
    const files = renderHostFiles(spec());
    const mainCf = byPath(files, "/etc/postfix/main.cf").content;
    const setting = (content: string, name: string) => content.match(new RegExp(`^${name} = (.*)$`, "m"))?.[1];

    it("are the same for one or two domains", () => {
        expect(renderHostFiles(oneDomain())).toEqual(files);
    });

    it("put every state directory on the mail volume: a bind mount each, required by the daemons that use it", () => {
        const ini = (content: string, key: string) =>
            [...content.matchAll(new RegExp(`^${key}=(.*)$`, "gm"))].map((m) => m[1]);
        const script = byPath(files, "/usr/local/sbin/mailstack-volume-state");
        const listed = /^dirs='([^']*)'$/m.exec(script.content)?.[1].split("\n");
        expect(listed).toEqual(VOLUME_STATE_DIRS.map((d) => `${d.path} ${d.name} ${mountUnitName(d.path)}`));
        for (const d of VOLUME_STATE_DIRS) {
            const unit = byPath(files, `/etc/systemd/system/${mountUnitName(d.path)}`);
            expect([ini(unit.content, "What"), ini(unit.content, "Where"), ini(unit.content, "Options")]).toEqual([
                [`/srv/mail/state/${d.name}`],
                [d.path],
                [d.mountOptions],
            ]);
            expect(ini(unit.content, "RequiresMountsFor")).toEqual(["/srv/mail"]);
            expect(unit.onChange).toEqual(["daemon-reload", "apply:volume-state"]);
        }
        const requires = (p: string) => ini(byPath(files, p).content, "RequiresMountsFor").join(" ").split(" ");
        expect(requires("/etc/systemd/system/postfix.service.d/mailstack.conf")).toEqual([
            "/srv/mail",
            "/var/spool/postfix",
        ]);
        // Dovecot's LMTP and auth sockets are in the Postfix spool.
        expect(requires("/etc/systemd/system/dovecot.service.d/mailstack.conf")).toEqual([
            "/srv/mail",
            "/var/spool/postfix",
        ]);
        expect(requires("/etc/systemd/system/certbot.service.d/mailstack.conf")).toEqual(["/etc/letsencrypt"]);
        expect(setting(mainCf, "enable_long_queue_ids")).toBe("yes");
        expect(mountUnitName("/var/spool/postfix")).toBe("var-spool-postfix.mount");
        // certbot executes the deploy hook in /etc/letsencrypt/renewal-hooks/ (the volume is noexec).
        expect(VOLUME_STATE_DIRS.find((d) => d.path === "/etc/letsencrypt")?.mountOptions.split(",")).toContain("exec");
        expect(() => mountUnitName("/srv/my-dir")).toThrow(/unsupported path/);
    });

    it("leave no template placeholder behind", () => {
        for (const f of [...files, ...renderHostFiles(withRelay())])
            expect(f.content).not.toMatch(/\{\{[A-Za-z0-9_]*\}\}/);
    });

    it("main.cf: our host name, the message size limit, no AUTH and no relaying on port 25", () => {
        expect(setting(mainCf, "myhostname")).toBe("mail.example.org");
        expect(setting(mainCf, "message_size_limit")).toBe(String(50 * 1024 * 1024));
        expect(
            setting(
                byPath(renderHostFiles(spec({ messageSizeLimitMb: 10 })), "/etc/postfix/main.cf").content,
                "message_size_limit",
            ),
        ).toBe(String(10 * 1024 * 1024));
        expect(setting(mainCf, "smtpd_sasl_auth_enable")).toBe("no");
        // Port 25 relays for nobody, not even a local process: permit_mynetworks is nowhere.
        expect(setting(mainCf, "smtpd_relay_restrictions")).toBe("reject_unauth_destination");
        expect(mainCf).not.toMatch(/permit_mynetworks/);
        expect(setting(mainCf, "mynetworks")).toBe("127.0.0.0/8 [::1]/128");
        expect(setting(mainCf, "allow_percent_hack")).toBe("no");
        expect(setting(mainCf, "relayhost")).toBeUndefined();
    });

    it("main.cf without a relay: straight to the MX, DANE through the local validating resolver, MTA-STS from its resolver", () => {
        expect(setting(mainCf, "smtp_tls_security_level")).toBe("dane");
        expect(setting(mainCf, "smtp_dns_support_level")).toBe("dnssec");
        expect(setting(mainCf, "smtp_tls_policy_maps")).toBe("socketmap:inet:127.0.0.1:8461:postfix");
        const resolv = byPath(renderHostFiles(spec()), "/etc/resolv.conf").content;
        expect(resolv).toMatch(/^nameserver 127\.0\.0\.1$/m);
        // Without trust-ad glibc clears the AD bit and Postfix never trusts a TLSA record.
        expect(resolv).toMatch(/^options .*\btrust-ad\b/m);
        const daemon = byPath(renderHostFiles(spec()), "/etc/mta-sts-daemon.yml").content;
        expect(daemon).toMatch(/^host: 127\.0\.0\.1$/m);
        expect(daemon).toMatch(/^port: 8461$/m);
    });

    it("unbound: recursion with DNSSEC by default; mailstack:resolver.forward forwards with the validator on and no root anchor", () => {
        const conf = (s: ReturnType<typeof spec>) =>
            byPath(renderHostFiles(s), "/etc/unbound/unbound.conf.d/mailstack.conf").content;
        const anchor = (s: ReturnType<typeof spec>) =>
            byPath(renderHostFiles(s), "/etc/unbound/unbound.conf.d/root-auto-trust-anchor-file.conf").content;
        expect(conf(spec())).not.toMatch(/forward-zone|stub-zone|module-config|trust-anchor:/);
        expect(conf(spec())).toMatch(/^\s+interface: 127\.0\.0\.1$/m);
        // Debian's conffile, unchanged: the root anchor.
        expect(anchor(spec())).toMatch(/^\s+auto-trust-anchor-file: "\/var\/lib\/unbound\/root\.key"$/m);
        const forwarded = spec({ resolver: { forward: ["192.0.2.7", "2001:db8::7"] } });
        const fwd = conf(forwarded);
        expect(fwd).toMatch(
            /^forward-zone:\n {4}name: "\."\n {4}forward-addr: 192\.0\.2\.7\n {4}forward-addr: 2001:db8::7$/m,
        );
        expect(fwd).toMatch(/^\s+module-config: "validator iterator"$/m);
        // The forwarders' unsigned answers would all be bogus under the root anchor.
        expect(anchor(forwarded)).not.toMatch(/^\s*[a-z-]+:/m);
    });

    it("unbound: mailstack:resolver.signedZones are stub zones validated against their DS, with forwarders or with recursion", () => {
        const conf = (s: ReturnType<typeof spec>) =>
            byPath(renderHostFiles(s), "/etc/unbound/unbound.conf.d/mailstack.conf").content;
        const zone = {
            name: "Dane.Test.",
            servers: ["198.51.100.53", "2001:db8::53"],
            ds: ["46278 13 2 7C9BC5C9692DDCD069BF32DA8806F267F39DCC4D70D86AC309E6EEFD9B621E6B"],
        };
        const both = conf(spec({ resolver: { forward: ["192.0.2.7"], signedZones: [zone] } }));
        expect(both).toMatch(
            /^ {4}trust-anchor: "dane\.test\. DS 46278 13 2 7c9bc5c9692ddcd069bf32da8806f267f39dcc4d70d86ac309e6eefd9b621e6b"$/m,
        );
        expect(both).toMatch(
            /^stub-zone:\n {4}name: "dane\.test\."\n {4}stub-addr: 198\.51\.100\.53\n {4}stub-addr: 2001:db8::53$/m,
        );
        // Server options first, then the zones: unbound reads a clause until the next one.
        expect(both.indexOf("trust-anchor:")).toBeLessThan(both.indexOf("stub-zone:"));
        expect(both.indexOf("stub-zone:")).toBeLessThan(both.indexOf("forward-zone:"));
        const alone = spec({ resolver: { signedZones: [zone] } });
        expect(conf(alone)).toMatch(/^stub-zone:$/m);
        expect(conf(alone)).not.toMatch(/forward-zone|module-config/);
        // With recursion the root anchor stays.
        expect(
            byPath(renderHostFiles(alone), "/etc/unbound/unbound.conf.d/root-auto-trust-anchor-file.conf").content,
        ).toMatch(/auto-trust-anchor-file:/);
    });

    it("main.cf: a relay host gets SASL credentials and required TLS", () => {
        const relayCf = byPath(renderHostFiles(withRelay()), "/etc/postfix/main.cf").content;
        expect(setting(relayCf, "relayhost")).toBe("[smtp.relay.example.net]:587");
        expect(setting(relayCf, "smtp_sasl_password_maps")).toBe("texthash:/etc/postfix/mailstack/relay-password");
        expect(setting(relayCf, "smtp_tls_security_level")).toBe("secure");
        expect(relayCf.match(/^smtp_tls_security_level =/gm)).toHaveLength(1);
        // The relay decides how mail goes on; MTA-STS and DANE are for our own MX lookups.
        expect(setting(relayCf, "smtp_tls_policy_maps")).toBeUndefined();
        expect(setting(relayCf, "smtp_tls_fingerprint_cert_match")).toBeUndefined();
        const ipCf = byPath(
            renderHostFiles(withRelay("192.0.2.25", 465, RELAY_FINGERPRINT)),
            "/etc/postfix/main.cf",
        ).content;
        expect(setting(ipCf, "smtp_tls_wrappermode")).toBe("yes");
    });

    it("main.cf: a relay given by IP address is trusted only with its pinned certificate fingerprint, never with any certificate", () => {
        const ipCf = byPath(
            renderHostFiles(withRelay("192.0.2.25", 587, RELAY_FINGERPRINT)),
            "/etc/postfix/main.cf",
        ).content;
        expect(setting(ipCf, "smtp_tls_security_level")).toBe("fingerprint");
        expect(setting(ipCf, "smtp_tls_fingerprint_digest")).toBe("sha256");
        // Upper case with colons, as Postfix and openssl print it.
        expect(setting(ipCf, "smtp_tls_fingerprint_cert_match")).toBe(RELAY_FINGERPRINT.toUpperCase());
        expect(ipCf).not.toMatch(/^smtp_tls_security_level = (?:encrypt|may)$/m);
    });

    it("master.cf: 587 and 465 require TLS and AUTH and check the sender login", () => {
        const masterCf = byPath(files, "/etc/postfix/master.cf").content;
        for (const service of ["submission", "submissions"]) {
            const block = masterCf.split(/\n(?=\S)/).find((b) => b.startsWith(`${service} `))!;
            expect(block).toContain("-o smtpd_sasl_auth_enable=yes");
            expect(block).toContain("-o smtpd_tls_security_level=encrypt");
            expect(block).toContain("-o smtpd_relay_restrictions=permit_sasl_authenticated,reject");
            expect(block).toContain("-o smtpd_sender_restrictions=$mailstack_submission_sender_restrictions");
            expect(block).toContain("-o milter_default_action=tempfail");
            expect(block).toContain("-o smtpd_milters=$mailstack_submission_milters");
        }
        const mainCf = byPath(files, "/etc/postfix/main.cf").content;
        // The From: check first, then OpenDKIM signs what passed it; port 25 goes to rspamd (test/filter.test.ts).
        expect(mainCf).toMatch(
            /^mailstack_submission_milters = unix:\/var\/spool\/postfix\/mailstack-milter\/sender\.sock, unix:\/var\/spool\/postfix\/opendkim\/opendkim\.sock$/m,
        );
        expect(mainCf).toMatch(/^non_smtpd_milters = unix:\/var\/spool\/postfix\/opendkim\/opendkim\.sock$/m);
        const restrictions =
            /^mailstack_submission_sender_restrictions =\n((?: {4}[^\n]*\n)+)/m.exec(mainCf)?.[1] ?? "";
        expect(restrictions.split(",\n").map((r) => r.trim())).toEqual([
            "reject_non_fqdn_sender",
            "check_sender_access inline:{ { <> = REJECT 5.7.1 Use your own address as sender } }",
            "reject_sender_login_mismatch",
            "permit_sasl_authenticated",
            "reject",
        ]);
        expect(masterCf).toMatch(/^submissions inet[^\n]*\n(?: {2}-o [^\n]*\n)*? {2}-o smtpd_tls_wrappermode=yes/m);
        // chroot = n everywhere (column 5).
        for (const line of masterCf.split("\n").filter((l) => /^[a-z]/.test(l))) expect(line.split(/\s+/)[4]).toBe("n");
    });

    it("dovecot.conf: 2.4 syntax, version lines first, no clear text", () => {
        const conf = byPath(files, "/etc/dovecot/dovecot.conf").content;
        const settings = conf.split("\n").filter((l) => l !== "" && !l.startsWith("#"));
        expect(settings[0]).toMatch(/^dovecot_config_version = 2\.4/);
        expect(settings[1]).toMatch(/^dovecot_storage_version = 2\.4/);
        expect(conf).not.toMatch(/^\s*(mail_location|ssl_cert|ssl_key|ssl_dh|disable_plaintext_auth)\b/m);
        expect(conf).not.toMatch(/%[Lndu]\b/);
        // Never Debian's conf.d (its PAM passdb and LMTP filter); only our own listeners' directory.
        expect(conf.match(/^!include.*$/gm)).toEqual(["!include_try /etc/dovecot/mailstack.d/*.conf"]);
        expect(conf).toMatch(/^ssl = required$/m);
        expect(conf).toMatch(/^auth_allow_cleartext = no$/m);
        expect(conf).toMatch(/inet_listener imap \{\n\s+port = 0\n/);
        expect(conf).toMatch(/inet_listener pop3 \{\n\s+port = 0\n/);
    });

    it("acme.env quotes every value for the shell", () => {
        const env = byPath(
            renderHostFiles(spec({ acmeEmail: "o'brien@example.org" })),
            "/etc/mailstack/acme.env",
        ).content;
        expect(env).toContain("ACME_EMAIL='o'\\''brien@example.org'");
        const out = execFileSync(
            "sh",
            ["-c", `${env}\nprintf '%s|%s|%s' "$MAIL_HOSTNAME" "$ACME_EMAIL" "$ACME_SERVER"`],
            { encoding: "utf8" },
        );
        expect(out).toBe("mail.example.org|o'brien@example.org|https://acme-v02.api.letsencrypt.org/directory");
    });
});

describe("mail-data", () => {
    const s = spec();
    const files = renderMailData(s, { passwordHashes: hashesFor(s) });

    it("lists both domains and every mailbox of a two-domain config", () => {
        expect(rows(byPath(files, "/etc/postfix/mailstack/virtual-domains"))).toEqual([
            "example.org OK",
            "example.com OK",
        ]);
        expect(rows(byPath(files, "/etc/postfix/mailstack/virtual-mailboxes"))).toEqual([
            "alice@example.org example.org/alice/Maildir/",
            "bob@example.org example.org/bob/Maildir/",
            "carol@example.com example.com/carol/Maildir/",
        ]);
    });

    it("maps aliases, adds abuse@ where missing, and sends the host's addresses to a person", () => {
        const aliases = rows(byPath(files, "/etc/postfix/mailstack/virtual-aliases"));
        expect(aliases).toContain("info@example.org alice@example.org,bob@example.org");
        expect(aliases).toContain("forward@example.org someone@example.net");
        expect(aliases).toContain("abuse@example.org postmaster@example.org");
        expect(aliases).toContain("abuse@example.com carol@example.com");
        expect(aliases).not.toContain("abuse@example.com postmaster@example.com");
        expect(aliases).toContain("root@mail.example.org postmaster@example.org");
        expect(aliases).toContain("postmaster@mail.example.org postmaster@example.org");
    });

    describe("with a catch-all for example.com (carol)", () => {
        const withCatchAll = spec({ domains: [orgDomain, { ...comDomain, catchAll: "carol" }] });
        const aliasRows = () =>
            rows(
                byPath(
                    renderMailData(withCatchAll, { passwordHashes: hashesFor(withCatchAll) }),
                    "/etc/postfix/mailstack/virtual-aliases",
                ),
            );

        it("maps every other address of the domain to the catch-all mailbox with an @domain row", () => {
            expect(aliasRows().filter((r) => r.startsWith("@"))).toEqual(["@example.com carol@example.com"]);
        });

        it("gives each mailbox of that domain a row to itself, so the catch-all never takes a listed mailbox's mail", () => {
            expect(aliasRows()).toContain("carol@example.com carol@example.com");
        });

        it("keeps the listed aliases and abuse@ as they were, so they still win over the catch-all", () => {
            const before = rows(byPath(files, "/etc/postfix/mailstack/virtual-aliases"));
            const after = aliasRows();
            for (const row of before) expect(after).toContain(row);
            expect(after).toContain("postmaster@example.com alice@example.org");
            expect(after).toContain("abuse@example.com carol@example.com");
        });

        it("leaves a domain without a catch-all as it was: no @domain row, no rows for its mailboxes", () => {
            const after = aliasRows();
            expect(after.filter((r) => r.includes("example.org") && r.startsWith("@"))).toEqual([]);
            expect(after).not.toContain("alice@example.org alice@example.org");
            expect(rows(byPath(files, "/etc/postfix/mailstack/virtual-aliases")).some((r) => r.startsWith("@"))).toBe(
                false,
            );
        });

        it("changes neither the mailboxes, the sender logins nor Dovecot's users: the catch-all cannot log in or send as anyone", () => {
            const rendered = renderMailData(withCatchAll, { passwordHashes: hashesFor(withCatchAll) });
            for (const p of [
                "/etc/postfix/mailstack/virtual-mailboxes",
                "/etc/postfix/mailstack/sender-logins",
                "/etc/dovecot/configured-users",
                "/etc/default/postsrsd",
            ])
                expect(byPath(rendered, p).content).toBe(byPath(files, p).content);
        });

        it("refuses to render a catch-all that is not a mailbox of its domain", () => {
            const bad: MailSpec = {
                ...withCatchAll,
                domains: withCatchAll.domains.map((d) =>
                    d.name === "example.com" ? { ...d, catchAll: "alice@example.org" } : d,
                ),
            };
            expect(() => renderMailData(bad, { passwordHashes: hashesFor(bad) })).toThrow(
                "mail-data: the catch-all alice@example.org is not a mailbox of example.com",
            );
        });
    });

    it("lets a login send only as its address and the aliases that reach it", () => {
        const logins = addressOwners(s);
        expect(logins.get("alice@example.org")).toEqual(["alice@example.org"]);
        expect(logins.get("team@example.org")).toEqual(["alice@example.org", "bob@example.org"]);
        expect(logins.get("postmaster@example.com")).toEqual(["alice@example.org"]);
        expect(logins.has("forward@example.org")).toBe(false);
        expect(rows(byPath(files, "/etc/postfix/mailstack/sender-logins"))).toContain(
            "team@example.org alice@example.org,bob@example.org",
        );
    });

    it("writes the configured passwd-file rows with hashes, vmail ids, the password's generation and the mailbox home", () => {
        const users = byPath(files, "/etc/dovecot/configured-users");
        // Root only: mailstack-passwords writes the file Dovecot reads from it.
        expect([users.mode, users.owner, users.group]).toEqual(["0600", "root", "root"]);
        expect(users.onChange).toEqual(["apply:passwords"]);
        const generation = passwordGeneration(HASH, undefined);
        expect(generation).toMatch(/^[0-9a-f]{16}$/);
        expect(rows(users)).toContain(
            `carol@example.com:${HASH}:5000:5000:${generation}:/srv/mail/vhosts/example.com/carol::userdb_quota_storage_size=2G`,
        );
        expect(rows(users)).toHaveLength(3);
        expect(files.map((f) => f.path)).not.toContain("/etc/dovecot/users");
    });

    it("excludes our own domains from SRS rewriting", () => {
        const postsrsd = byPath(files, "/etc/default/postsrsd");
        expect(postsrsd.content).toMatch(/^SRS_EXCLUDE_DOMAINS=example\.org,example\.com$/m);
        expect(postsrsd.content).toMatch(/^SRS_DOMAIN=mail\.example\.org$/m);
        expect(postsrsd.onChange).toEqual(["restart:postsrsd"]);
    });

    it("refuses missing, unknown or malformed hashes and a relay without password", () => {
        const partial = { ...hashesFor(s) };
        delete partial["bob@example.org"];
        expect(() => renderMailData(s, { passwordHashes: partial })).toThrow(/bob@example.org/);
        expect(() => renderMailData(s, { passwordHashes: { ...hashesFor(s), "eve@example.org": HASH } })).toThrow(
            /eve@example.org/,
        );
        expect(() =>
            renderMailData(s, { passwordHashes: { ...hashesFor(s), "bob@example.org": "plain:text" } }),
        ).toThrow(/hash/);
        const r = withRelay();
        expect(() => renderMailData(r, { passwordHashes: hashesFor(r) })).toThrow(/relayPassword/);
    });

    it("puts relay credentials in a root-only file; without a relay the file holds none", () => {
        expect(byPath(files, "/etc/postfix/mailstack/relay-password").content).toBe(
            "# No relay configured: mail goes straight to each recipient's MX.\n",
        );
        expect(byPath(files, "/etc/postfix/mailstack/relay-password").mode).toBe("0600");
        const r = withRelay();
        const relay = byPath(
            renderMailData(r, { passwordHashes: hashesFor(r), relayPassword: "s3cret pass" }),
            "/etc/postfix/mailstack/relay-password",
        );
        expect([relay.mode, relay.owner, relay.group]).toEqual(["0600", "root", "root"]);
        expect(relay.content).toBe("[smtp.relay.example.net]:587 relayuser:s3cret pass\n");
    });
});

describe("own-sender-domains", () => {
    it("port 25 refuses every configured domain as envelope sender", () => {
        const s = spec();
        const table = byPath(
            renderMailData(s, { passwordHashes: hashesFor(s) }),
            "/etc/postfix/mailstack/own-sender-domains",
        ).content;
        const rows = table.split("\n").filter((l) => l && !l.startsWith("#"));
        expect(rows.map((r) => r.split(" ").slice(0, 3).join(" "))).toEqual([
            "example.org REJECT 5.7.1",
            "example.com REJECT 5.7.1",
        ]);
    });
});

describe("dkim", () => {
    const s = spec();
    const files = renderDkimFiles(s, { privateKeysPem: keysFor(s) });

    it("writes one key per domain, readable only by opendkim", () => {
        for (const p of [
            "/etc/opendkim/keys/example.org.mail.private",
            "/etc/opendkim/keys/example.com.s2026.private",
        ]) {
            const key = byPath(files, p);
            expect([key.mode, key.owner, key.group]).toEqual(["0600", "opendkim", "opendkim"]);
            expect(key.content).toBe(PEM);
        }
    });

    it("signs every domain with its own selector", () => {
        expect(rows(byPath(files, "/etc/opendkim/key.table"))).toEqual([
            "mail._domainkey.example.org example.org:mail:/etc/opendkim/keys/example.org.mail.private",
            "s2026._domainkey.example.com example.com:s2026:/etc/opendkim/keys/example.com.s2026.private",
        ]);
        expect(rows(byPath(files, "/etc/opendkim/signing.table"))).toEqual([
            "*@example.org mail._domainkey.example.org",
            "*@example.com s2026._domainkey.example.com",
        ]);
    });

    it("refuses a missing key, a key for an unknown domain, or text that is not a PEM key", () => {
        expect(() => renderDkimFiles(s, { privateKeysPem: { "example.org": PEM } })).toThrow(/example.com/);
        expect(() => renderDkimFiles(s, { privateKeysPem: { ...keysFor(s), "example.net": PEM } })).toThrow(
            /example.net/,
        );
        expect(() => renderDkimFiles(s, { privateKeysPem: { ...keysFor(s), "example.org": "not a key" } })).toThrow(
            /PEM/,
        );
    });
});

describe("secrets stay in their steps", () => {
    it("hashes appear only in mail-data, keys only in dkim", () => {
        const s = withRelay();
        const host =
            renderHostFiles(s)
                .map((f) => f.content)
                .join("\n") +
            withoutHostKey(
                renderUserData(s, { mailVolumeDevice: DEVICE, provisionalHostKey: TEST_PROVISIONAL_HOST_KEY }),
            );
        const mail = renderMailData(s, { passwordHashes: hashesFor(s), relayPassword: "relay-pw-123" })
            .map((f) => f.content)
            .join("\n");
        const dkim = renderDkimFiles(s, { privateKeysPem: keysFor(s) })
            .map((f) => f.content)
            .join("\n");
        expect(host).not.toContain(HASH);
        expect(host).not.toContain("relay-pw-123");
        expect(host).not.toContain("PRIVATE KEY");
        expect(mail).toContain(HASH);
        expect(mail).toContain("relay-pw-123");
        expect(mail).not.toContain("PRIVATE KEY");
        expect(dkim).toContain("PRIVATE KEY");
        expect(dkim).not.toContain(HASH);
    });
});

describe("bundle", () => {
    const s = spec();
    const files = [
        ...renderHostFiles(s),
        ...renderMailData(s, { passwordHashes: hashesFor(s) }),
        ...renderDkimFiles(s, { privateKeysPem: keysFor(s) }),
    ];
    const text = renderBundle(files);

    it("has the documented format and round-trips", () => {
        const lines = text.split("\n");
        expect(lines[0]).toBe("mailstack-bundle 1");
        expect(lines[lines.length - 2]).toBe("end");
        expect(lines[lines.length - 1]).toBe("");
        expect(lines[1]).toMatch(/^file \/etc\/postfix\/main\.cf 0644 root root reload:postfix [A-Za-z0-9+/]+=*$/);
        expect(text).toContain(" 0755 root root - ");
        expect(parseBundle(text)).toEqual(files.map((f) => ({ ...f, onChange: [...f.onChange] })));
    });

    it("writes an empty file as '-' and reads it back", () => {
        const empty: HostFile = {
            path: "/etc/empty",
            mode: "0644",
            owner: "root",
            group: "root",
            content: "",
            onChange: [],
        };
        expect(renderBundle([empty])).toBe("mailstack-bundle 1\nfile /etc/empty 0644 root root - -\nend\n");
        expect(parseBundle(renderBundle([empty]))).toEqual([empty]);
    });

    it("is refused without its end line", () => {
        expect(() => parseBundle(text.replace(/end\n$/, ""))).toThrow(/end/);
    });

    it("carries prune rules after the files; the dkim step prunes the keys directory", () => {
        const rule = { dir: "/etc/opendkim/keys", pattern: "*.private", onChange: ["restart:opendkim" as const] };
        const pruned = renderBundle(files, [rule]);
        expect(pruned).toMatch(/\nprune \/etc\/opendkim\/keys \*\.private restart:opendkim\nend\n$/);
        expect(parseBundleRules(pruned).prune).toEqual([rule]);
        expect(parseBundle(pruned)).toEqual(parseBundle(text));
        for (const pattern of ["*", "a/*", "x", "*.a b"])
            expect(() => renderBundle([], [{ ...rule, pattern }])).toThrow(/prune pattern/);
        expect(() => renderBundle([], [{ ...rule, dir: "/etc/../x" }])).toThrow(/prune directory/);
        const dkim = PROVISIONING_PLAN.find((st) => st.role === "dkim")!;
        const stdin = dkim.stdin!(s, { dkimPrivateKeysPem: keysFor(s), passwordHashes: {} });
        expect(parseBundleRules(stdin).prune).toEqual([DKIM_KEYS_PRUNE]);
        // Every key the step installs is inside the pruned directory and matches the pattern.
        for (const f of parseBundle(stdin).filter((f) => f.path.endsWith(".private")))
            expect(f.path).toMatch(/^\/etc\/opendkim\/keys\/[^/]+\.private$/);
    });

    it("refuses values the script could not read safely", () => {
        const ok: HostFile = { path: "/etc/x", mode: "0644", owner: "root", group: "root", content: "x", onChange: [] };
        expect(() => renderBundle([{ ...ok, path: "/etc/../x" }])).toThrow(/path/);
        expect(() => renderBundle([{ ...ok, path: "/etc/a b" }])).toThrow(/path/);
        expect(() => renderBundle([{ ...ok, path: "relative" }])).toThrow(/path/);
        expect(() => renderBundle([{ ...ok, mode: "644" }])).toThrow(/mode/);
        expect(() => renderBundle([{ ...ok, owner: "root root" }])).toThrow(/owner/);
        expect(() => renderBundle([{ ...ok, onChange: ["reboot" as never] }])).toThrow(/action/);
        expect(() => renderBundle([ok, ok])).toThrow(/twice/);
    });
});

describe("templates", () => {
    it("fail on a missing or an unused value", () => {
        expect(fill("a {{x}} b", { x: 1 })).toBe("a 1 b");
        expect(() => fill("a {{x}} {{y}}", { x: 1 })).toThrow(/\{\{y\}\}/);
        expect(() => fill("a {{x}}", { x: 1, z: 2 })).toThrow(/z/);
    });

    it("name the certificate's directory only as {{tlsDir}}, which every daemon's file gets as TLS_DIR", () => {
        const dir = path.join(__dirname, "..", "render", "host", "templates");
        const all = (d: string): string[] =>
            fs
                .readdirSync(d, { withFileTypes: true })
                .flatMap((e) => (e.isDirectory() ? all(path.join(d, e.name)) : [path.join(d, e.name)]));
        // Three shell scripts are shellchecked as written (test/host-tools/shell-scripts.sh), where
        // a placeholder is not shell: they name the directory itself, and must name this one.
        const literal = ["mailstack/first-boot.sh", "mailstack/secondary-first-boot.sh", "certbot/deploy-hook.sh"];
        const naming = all(dir).filter((f) => fs.readFileSync(f, "utf8").includes(TLS_DIR));
        expect(naming.map((f) => path.relative(dir, f)).sort()).toEqual([...literal].sort());
        const files = renderHostFiles(spec());
        const cert = `${TLS_DIR}/fullchain.pem`;
        const key = `${TLS_DIR}/privkey.pem`;
        expect(byPath(files, "/etc/postfix/main.cf").content).toContain(`smtpd_tls_chain_files = ${key}, ${cert}`);
        expect(byPath(files, "/etc/dovecot/dovecot.conf").content).toContain(
            `ssl_server_cert_file = ${cert}\nssl_server_key_file = ${key}\n`,
        );
        expect(byPath(files, "/etc/nginx/snippets/mailstack-tls.conf").content).toContain(
            `ssl_certificate ${cert};\nssl_certificate_key ${key};`,
        );
        expect(TLS_DIR).toBe("/etc/mailstack/tls");
    });
});

describe("remoteCommand", () => {
    it("is bash -c with the script text, single-quote escaped, and the script name as $0", () => {
        const cmd = remoteCommand("apply-bundle.sh");
        const text = fs.readFileSync(path.join(__dirname, "..", "scripts", "apply-bundle.sh"), "utf8");
        expect(cmd.startsWith("bash -c '")).toBe(true);
        expect(cmd.endsWith("' apply-bundle.sh")).toBe(true);
        const quoted = cmd.slice("bash -c ".length, -" apply-bundle.sh".length);
        // A shell reads the quoted word back as exactly the script text.
        expect(execFileSync("bash", ["-c", `printf '%s' ${quoted}`], { encoding: "utf8" })).toBe(text);
    });

    it("survives single quotes in the script", () => {
        const cmd = remoteCommand("wait-first-boot.sh");
        expect(
            execFileSync(
                "bash",
                ["-c", cmd.replace(/^bash -c /, "printf '%s' ").replace(/ wait-first-boot\.sh$/, "")],
                { encoding: "utf8" },
            ),
        ).toBe(fs.readFileSync(path.join(__dirname, "..", "scripts", "wait-first-boot.sh"), "utf8"));
    });

    it("only runs scripts from scripts/", () => {
        expect(() => remoteCommand("../lab/stop.sh")).toThrow();
        expect(() => remoteCommand("missing.sh")).toThrow();
    });
});

describe("LMTP concurrency", () => {
    // A burst to one mailbox: Postfix must never open more LMTP deliveries to one mailbox
    // than Dovecot accepts, or the rest is deferred with 451 for minutes (issue 9).
    const files = renderHostFiles(spec());
    const setting = (text: string, name: string) => new RegExp(`^${name} = (\\S+)$`, "m").exec(text)?.[1];
    const mainCf = byPath(files, "/etc/postfix/main.cf").content;
    const dovecot = byPath(files, "/etc/dovecot/dovecot.conf").content;

    it("counts Postfix's LMTP concurrency per recipient, at Dovecot's per-user limit", () => {
        expect(setting(mainCf, "lmtp_destination_recipient_limit")).toBe("1");
        const perUser = Number(setting(dovecot, "lmtp_user_concurrency_limit"));
        const postfix = Number(setting(mainCf, "lmtp_destination_concurrency_limit"));
        expect(postfix).toBeGreaterThan(1);
        // Strictly below: Dovecot's count of running deliveries lags a little.
        expect(postfix).toBeLessThan(perUser);
    });
});

describe("quota-status at RCPT", () => {
    // A full mailbox is refused while the sender still holds the message (issue 10): Postfix
    // asks the socket Dovecot listens on, and Dovecot never says a hard "no" or "yes".
    const files = renderHostFiles(spec());
    const mainCf = byPath(files, "/etc/postfix/main.cf").content;
    const dovecot = byPath(files, "/etc/dovecot/dovecot.conf").content;

    it("asks Dovecot's quota-status on port 25 last, on the socket Dovecot listens on", () => {
        const restrictions = /^smtpd_recipient_restrictions =\n((?:    .*\n)+)/m.exec(mainCf)![1].trim().split(/,\s*/);
        expect(restrictions.at(-1)).toBe("check_policy_service unix:private/quota-status");
        expect(restrictions.indexOf("reject_unlisted_recipient")).toBeLessThan(restrictions.length - 1);
        expect(dovecot).toMatch(
            /^service quota-status \{\n  executable = quota-status -p postfix\n  unix_listener \/var\/spool\/postfix\/private\/quota-status \{/m,
        );
    });

    it("answers DUNNO for a mailbox with room and for an alias, 452 (temporary) for a full mailbox", () => {
        expect(dovecot).toMatch(/^quota_status_success = DUNNO$/m);
        expect(dovecot).toMatch(/^quota_status_nouser = DUNNO$/m);
        expect(dovecot).toMatch(/^quota_status_overquota = "452 4\.2\.2 [^"]+"$/m);
    });
});

describe("quota warnings", () => {
    const files = renderHostFiles(spec());
    const dovecot = byPath(files, "/etc/dovecot/dovecot.conf").content;

    it("warns at 95% and 80% (highest first), through a script the host files install", () => {
        const warnings = [
            ...dovecot.matchAll(
                /quota_storage_percentage = (\d+)\n    execute quota-warning \{\n      args = (\d+) %\{user\}/g,
            ),
        ];
        expect(warnings.map((w) => [w[1], w[2]])).toEqual([
            ["95", "95"],
            ["80", "80"],
        ]);
        const script = /^  executable = script (\S+)$/m.exec(dovecot)![1];
        expect(byPath(files, script).mode).toBe("0755");
        expect(byPath(files, script).content).toContain('dovecot-lda -d "$user" -f "$from" -o quota_enforce=no');
    });
});

describe("provisioning plan", () => {
    it("the packages step's stdin lists every package of the user-data and every mail unit, and the webmail's and Radicale's (each only when switched on)", () => {
        const list = (s: MailSpec) => {
            const lines = renderPackageList(s).trim().split("\n");
            return {
                packages: lines.filter((l) => l.startsWith("package ")).map((l) => l.slice(8)),
                units: lines.filter((l) => l.startsWith("unit ")).map((l) => l.slice(5)),
            };
        };
        expect(list(spec({ webmail: false, dav: false }))).toEqual({
            packages: [...MAIL_PACKAGES],
            units: [...MAIL_UNITS],
        });
        expect(list(spec())).toEqual({
            packages: [...MAIL_PACKAGES, ...WEBMAIL_PACKAGES, "radicale"],
            units: [...MAIL_UNITS, PHP_FPM_UNIT, "radicale"],
        });
        expect(list(spec({ webmail: false }))).toEqual({
            packages: [...MAIL_PACKAGES, "radicale"],
            units: [...MAIL_UNITS, "radicale"],
        });
        // php-fpm before Roundcube: apt would otherwise meet php's first alternative, Apache's mod_php.
        expect(WEBMAIL_PACKAGES[0]).toBe("php-fpm");
    });

    it("first boot starts the same units, in the same order", () => {
        const firstBoot = userDataFiles(
            renderUserData(spec(), { mailVolumeDevice: DEVICE, provisionalHostKey: TEST_PROVISIONAL_HOST_KEY }),
        ).get("/usr/local/sbin/mailstack-first-boot")!;
        expect(firstBoot).toContain(`units='${MAIL_UNITS.join(" ")}'\nfor unit in $units; do`);
    });

    it("reads the replaced host key from the host-key step's last line, and refuses anything else", () => {
        expect(hostKeyFromReport("some warning\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHog\n")).toBe(
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHog",
        );
        expect(() => hostKeyFromReport("ok")).toThrow(/expected an ssh-ed25519 public key/);
        expect(() => hostKeyFromReport("ssh-rsa AAAAB3Nza")).toThrow(/ssh-ed25519/);
    });

    it("user-data carries exactly the provisional host key, and refuses one that is not ed25519", () => {
        const doc = parse(
            renderUserData(spec(), { mailVolumeDevice: DEVICE, provisionalHostKey: TEST_PROVISIONAL_HOST_KEY }),
        );
        expect(doc.ssh_keys).toEqual({
            ed25519_private: TEST_PROVISIONAL_HOST_KEY.privateKeyOpenssh,
            ed25519_public: TEST_PROVISIONAL_HOST_KEY.publicKeyOpenssh,
        });
        expect(doc.ssh_genkeytypes).toEqual(["ed25519"]);
        const rsa = { ...TEST_PROVISIONAL_HOST_KEY, publicKeyOpenssh: "ssh-rsa AAAAB3NzaC1yc2E" };
        expect(() => renderUserData(spec(), { mailVolumeDevice: DEVICE, provisionalHostKey: rsa })).toThrow(
            /ssh-ed25519/,
        );
        const pem = {
            ...TEST_PROVISIONAL_HOST_KEY,
            privateKeyOpenssh: "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n",
        };
        expect(() => renderUserData(spec(), { mailVolumeDevice: DEVICE, provisionalHostKey: pem })).toThrow(
            /OpenSSH private key/,
        );
    });

    it("every step but host-key pins the replaced key, and host-key runs first", () => {
        expect(PROVISIONING_PLAN[0].role).toBe("host-key");
        expect(PROVISIONING_PLAN.filter((s) => s.pin === "provisional").map((s) => s.role)).toEqual(["host-key"]);
        const seen = new Set<string>();
        for (const s of PROVISIONING_PLAN) {
            for (const a of s.after) expect([s.role, seen.has(a)]).toEqual([s.role, true]);
            seen.add(s.role);
        }
    });

    it("a step whose stdin is rendered from plan inputs (every one a secret) is marked secret", () => {
        const secretless = PROVISIONING_PLAN.filter((s) => s.uses.length > 0 && !s.secret).map((s) => s.role);
        expect(secretless).toEqual([]);
        expect(PROVISIONING_PLAN.filter((s) => s.secret).map((s) => s.role)).toEqual(
            expect.arrayContaining(["dkim", "mail-data", "backup"]),
        );
    });
});

describe("webmail (mailstack:webmail)", () => {
    const paths = (s: MailSpec) => renderHostFiles(s).map((f) => f.path);

    it("is on by default; off renders none of its files and no package, and leaves the user-data alone", () => {
        expect(spec().webmail).toBe(true);
        const on = paths(spec());
        const off = paths(spec({ webmail: false }));
        const webmailOnly = on.filter((p) => !off.includes(p));
        expect(webmailOnly.sort()).toEqual(
            [
                "/etc/nginx/conf.d/mailstack-webmail.conf",
                "/etc/php/8.4/fpm/conf.d/90-mailstack-webmail.ini",
                "/etc/roundcube/config.inc.php",
                `/etc/systemd/system/${PHP_FPM_UNIT}.service.d/mailstack.conf`,
                "/usr/local/sbin/mailstack-webmail",
                "/var/lib/roundcube/plugins/mailstack_origin/mailstack_origin.php",
                "/var/lib/roundcube/plugins/mailstack_password/mailstack_password.php",
                "/var/lib/roundcube/plugins/mailstack_password/localization/en_US.inc",
                "/etc/systemd/system/mailstack-password.socket",
                "/etc/systemd/system/mailstack-password@.service",
                "/etc/fail2ban/filter.d/mailstack-password.conf",
                "/etc/fail2ban/jail.d/mailstack-password.conf",
            ].sort(),
        );
        expect(off.filter((p) => !on.includes(p))).toEqual([]);
        // Switching it must never replace the server: the user-data does not depend on it.
        const ud = (s: MailSpec) =>
            userDataFiles(
                renderUserData(s, { mailVolumeDevice: DEVICE, provisionalHostKey: TEST_PROVISIONAL_HOST_KEY }),
            );
        const [udOn, udOff] = [ud(spec()), ud(spec({ webmail: false }))];
        expect([...udOn.keys()]).toEqual([...udOff.keys()]);
        for (const [k, v] of udOn) if (k !== "/etc/fail2ban/jail.local") expect(udOff.get(k)).toBe(v);
        // Off: the jail is there but not enabled.
        expect(udOff.get("/etc/fail2ban/jail.local")).toMatch(/\[roundcube-auth\]\nenabled = false\n/);
        expect(udOn.get("/etc/fail2ban/jail.local")).toMatch(/\[roundcube-auth\]\nenabled = true\n/);
        expect(() => spec({ webmail: "yes" })).toThrow(/mailstack:webmail: must be true/);
    });

    it("Roundcube talks to Dovecot, Postfix and ManageSieve on 127.0.0.1 over TLS verified for the hostname", () => {
        const cfg = byPath(renderHostFiles(spec()), "/etc/roundcube/config.inc.php");
        expect([cfg.mode, cfg.owner, cfg.group]).toEqual(["0640", "root", "www-data"]);
        expect(cfg.onChange).toEqual(["restart:webmail"]);
        const php = cfg.content;
        expect(php).toContain("$config['imap_host'] = 'ssl://127.0.0.1:993';");
        expect(php).toContain("$config['smtp_host'] = 'ssl://127.0.0.1:465';");
        expect(php).toContain("$config['managesieve_host'] = 'tls://127.0.0.1:4190';");
        expect(php).toMatch(
            /'verify_peer' => true,\n\s+'verify_peer_name' => true,\n\s+'peer_name' => 'mail\.example\.org',/,
        );
        for (const k of ["imap", "smtp", "managesieve"])
            expect(php).toContain(`$config['${k}_conn_options'] = $mailstack_tls;`);
        expect(php).toContain("$config['plugins'] = ['managesieve', 'mailstack_origin', 'mailstack_password'];");
        expect(php).not.toMatch(/'(password|zipdownload)'/);
        expect(php).toContain(`$config['db_dsnw'] = 'sqlite:///${WEBMAIL_DATABASE}?mode=0640';`);
        expect(WEBMAIL_DATABASE.startsWith("/srv/mail/")).toBe(true);
        // No des_key in the file: it is read from the volume, where the server made it.
        expect(php).toContain("$config['des_key'] = trim(file_get_contents('/srv/mail/state/webmail/des_key'));");
        expect(php).toContain("$config['log_driver'] = 'syslog';");
        expect(php).toContain("$config['log_logins'] = true;");
    });

    it("nginx serves it on the hostname with HSTS and a CSP; host-config prunes it once off", () => {
        const files = renderHostFiles(spec());
        const site = byPath(files, WEBMAIL_NGINX_CONF).content;
        expect(site).toContain("server_name mail.example.org;");
        expect(site).toContain("include /etc/nginx/snippets/mailstack-tls.conf;");
        expect(byPath(files, "/etc/nginx/snippets/mailstack-tls-settings.conf").content).toContain(
            'add_header Strict-Transport-Security "max-age=63072000" always;',
        );
        expect(site).toMatch(
            /add_header Content-Security-Policy "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval';[^"]*object-src 'none';[^"]*frame-ancestors 'self'" always;/,
        );
        expect(site).toContain("fastcgi_pass unix:/run/php/php8.4-fpm.sock;");
        // 50 MB messages: uploads of the same size.
        expect(site).toContain("client_max_body_size 50M;");
        expect(byPath(files, "/etc/php/8.4/fpm/conf.d/90-mailstack-webmail.ini").content).toMatch(
            /upload_max_filesize = 50M\npost_max_size = 50M\n[\s\S]*session.cookie_secure = On\nsession.cookie_httponly = On\n/,
        );
        // Only location blocks without add_header, so every response carries the server's headers.
        expect(
            site
                .split("location")
                .slice(1)
                .some((b) => b.includes("add_header")),
        ).toBe(false);
        expect(HOST_CONFIG_PRUNE).toEqual([
            { dir: "/etc/nginx/conf.d", pattern: "mailstack-*.conf", onChange: ["reload:nginx"] },
            ...DAV_PRUNE,
        ]);
        const hostConfig = PROVISIONING_PLAN.find((s) => s.role === "host-config")!;
        const rules = parseBundleRules(hostConfig.stdin!(spec({ webmail: false }), {} as never));
        expect(rules.prune).toEqual([...HOST_CONFIG_PRUNE]);
        expect(rules.files.map((f) => f.path)).not.toContain(WEBMAIL_NGINX_CONF);
    });

    it("the fail2ban filter matches Roundcube's failed-login line and takes the last address", () => {
        const filter = byPath(renderHostFiles(spec()), "/etc/fail2ban/filter.d/roundcube-auth.local").content;
        const failregex = /^failregex = (.*)$/m.exec(filter)![1];
        const re = new RegExp(
            failregex.replace("<F-USER>.*</F-USER>", "(?<user>.*)").replace("<HOST>", "(?<host>[0-9.]+)"),
        );
        const line = (user: string) =>
            `Failed login for ${user} from 192.0.2.10 in session 0123456789abcdef (error: 0)`;
        expect(re.exec(line("alice@example.org"))?.groups?.host).toBe("192.0.2.10");
        expect(re.exec(line("x from 203.0.113.9 in session a (error: 0)"))?.groups?.host).toBe("192.0.2.10");
        expect(re.test("Successful login for alice@example.org (ID: 1) from 192.0.2.10 in session abc")).toBe(false);
    });
});

describe("local accounts speak for no one (issue 28)", () => {
    const setting = (text: string, name: string) => text.match(new RegExp(`^${name} = (.*)$`, "m"))?.[1];
    const files = renderHostFiles(spec());
    const content = (p: string) => byPath(files, p).content;
    const mainCf = content("/etc/postfix/main.cf");

    it("only root and vmail may hand mail to sendmail (cron, the disk guard, backups; vacation replies and redirects run as vmail); only root sees or flushes the queue", () => {
        expect(setting(mainCf, "authorized_submit_users")).toBe("root, vmail");
        expect(setting(mainCf, "authorized_mailq_users")).toBe("root");
        expect(setting(mainCf, "authorized_flush_users")).toBe("root");
        // Dovecot's LMTP (Sieve) runs as vmail; the quota warning's dovecot-lda does too.
        const dovecot = content("/etc/dovecot/dovecot.conf");
        expect(dovecot).toMatch(/^mail_uid = vmail$/m);
        expect(dovecot).toMatch(/^service quota-warning \{[^}]*\n {2}user = vmail\n/m);
    });

    it("port 25 relays for nobody and takes no hosted sender, from loopback either: permit_mynetworks is in no restriction", () => {
        expect(setting(mainCf, "smtpd_relay_restrictions")).toBe("reject_unauth_destination");
        const sender = /^smtpd_sender_restrictions =\n((?: {4}[^\n]*\n)+)/m.exec(mainCf)![1];
        expect(sender.split(",\n").map((r) => r.trim())).toEqual([
            "reject_non_fqdn_sender",
            "reject_unknown_sender_domain",
            "check_sender_access texthash:/etc/postfix/mailstack/own-sender-domains",
        ]);
        for (const f of ["/etc/postfix/main.cf", "/etc/postfix/master.cf"])
            expect(content(f)).not.toMatch(/permit_mynetworks/);
    });

    it("OpenDKIM and the sender milter listen on unix sockets in Postfix's spool, never on loopback TCP; postfix is the one other member of each socket's group", () => {
        expect(content("/etc/opendkim.conf")).toMatch(
            /^Socket\s+local:\/var\/spool\/postfix\/opendkim\/opendkim\.sock$/m,
        );
        expect(content("/etc/opendkim.conf")).toMatch(/^UMask\s+007$/m);
        expect(content("/usr/local/sbin/mailstack-sender-milter")).toMatch(
            /^SOCKET = "unix:\/var\/spool\/postfix\/mailstack-milter\/sender\.sock"$/m,
        );
        for (const f of files) expect(f.content).not.toMatch(/\b(8891|8893)\b/);
        const dropIn = content("/etc/systemd/system/opendkim.service.d/mailstack.conf");
        expect(dropIn).toMatch(/^RequiresMountsFor=\/var\/spool\/postfix$/m);
        expect(dropIn).toContain("install -d -o opendkim -g opendkim -m 0750 /var/spool/postfix/opendkim");
        const unit = content("/etc/systemd/system/mailstack-sender-milter.service");
        expect(unit).toMatch(/^User=mailstack-milter$/m);
        expect(unit).toMatch(/^UMask=0007$/m);
        expect(unit).not.toMatch(/DynamicUser/);
        expect(unit).toContain(
            "install -d -o mailstack-milter -g mailstack-milter -m 0750 /var/spool/postfix/mailstack-milter",
        );
        const sysusers = byPath(files, "/etc/sysusers.d/mailstack.conf");
        const lines = sysusers.content.split("\n").filter((l) => l && !l.startsWith("#"));
        expect(lines).toEqual([
            'u mailstack-milter - "mailstack sender milter" / /usr/sbin/nologin',
            "m postfix opendkim",
            "m postfix mailstack-milter",
            "m _rspamd valkey",
        ]);
        expect(sysusers.onChange).toContain("apply:accounts");
        // First boot applies it before any daemon starts.
        const firstBoot = userDataFiles(
            renderUserData(spec(), { mailVolumeDevice: DEVICE, provisionalHostKey: TEST_PROVISIONAL_HOST_KEY }),
        );
        expect(firstBoot.get("/etc/sysusers.d/mailstack.conf")).toBe(sysusers.content);
        const script = firstBoot.get("/usr/local/sbin/mailstack-first-boot")!;
        expect(script.indexOf("systemd-sysusers /etc/sysusers.d/mailstack.conf")).toBeGreaterThan(0);
        expect(script.indexOf("systemd-sysusers")).toBeLessThan(script.indexOf('systemctl restart "$unit"'));
    });

    it("Valkey has no TCP listener, only a unix socket of group valkey (0660) that rspamd uses", () => {
        const valkey = content("/etc/valkey/valkey.conf");
        expect(valkey).toMatch(/^port 0$/m);
        expect(valkey).toMatch(/^unixsocket \/run\/valkey\/valkey\.sock$/m);
        expect(valkey).toMatch(/^unixsocketperm 660$/m);
        expect(valkey).not.toMatch(/^bind /m);
        expect(valkey).not.toMatch(/requirepass/);
        expect(content("/etc/rspamd/local.d/redis.conf")).toMatch(/^servers = "\/run\/valkey\/valkey\.sock";$/m);
    });

    it("rspamd's controller trusts no address: every command needs its password, made on the server and readable by vmail's learn programs only", () => {
        const controller = byPath(files, "/etc/rspamd/local.d/worker-controller.inc");
        expect(controller.content).toMatch(/^bind_socket = "127\.0\.0\.1:11334";$/m);
        expect(controller.content).toMatch(/^secure_ip = \[\];$/m);
        expect(controller.content).toMatch(
            /^\.include\(try=true; priority=2\) "\/etc\/mailstack\/rspamd-controller\.inc"$/m,
        );
        expect(controller.onChange).toEqual(["apply:rspamd-password", "restart:rspamd"]);
        const maker = content("/usr/local/sbin/mailstack-rspamd-password");
        expect(maker).toContain("password_file='/etc/mailstack/rspamd-controller.password'");
        expect(maker).toContain("password_group='vmail'");
        expect(maker).toContain('chgrp "$password_group" "$password_file.new"');
        expect(maker).toContain("chgrp _rspamd");
        expect(maker).toContain('echo "enable_password = \\"$hash\\";"');
        // Never on a command line: the password goes to rspamadm on stdin.
        expect(maker).toContain('rspamadm lua "$lua" <"$password_file"');
        for (const cls of ["spam", "ham"]) {
            const learn = content(`/usr/local/lib/mailstack/sieve-pipe/learn-${cls}`);
            expect(learn).toContain(`"http://127.0.0.1:11334/learn${cls}"`);
            expect(learn).toContain('open("/etc/mailstack/rspamd-controller.password"');
            expect(learn).toContain('headers={"Password": password}');
        }
    });

    it("a submission limit is cleared only over a unix socket in the service's own 0700 runtime directory; the policy port refuses a clear", () => {
        const script = content("/usr/local/sbin/mailstack-submission-limit");
        expect(script).toContain(
            'CONTROL = os.path.join(os.environ.get("RUNTIME_DIRECTORY", "/run/mailstack-submission-limit"), "control.sock")',
        );
        expect(script).toContain('if not control:\n            log(f"refused: a clear');
        const unit = content("/etc/systemd/system/mailstack-submission-limit.service");
        expect(unit).toMatch(/^RuntimeDirectory=mailstack-submission-limit$/m);
        expect(unit).toMatch(/^RuntimeDirectoryMode=0700$/m);
        expect(unit).toMatch(/^DynamicUser=yes$/m);
    });
});

describe("webmail logins carry the browser's address (issue 28)", () => {
    const files = renderHostFiles(spec());

    it("Dovecot believes a client address only from loopback, where Roundcube's mailstack_origin plugin sends the browser's before each login", () => {
        const dovecot = byPath(files, "/etc/dovecot/dovecot.conf").content;
        expect(dovecot).toMatch(/^login_trusted_networks = 127\.0\.0\.1\/32 ::1\/128$/m);
        const plugin = byPath(files, "/var/lib/roundcube/plugins/mailstack_origin/mailstack_origin.php");
        expect(plugin.onChange).toEqual(["restart:webmail"]);
        expect(plugin.content).toContain("class mailstack_origin extends rcube_plugin");
        expect(plugin.content).toContain("$this->add_hook('storage_connect'");
        expect(plugin.content).toContain("$args['preauth_ident'] = ['x-originating-ip' => $ip];");
        expect(byPath(files, "/etc/roundcube/config.inc.php").content).toContain(
            "$config['plugins'] = ['managesieve', 'mailstack_origin', 'mailstack_password'];",
        );
    });
});

describe("no compression of the webmail's dynamic responses (BREACH, issue 28)", () => {
    it("nginx compresses static files but never what PHP answers", () => {
        const site = byPath(renderHostFiles(spec()), WEBMAIL_NGINX_CONF).content;
        const php = /location ~ \^\/\[\^\/\]\+\\\.php\$ \{([^}]*)\}/.exec(site)![1];
        expect(php).toMatch(/^\s+gzip off;$/m);
        expect(php).toContain("fastcgi_pass");
        // Every PHP response goes through that one location: nothing else reaches php-fpm.
        expect(site.match(/fastcgi_pass/g)).toHaveLength(1);
        const server = site.replace(/location[^{]*\{[^}]*\}/g, "");
        expect(server).toMatch(/^\s+gzip on;$/m);
        expect(server).toMatch(/^\s+gzip_types text\/css application\/javascript /m);
        expect(server).not.toMatch(/gzip_types[^;]*text\/html/);
    });
});
