// Unit tests of the webmail (mailstack:webmail) and of issue 28's local accounts, webmail
// logins and uncompressed dynamic responses.

import { type MailSpec } from "../model";
import { parseBundleRules, renderHostFiles, renderUserData } from "../render";
import { PROVISIONING_PLAN } from "../render/plan/plan";
import { PHP_FPM_UNIT, WEBMAIL_DATABASE, WEBMAIL_NGINX_CONF } from "../render/host/webmail";
import { HOST_CONFIG_PRUNE } from "../render/features";
import { DAV_PRUNE } from "../render/host/dav";
import { ETRN_PRUNE } from "../render/features/backup-mx";
import { TEST_PROVISIONAL_HOST_KEY } from "./helpers/host-key";
import { DEVICE, spec, byPath, userDataFiles } from "./helpers/render";

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
                "/var/lib/roundcube/plugins/mailstack_helper/mailstack_helper.php",
                "/var/lib/roundcube/plugins/mailstack_password/mailstack_password.php",
                "/var/lib/roundcube/plugins/mailstack_password/localization/en_US.inc",
                "/var/lib/roundcube/plugins/mailstack_totp/mailstack_totp.php",
                "/var/lib/roundcube/plugins/mailstack_totp/localization/en_US.inc",
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
        expect(php).toContain(
            "$config['plugins'] = ['managesieve', 'mailstack_origin', 'mailstack_password', 'mailstack_totp'];",
        );
        expect(php).not.toMatch(/'(password|zipdownload)'/);
        expect(php).toContain(`$config['db_dsnw'] = 'sqlite:///${WEBMAIL_DATABASE}?mode=0640';`);
        expect(WEBMAIL_DATABASE.startsWith("/srv/mail/")).toBe(true);
        // No des_key in the file: it is read from the volume, where the server made it.
        expect(php).toContain("$config['des_key'] = trim(file_get_contents('/srv/mail/state/webmail/des_key'));");
        expect(php).toContain("$config['log_driver'] = 'syslog';");
        expect(php).toContain("$config['log_logins'] = true;");
        // No per-user lock after failed logins (anyone could keep any user out); guessers are
        // judged by their own address (Dovecot's delay, fail2ban).
        expect(php).toContain("$config['login_rate_limit'] = 0;");
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
            ...ETRN_PRUNE,
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
            "$config['plugins'] = ['managesieve', 'mailstack_origin', 'mailstack_password', 'mailstack_totp'];",
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
