// Unit tests of the host files (render/host/, through the feature registry): each setting that
// matters, the templates, LMTP concurrency and the quota checks. The daemons' own tools judge
// the same files in test/host-tools/run.sh.

import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { renderHostFiles } from "../render";
import { FEATURES } from "../render/features";
import { fill } from "../render/host/template";
import { TLS_DIR } from "../render/host/tls";
import { mountUnitName, VOLUME_STATE_DIRS } from "../render/host/volume";
import { spec, oneDomain, RELAY_FINGERPRINT, withRelay, byPath } from "./helpers/render";

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
        // A password, never XOAUTH2 (the imports' Cyrus plugin for it is on the same server).
        expect(setting(relayCf, "smtp_sasl_mechanism_filter")).toBe("plain, login");
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

    it("IMAPS logins wait for no process to start: imap-login and imap processes kept waiting, still one connection each (issue 30)", () => {
        const conf = byPath(files, "/etc/dovecot/mailstack.d/processes.conf");
        const block = (name: string) => new RegExp(`^service ${name} \\{\\n([^}]*)\\}$`, "m").exec(conf.content)?.[1];
        // High-security mode as Dovecot's default: a process ends with its one connection. The
        // login processes keep Dovecot's dovenull user and chroot (nothing here changes them).
        expect(block("imap-login")).toBe("  restart_request_count = 1\n  process_min_avail = 2\n");
        expect(block("imap")).toBe("  restart_request_count = 1\n  process_min_avail = 2\n");
        expect(conf.content).not.toMatch(/^\s*(client_limit|user|chroot|service_count)\b/m);
        // A reload applies it (the master starts the waiting processes); host-config's, not the user-data's.
        expect(conf.onChange).toEqual(["reload:dovecot"]);
        const dovecot = FEATURES.find((f) => f.name === "dovecot")!;
        expect(dovecot.files!(spec()).map((f) => f.path)).not.toContain(conf.path);
        expect(dovecot.laterFiles!(spec()).map((f) => f.path)).toContain(conf.path);
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
