// The second factor for the webmail (README "Second factor"): the root-owned helper's TOTP
// (render/host/templates/mailstack/passwords.py) against RFC 6238's own test vectors, and its
// requests from the webmail run for real (python3) against a temporary root, with codes
// computed here by node's crypto; `doveadm pw` is a stub on PATH that takes {PLAIN} hashes.
// The lab enrols a user in the real browser with codes from oathtool (lab/checks/totp.test.ts).

import { spawnSync } from "node:child_process";
import { createHmac } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { buildSpec } from "../model";
import { renderHostFiles } from "../render";
import { renderBackupFiles } from "../render/host/backup";
import { renderMailData } from "../render/host/mail-data";
import {
    CONFIGURED_USERS,
    DOVECOT_USERS,
    TOTP_MODULE,
    USER_TOTP,
    WEBMAIL_ONLY_FIELD,
} from "../render/host/mailbox-passwords";
import { HELPER_INCLUDE, TOTP_PLUGIN_DIR } from "../render/host/webmail";
import { installHelper } from "./helpers/passwords-helper";

const ALICE = "alice@example.org";
const config = (resets: Record<string, string> = {}) => ({
    hostname: "mail.example.org",
    acmeEmail: "postmaster@example.org",
    sshAllowedCidrs: ["203.0.113.7/32"],
    webmail: true,
    domains: [
        {
            name: "example.org",
            mailboxes: ["alice", "bob"],
            aliases: { postmaster: ["alice@example.org"] },
            passwordResets: resets,
        },
    ],
});

let root: string;
let env: NodeJS.ProcessEnv;

/** mail-data's configured rows: every mailbox's password is `<local part>-configured`. */
function configure(resets: Record<string, string> = {}): void {
    const s = buildSpec(config(resets));
    const hashes = Object.fromEntries(
        s.domains.flatMap((d) => d.mailboxes).map((m) => [m, `{PLAIN}${m.split("@")[0]}-configured`]),
    );
    const file = renderMailData(s, { passwordHashes: hashes }).find((f) => f.path === CONFIGURED_USERS)!;
    fs.writeFileSync(path.join(root, CONFIGURED_USERS), file.content);
}

beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "mailstack-totp-"));
    fs.mkdirSync(path.join(root, path.dirname(CONFIGURED_USERS)), { recursive: true });
    installHelper(root, renderHostFiles(buildSpec(config())));
    fs.mkdirSync(path.join(root, "bin"));
    // doveadm pw -t {PLAIN}x: whether stdin's password is x.
    fs.writeFileSync(path.join(root, "bin/doveadm"), '#!/bin/sh\nread -r pw\n[ "$3" = "{PLAIN}$pw" ]\n', {
        mode: 0o755,
    });
    env = {
        ...process.env,
        MAILSTACK_PASSWORDS_ROOT: root,
        MAILSTACK_PASSWORDS_FAILURE_DELAY: "0",
        PATH: `${root}/bin:${process.env.PATH}`,
    };
    configure();
});

afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

/** Python run with the helper's TOTP module (what the server has at TOTP_MODULE) imported as `h`. */
function python(code: string): string {
    const r = spawnSync(
        "python3",
        [
            "-c",
            `import importlib.util as u, sys\ns = u.spec_from_file_location("h", sys.argv[1])\nh = u.module_from_spec(s)\ns.loader.exec_module(h)\n${code}`,
            path.join(root, TOTP_MODULE),
        ],
        { env, encoding: "utf8" },
    );
    expect(r.stderr).toBe("");
    return r.stdout.trim();
}

/** One request through a connected unix socket, as systemd hands it to `serve`; the answer and the log. */
function ask(request: object): { answer: Record<string, unknown>; log: string } {
    const py = `
import socket, subprocess, sys
a, b = socket.socketpair()
p = subprocess.Popen([sys.executable, sys.argv[1], "serve"], stdin=b)
b.close()
a.sendall(sys.stdin.buffer.read())
print(a.makefile().readline(), end="")
p.wait()
`;
    const r = spawnSync("python3", ["-c", py, path.join(root, "helper.py")], {
        env,
        input: `${JSON.stringify({ user: ALICE, current: "alice-configured", origin: "198.51.100.66", ...request })}\n`,
        encoding: "utf8",
    });
    return { answer: JSON.parse(r.stdout) as Record<string, unknown>, log: r.stderr };
}

