// Calendars and contacts (mailstack:dav, issue 32): what Radicale, Dovecot, nginx, fail2ban,
// the DNS records and Apple's profile must say, and that switching it off leaves none of it.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { buildSpec, type MailSpec } from "../model";
import { renderAppleProfile } from "../render/host/client-config";
import { DAV_AUTH_SOCKET, DAV_COLLECTIONS, DAV_PRUNE, renderDavFiles } from "../render/host/dav";
import { HOST_CONFIG_PRUNE, renderHostFiles } from "../render/features";
import { renderPackageList } from "../render/plan/plan";
import { PROVISIONING_PLAN } from "../render/plan/plan";
import { parseBundleRules } from "../render/plan/bundle";
import { parsePlist, type PlistValue } from "../lab/clients/plist";
import { twoDomains } from "./helpers/fixtures";

const spec = (dav = true): MailSpec => buildSpec({ ...twoDomains(), dav });
const files = renderHostFiles(spec());
const content = (p: string): string => {
    const f = files.find((x) => x.path === p);
    if (!f) throw new Error(`no ${p}`);
    return f.content;
};
/** `key = value` in the section of an INI file (Radicale's config). */
function ini(text: string, section: string, key: string): string | undefined {
    const body = text.split(/^\[/m).find((s) => s.startsWith(`${section}]`)) ?? "";
    return new RegExp(`^${key} = (.*)$`, "m").exec(body)?.[1];
}

describe("calendars and contacts (mailstack:dav)", () => {
    const radicale = content("/etc/radicale/config");

    it("is on unless switched off, and a wrong value names the key", () => {
        expect(spec().dav).toBe(true);
        expect(buildSpec(twoDomains()).dav).toBe(true);
        expect(() => buildSpec({ ...twoDomains(), dav: "yes" as never })).toThrow(/mailstack:dav/);
    });

    it("Radicale listens on loopback only, logs in through Dovecot's socket, lower-cases the login and lets each user reach only their own collections", () => {
        expect(ini(radicale, "server", "hosts")).toBe("127.0.0.1:5232");
        // Our module for Dovecot 2.4's auth protocol, on the unit's PYTHONPATH.
        expect(ini(radicale, "auth", "type")).toBe("mailstack_dovecot_auth");
        expect(ini(radicale, "auth", "dovecot_socket")).toBe(DAV_AUTH_SOCKET);
        const unit = content("/etc/systemd/system/radicale.service.d/mailstack.conf");
        const pythonPath = /^Environment=PYTHONPATH=(.*)$/m.exec(unit)![1];
        const plugin = content(`${pythonPath}/mailstack_dovecot_auth.py`);
        // It speaks first (2.4 waits for the client's VERSION) and reads lines up to DONE.
        expect(plugin).toMatch(/s\.sendall\(b"VERSION\\t1\\t2\\nCPID/);
        expect(plugin).toMatch(/if fields\[0\] == b"DONE":/);
        expect(ini(radicale, "auth", "lc_username")).toBe("True");
        // Radicale 3.5.3's login cache checks another user's login after a failed one expires
        // (fixed upstream in 3.7.1): with it on, one wrong login by anyone locks real users out.
        expect(ini(radicale, "auth", "cache_logins")).toBe("False");
        expect(ini(radicale, "rights", "type")).toBe("owner_only");
        expect(ini(radicale, "logging", "mask_passwords")).toBe("True");
    });

    it("tells Dovecot the DAV client's own address (nginx's X-Forwarded-For), so its auth penalty falls on a guesser alone, and waits out that penalty", () => {
        const unit = content("/etc/systemd/system/radicale.service.d/mailstack.conf");
        const pythonPath = /^Environment=PYTHONPATH=(.*)$/m.exec(unit)![1];
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mailstack-dav-auth-"));
        try {
            fs.writeFileSync(path.join(dir, "plugin.py"), content(`${pythonPath}/mailstack_dovecot_auth.py`));
            // Radicale's modules as far as the plugin uses them, and Dovecot's side of the socket.
            const py = `
import importlib.util, socket, sys, threading, types
radicale = types.ModuleType("radicale"); sys.modules["radicale"] = radicale
a = types.ModuleType("radicale.auth"); a.BaseAuth = type("BaseAuth", (), {"__init__": lambda self, c: None})
log = types.ModuleType("radicale.log"); log.logger = types.SimpleNamespace(error=print)
sys.modules["radicale.auth"] = radicale.auth = a; sys.modules["radicale.log"] = log
spec = importlib.util.spec_from_file_location("plugin", sys.argv[1] + "/plugin.py")
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
server = socket.socket(socket.AF_UNIX); server.bind(sys.argv[1] + "/auth"); server.listen()
def dovecot():
    for _ in range(2):
        c, _ = server.accept(); f = c.makefile("rb")
        f.readline(); f.readline()
        c.sendall(b"VERSION\\t1\\t2\\nMECH\\tPLAIN\\tplaintext\\nDONE\\n")
        line = f.readline().decode().rstrip("\\n"); print(line.split("\\tresp=")[0])
        c.sendall(b"OK\\t%s\\tuser=x\\n" % line.split("\\t")[1].encode()); c.close()
threading.Thread(target=dovecot, daemon=True).start()
conf = types.SimpleNamespace(get=lambda section, key: sys.argv[1] + "/auth")
auth = m.Auth(conf)
print(m.ANSWER_TIMEOUT_SECONDS)
for xff in ["192.0.2.7", "not an address"]:
    assert auth.get_external_login({"HTTP_X_FORWARDED_FOR": xff}) == ()
    print(auth._login("alice@example.org", "pw"))
`;
            const r = spawnSync("python3", ["-c", py, dir], { encoding: "utf8" });
            expect(r.stderr).toBe("");
            const [timeout, ...lines] = r.stdout.trim().split("\n");
            // Above Dovecot's longest auth penalty (15 s).
            expect(Number(timeout)).toBeGreaterThan(15);
            expect(lines).toEqual([
                "AUTH\t1\tPLAIN\tservice=radicale\trip=192.0.2.7",
                "alice@example.org",
                // Not an address: none is sent rather than a wrong one.
                "AUTH\t2\tPLAIN\tservice=radicale",
                "alice@example.org",
            ]);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
        // nginx replaces what the client sent with its own view of the address.
        expect(content("/etc/nginx/mailstack-host.d/mailstack-dav.conf")).toMatch(
            /^\s*proxy_set_header X-Forwarded-For \$remote_addr;$/m,
        );
    });

    it("keeps its collections on the mail volume, and gives a new user a calendar and an address book", () => {
        expect(ini(radicale, "storage", "filesystem_folder")).toBe(DAV_COLLECTIONS);
        expect(DAV_COLLECTIONS.startsWith("/srv/mail/state/")).toBe(true);
        const predefined = JSON.parse(ini(radicale, "storage", "predefined_collections")!) as Record<
            string,
            { tag: string }
        >;
        expect(Object.values(predefined).map((c) => c.tag)).toEqual(["VCALENDAR", "VADDRESSBOOK"]);
        const unit = content("/etc/systemd/system/radicale.service.d/mailstack.conf");
        expect(unit).toMatch(/^RequiresMountsFor=\/srv\/mail\/state\/dav$/m);
        expect(unit).toMatch(/^ReadWritePaths=-\/srv\/mail\/state\/dav$/m);
        // A replaced server's radicale user may have another uid: the folder is handed to it.
        expect(unit).toMatch(/^ExecStartPre=\+\/bin\/sh -c .*chown -R radicale:radicale \/srv\/mail\/state\/dav/m);
        const config = files.find((f) => f.path === "/etc/radicale/config")!;
        expect([config.mode, config.owner, config.group]).toEqual(["0640", "root", "radicale"]);
    });

    it("Dovecot's listener for it: only the radicale user opens it", () => {
        const listener = content("/etc/dovecot/mailstack.d/dav.conf");
        expect(DAV_AUTH_SOCKET).toBe("/run/dovecot/auth-radicale");
        expect(listener).toMatch(/unix_listener auth-radicale \{\n\s*mode = 0600\n\s*user = radicale\n/);
        expect(content("/etc/dovecot/dovecot.conf")).toMatch(/^!include_try \/etc\/dovecot\/mailstack\.d\/\*\.conf$/m);
    });

    it("nginx: /dav/ to Radicale on loopback with the client's own address, the well-known URLs redirect there, on the host name with or without the webmail", () => {
        const dav = content("/etc/nginx/mailstack-host.d/mailstack-dav.conf");
        expect(dav).toMatch(/location = \/\.well-known\/caldav \{\n\s*return 301 https:\/\/\$host\/dav\/;/);
        expect(dav).toMatch(/location = \/\.well-known\/carddav \{\n\s*return 301 https:\/\/\$host\/dav\/;/);
        expect(dav).toMatch(/location \^~ \/dav\/ \{\n(\s*#.*\n)*\s*proxy_pass http:\/\/127\.0\.0\.1:5232;/);
        expect(dav).toMatch(/^\s*proxy_set_header X-Forwarded-For \$remote_addr;$/m);
        expect(dav).toMatch(/^\s*proxy_set_header X-Script-Name \/dav;$/m);
        const include = "include /etc/nginx/mailstack-host.d/*.conf;";
        expect(content("/etc/nginx/conf.d/mailstack-webmail.conf")).toContain(include);
        const defaultSite = content("/etc/nginx/sites-available/default");
        expect(defaultSite.split("server {").find((b) => b.includes("default_server;\n    listen [::]:443"))).toContain(
            include,
        );
    });

    it("fail2ban's radicale jail takes the address nginx forwarded, never nginx's own", () => {
        // Its own jail file, with host-config, as its filter: the first boot's fail2ban has neither.
        expect(content("/etc/fail2ban/jail.d/mailstack-radicale.local")).toMatch(
            /^\[radicale\]\nenabled = true\nfilter = mailstack-radicale\nport = https$/m,
        );
        expect(content("/etc/fail2ban/jail.local")).not.toMatch(/radicale/);
        const filter = content("/etc/fail2ban/filter.d/mailstack-radicale.conf");
        expect(filter).toMatch(/^journalmatch = _SYSTEMD_UNIT=radicale\.service$/m);
        // After fail2ban's own prefix (common.conf: "radicale[812]: "), checked by check:host's fail2ban-regex.
        const failregex = /^failregex = \^%\(__prefix_line\)s(.*)$/m.exec(filter)![1];
        const re = new RegExp(
            "^" +
                failregex
                    .replace("<HOST>", "(?<host>[0-9a-f.:]+)")
                    .replace("<F-USER>", "(?<user>")
                    .replace("</F-USER>", ")"),
        );
        const line = (from: string) =>
            `[812/Thread-3 (process_request_thread)] [WARNING] Failed login attempt from 127.0.0.1 (forwarded for '${from}'): 'alice@example.org' ()`;
        expect(re.exec(line("192.0.2.10"))?.groups).toEqual({ host: "192.0.2.10", user: "alice@example.org" });
        expect(re.exec(line("2001:db8::7"))?.groups?.host).toBe("2001:db8::7");
        expect(re.test("[812/Thread-3] [INFO] Successful login: 'alice@example.org'")).toBe(false);
    });

    it("Apple's profile holds a CalDAV and a CardDAV account on the host's 443 with TLS, without a login", () => {
        type Dict = Record<string, PlistValue>;
        const profile = parsePlist(renderAppleProfile(spec(), "example.org")) as Dict;
        const payloads = profile.PayloadContent as Dict[];
        expect(payloads.map((p) => p.PayloadType)).toEqual([
            "com.apple.mail.managed",
            "com.apple.caldav.account",
            "com.apple.carddav.account",
        ]);
        const [, cal, card] = payloads;
        expect([cal.CalDAVHostName, cal.CalDAVPort, cal.CalDAVUseSSL]).toEqual([spec().hostname, 443, true]);
        expect([card.CardDAVHostName, card.CardDAVPort, card.CardDAVUseSSL]).toEqual([spec().hostname, 443, true]);
        expect(cal.CalDAVUsername).toBeUndefined();
        expect(new Set(payloads.map((p) => p.PayloadUUID)).size).toBe(3);
        const off = parsePlist(renderAppleProfile(spec(false), "example.org")) as Dict;
        expect((off.PayloadContent as Dict[]).map((p) => p.PayloadType)).toEqual(["com.apple.mail.managed"]);
    });

    it("switched off: no package, no file, no jail; host-config prunes its site and Dovecot listener", () => {
        expect(renderDavFiles(spec(false))).toEqual([]);
        expect(renderPackageList(spec(false))).not.toMatch(/radicale/);
        const offFiles = renderHostFiles(spec(false));
        expect(offFiles.filter((f) => /radicale|dav/.test(f.path))).toEqual([]);
        expect(HOST_CONFIG_PRUNE).toEqual(expect.arrayContaining([...DAV_PRUNE]));
        const hostConfig = PROVISIONING_PLAN.find((s) => s.role === "host-config")!;
        const rules = parseBundleRules(hostConfig.stdin!(spec(false), {} as never));
        expect(rules.prune).toEqual(expect.arrayContaining([...DAV_PRUNE]));
    });
});