/** RFC 6238 with SHA-1, computed here and not by the helper: the code of `secret` (base32) at `at` (s). */
function code(secret: string, at = Date.now() / 1000): string {
    let bits = "";
    for (const c of secret) bits += "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".indexOf(c).toString(2).padStart(5, "0");
    const key = Buffer.from(bits.match(/.{8}/g)!.map((b) => parseInt(b, 2)));
    const counter = Buffer.alloc(8);
    counter.writeBigUInt64BE(BigInt(Math.floor(at / 30)));
    const mac = createHmac("sha1", key).update(counter).digest();
    const o = mac[19] & 0xf;
    return String((mac.readUInt32BE(o) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}

const row = (file: string, address: string) =>
    fs
        .readFileSync(path.join(root, file), "utf8")
        .split("\n")
        .find((l) => l.startsWith(`${address}:`))!;

/** Turns alice's second factor on; the secret and the recovery codes. */
function enrol(): { secret: string; recovery: string[]; confirmed: string } {
    expect(run(["apply"]).status).toBe(0);
    const begun = ask({ action: "totp-begin" }).answer;
    const secret = String(begun.secret);
    const confirmed = code(secret);
    const on = ask({ action: "totp-confirm", code: confirmed }).answer;
    expect(on.ok).toBe(true);
    return { secret, recovery: on.recoveryCodes as string[], confirmed };
}

function run(args: string[]) {
    return spawnSync("python3", [path.join(root, "helper.py"), ...args], { env, encoding: "utf8" });
}

test("the helper's TOTP gives RFC 6238's SHA-1 test vectors (appendix B, 8 digits) and RFC 4226's HOTP values", () => {
    const vectors = python(`
key = b"12345678901234567890"
print(" ".join(h.totp(key, t, 8) for t in (59, 1111111109, 1111111111, 1234567890, 2000000000, 20000000000)))
print(" ".join(h.hotp(key, c) for c in range(10)))
print(h.totp(key, 59))`);
    expect(vectors.split("\n")).toEqual([
        "94287082 07081804 14050471 89005924 69279037 65353130",
        "755224 287082 359152 969429 338314 254676 287922 162583 399871 520489",
        // Six digits, as the apps show: the last six of the eight.
        "287082",
    ]);
});

test("a code is taken one step either side of now, never twice, and never an older step than the last used", () => {
    const out = python(`
import base64
secret = base64.b32encode(b"12345678901234567890").decode()
key = b"12345678901234567890"
now = 1111111111
print(h.totp_step(secret, h.totp(key, now), 0, now), h.totp_step(secret, h.totp(key, now - 30), 0, now), h.totp_step(secret, h.totp(key, now + 30), 0, now))
print(h.totp_step(secret, h.totp(key, now - 60), 0, now), h.totp_step(secret, h.totp(key, now + 60), 0, now))
step = now // 30
print(h.totp_step(secret, h.totp(key, now), step, now), h.totp_step(secret, h.totp(key, now - 30), step - 1, now))
print(h.totp_step(secret, "12345", 0, now), h.totp_step(secret, "abcdef", 0, now))`);
    const step = Math.floor(1111111111 / 30);
    expect(out.split("\n")).toEqual([`${step} ${step - 1} ${step + 1}`, "None None", "None None", "None None"]);
});

test("alice turns the second factor on with a code: her main password then opens only logins from the server itself, and a reset by the config turns it off", () => {
    expect(run(["apply"]).status).toBe(0);
    expect(ask({ action: "totp-status" }).answer).toEqual({ ok: true, totp: "off" });
    // Without the second factor a login needs no code.
    expect(ask({ action: "totp-login", code: "" }).answer).toEqual({ ok: true, secondFactor: false });

    const begun = ask({ action: "totp-begin" }).answer;
    expect(String(begun.secret)).toMatch(/^[A-Z2-7]{32}$/);
    // Pending: nothing changes for Dovecot until a code confirms it.
    expect(ask({ action: "totp-status" }).answer.totp).toBe("pending");
    expect(row(DOVECOT_USERS, ALICE)).not.toContain("allow_real_nets");
    const wrong = ask({ action: "totp-confirm", code: "000000" === code(String(begun.secret)) ? "111111" : "000000" });
    expect(wrong.answer).toEqual({ ok: false, error: "the code is wrong" });
    expect(wrong.log).toContain(`second factor refused for ${ALICE}: wrong code (from 198.51.100.66)`);

    const on = ask({ action: "totp-confirm", code: code(String(begun.secret)) });
    expect(on.answer.ok).toBe(true);
    const recovery = on.answer.recoveryCodes as string[];
    expect(recovery).toHaveLength(10);
    for (const c of recovery) expect(c).toMatch(/^[a-z2-9]{5}-[a-z2-9]{5}$/);
    expect(new Set(recovery).size).toBe(10);

    // The row Dovecot reads: the main password only from 127.0.0.1 and ::1 (the webmail);
    // bob's row as configured.
    expect(WEBMAIL_ONLY_FIELD).toBe("allow_real_nets=127.0.0.1/32,::1/128");
    expect(row(DOVECOT_USERS, ALICE)).toMatch(
        /^alice@example\.org:\{PLAIN\}alice-configured:5000:5000:[0-9a-f]{16}:\/srv\/mail\/vhosts\/example\.org\/alice::userdb_quota_storage_size=\S+ allow_real_nets=127\.0\.0\.1\/32,::1\/128$/,
    );
    expect(row(DOVECOT_USERS, "bob@example.org")).toBe(row(CONFIGURED_USERS, "bob@example.org"));

    // On the volume: the secret and only hashes of the recovery codes, 0600.
    const stored = row(USER_TOTP, ALICE);
    expect(stored).toContain(String(begun.secret));
    for (const c of recovery) expect(stored).not.toContain(c);
    expect(stored).toMatch(
        /^alice@example\.org:[A-Z2-7]{32}:on:\d+:(\{SSHA512\}[A-Za-z0-9+/=]+,){9}\{SSHA512\}[A-Za-z0-9+/=]+:[0-9a-f]{16}:\d+$/,
    );
    expect(fs.statSync(path.join(root, USER_TOTP)).mode & 0o777).toBe(0o600);
    expect(ask({ action: "totp-status" }).answer).toEqual({ ok: true, totp: "on", recoveryLeft: 10 });

    // Another apply (mail-data again) keeps it; a reset by the stack config turns it off.
    expect(run(["apply"]).status).toBe(0);
    expect(row(DOVECOT_USERS, ALICE)).toContain(WEBMAIL_ONLY_FIELD);
    configure({ alice: "2026-12-06" });
    const reset = run(["apply"]);
    expect(reset.stderr).toContain(`${ALICE}: the second factor is turned off`);
    expect(row(DOVECOT_USERS, ALICE)).not.toContain("allow_real_nets");
    expect(ask({ action: "totp-status" }).answer.totp).toBe("off");
}, 30_000);

test("at login a code works once, a recovery code works once, a missing or wrong one is refused and logged for fail2ban", () => {
    const { secret, recovery, confirmed } = enrol();
    // The code that confirmed it is used: not again at login. (That very code, not the one of
    // this moment: a 30 s step may have begun since, and its code is a new one.)
    expect(ask({ action: "totp-login", code: confirmed }).answer).toEqual({ ok: false, error: "the code is wrong" });
    const next = code(secret, Date.now() / 1000 + 30);
    expect(ask({ action: "totp-login", code: next }).answer).toEqual({
        ok: true,
        secondFactor: true,
        recoveryLeft: 10,
    });
    expect(ask({ action: "totp-login", code: next }).answer.ok).toBe(false);
    const missing = ask({ action: "totp-login", code: "" });
    expect(missing.answer).toEqual({ ok: false, error: "the code is wrong" });
    expect(missing.log).toContain(`second factor refused for ${ALICE}: wrong code (from 198.51.100.66)`);

    // A recovery code, typed in capitals and without its dash: once.
    const typed = recovery[3].replace("-", "").toUpperCase();
    expect(ask({ action: "totp-login", code: typed }).answer).toEqual({
        ok: true,
        secondFactor: true,
        recoveryLeft: 9,
    });
    expect(ask({ action: "totp-login", code: recovery[3] }).answer.ok).toBe(false);

    // A wrong password is the password's failure, not the code's (Dovecot then refuses it too).
    const wrongPassword = ask({ action: "totp-login", current: "not-hers", code: recovery[4] });
    expect(wrongPassword.answer).toEqual({ ok: false, error: "the current password is wrong" });
    expect(wrongPassword.log).toContain(`webmail login refused for ${ALICE}: wrong current password`);
    // bob's password proves nothing for alice.
    expect(ask({ action: "totp-disable", current: "bob-configured", code: recovery[4] }).answer.ok).toBe(false);
}, 30_000);

test("turning it off needs the password and a code, and gives the main password back to mail apps", () => {
    const { recovery } = enrol();
    expect(ask({ action: "totp-begin" }).answer).toEqual({ ok: false, error: "the second factor is on already" });
    expect(ask({ action: "totp-disable", code: "" }).answer.ok).toBe(false);
    expect(row(DOVECOT_USERS, ALICE)).toContain(WEBMAIL_ONLY_FIELD);
    const off = ask({ action: "totp-disable", code: recovery[0] });
    expect(off.answer).toEqual({ ok: true });
    expect(off.log).toContain(`${ALICE} turned the second factor off`);
    expect(row(DOVECOT_USERS, ALICE)).toBe(row(CONFIGURED_USERS, ALICE));
    expect(fs.readFileSync(path.join(root, USER_TOTP), "utf8")).not.toContain(ALICE);
}, 30_000);

test("after a restore the second factors are those of before it (turned off since stays off)", () => {
    enrol();
    const accounts = path.dirname(path.join(root, USER_TOTP));
    fs.mkdirSync(`${accounts}.before-restore`);
    fs.writeFileSync(path.join(`${accounts}.before-restore`, "totp"), "# none\n");
    const r = run(["keep-newer", path.join(`${accounts}.before-restore`, "passwords")]);
    expect(r.status).toBe(0);
    expect(fs.readFileSync(path.join(root, USER_TOTP), "utf8")).not.toContain(ALICE);
    const restore = renderBackupFiles(
        buildSpec({
            ...config(),
            backup: {
                sftp: {
                    host: "u1.your-storagebox.de",
                    user: "u1",
                    path: "mail",
                    hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIj0Y7Fwm6wZUmPQpVuZ7mUr2Z5ZpOHg6oYd3Vtq8x9c",
                },
            },
            backupSecretsSet: ["backupPassword", "backupSshPrivateKey"],
        }),
        { password: "pw-0123456789", sshPrivateKey: "KEY" },
    ).find((f) => f.path === "/usr/local/sbin/mailstack-restore")!.content;
    expect(restore).toContain(`user_totp='${USER_TOTP}'`);
    expect(restore).toMatch(/\[ -f "\$accounts\.before-restore-\$stamp\/\$\{user_totp##\*\/\}" \]; then/);
});

test("the webmail's plugin: a code field at login, the helper's socket, QR codes drawn by Debian's qrencode on the server", () => {
    const files = renderHostFiles(buildSpec(config()));
    const plugin = files.find((f) => f.path === `${TOTP_PLUGIN_DIR}/mailstack_totp.php`)!.content;
    expect(plugin).toContain("class mailstack_totp extends rcube_plugin");
    // The password is Dovecot's to judge: no hook before Roundcube's IMAP login asks the
    // helper (a wrong password would hold one of its few connections); only a session that
    // opened does, and ends without a valid code.
    expect(plugin).not.toContain("'authenticate'");
    expect(plugin).toContain("$this->add_hook('login_after', [$this, 'login_after']);");
    const loginAfter = plugin.slice(
        plugin.indexOf("public function login_after"),
        plugin.indexOf("public function settings_actions"),
    );
    expect(loginAfter).toMatch(/'action' {2}=> 'totp-login'/);
    expect(loginAfter).toMatch(/\$this->rc->kill_session\(\);\s+\$this->rc->output->show_message\(/);
    // The socket's call, once, for both plugins.
    expect(plugin).toContain(`require_once '${HELPER_INCLUDE}';`);
    expect(plugin).not.toContain("stream_socket_client");
    const include = files.find((f) => f.path === HELPER_INCLUDE)!.content;
    expect(include).toContain("@stream_socket_client('unix:///run/mailstack-password.sock'");
    expect(plugin).toContain("const ISSUER = 'mail.example.org';");
    expect(plugin).toMatch(/proc_open\(\['qrencode', '-t', 'SVG'/);
    const roundcube = files.find((f) => f.path === "/etc/roundcube/config.inc.php")!.content;
    expect(roundcube).toMatch(/^\$config\['plugins'\] = \[[^\]]*'mailstack_totp'\];$/m);
    // The texts name what then needs app passwords: calendars and contacts too with Radicale.
    const texts = (dav: boolean) =>
        renderHostFiles(buildSpec({ ...config(), dav })).find(
            (f) => f.path === `${TOTP_PLUGIN_DIR}/localization/en_US.inc`,
        )!.content;
    expect(texts(true)).toContain(
        "your password opens nothing else: mail, calendar and contacts apps log in with app passwords",
    );
    expect(texts(true)).toContain("Mail, calendar and contacts apps now need app passwords.");
    expect(texts(false)).toContain("your password opens nothing else: mail apps log in with app passwords");
    expect(texts(false)).not.toContain("calendar");
    const filter = files.find((f) => f.path === "/etc/fail2ban/filter.d/mailstack-password.conf")!.content;
    expect(filter).toMatch(/second factor\) refused for .* wrong \(\?:current password\|code\)/);
    // Without the webmail, no plugin.
    const off = renderHostFiles(buildSpec({ ...config(), webmail: false }));
    expect(off.some((f) => f.path.startsWith(TOTP_PLUGIN_DIR))).toBe(false);
});
