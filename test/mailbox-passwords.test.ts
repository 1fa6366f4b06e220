// Who owns a mailbox password (render/host/mailbox-passwords.ts): the helper that writes
// Dovecot's passwd-file from the configured hashes and the ones users set themselves, run
// for real (python3) against a temporary root. `doveadm pw` is a stub on PATH that "hashes"
// as {PLAIN}<password>; the lab runs the real one (lab/checks/accounts.test.ts).

import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { buildSpec, type RawConfig } from "../model";
import { createHash } from "node:crypto";
import {
    APP_PASSWORDS_CONF,
    APP_PASSWORDS_LAST_USED,
    APP_PASSWORDS_LUA,
    AUTH_CACHE_MODULE,
    AUTH_CACHE_TTL,
    CONFIGURED_USERS,
    DOVECOT_AUTH_MASTER,
    DOVECOT_APP_PASSWORDS,
    DOVECOT_USERS,
    MAIN_PASSWORD_CONF,
    MAIN_PASSWORD_LUA,
    passwordGeneration,
    PASSWORDS_HELPER,
    renderPasswordFiles,
    TOTP_MODULE,
    USER_APP_PASSWORDS,
    USER_SET_PASSWORDS,
} from "../render/host/mailbox-passwords";
import { renderHostFiles } from "../render";
import { BCRYPT_COST } from "../render/plan/passwords";
import { BACKUP_EXCLUDE, renderBackupFiles } from "../render/host/backup";
import { renderMailData } from "../render/host/mail-data";
import { configProblems } from "./helpers/fixtures";
import { installHelper } from "./helpers/passwords-helper";

const BACKUP_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIj0Y7Fwm6wZUmPQpVuZ7mUr2Z5ZpOHg6oYd3Vtq8x9c";
const HASH = "{BLF-CRYPT}$2b$12$abcdefghijklmnopqrstuu5Lf0vXgUQx9J4vy7QUrCpLn2jyV4xq6";

let root: string;
let helper: string;
let bin: string;

beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "mailstack-passwords-"));
    for (const p of [CONFIGURED_USERS, USER_SET_PASSWORDS])
        fs.mkdirSync(path.join(root, path.dirname(p)), { recursive: true });
    helper = path.join(root, "helper.py");
    installHelper(root, renderPasswordFiles(spec()));
    // doveadm pw: -t HASH verifies stdin's password against {PLAIN}; -s makes {BLF-CRYPT}$2y$PLAIN:<pw>.
    bin = path.join(root, "bin");
    fs.mkdirSync(bin);
    fs.writeFileSync(
        path.join(bin, "doveadm"),
        `#!/bin/sh
if [ "$1" = auth ]; then echo "$*" >>"$MAILSTACK_PASSWORDS_ROOT/doveadm-auth.log"; exit "$(cat "$MAILSTACK_PASSWORDS_ROOT/doveadm-auth-status" 2>/dev/null || echo 0)"; fi
read -r pw
case "$2" in
-t) [ "$3" = "{BLF-CRYPT}\\$2y\\$fake\\$$pw" ] || [ "$3" = "{PLAIN}$pw" ] ;;
*) printf '{BLF-CRYPT}$2y$fake$%s\\n' "$pw" ;;
esac
`,
        { mode: 0o755 },
    );
});

afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

function config(resets: unknown = {}): RawConfig {
    return {
        hostname: "mail.example.org",
        acmeEmail: "postmaster@example.org",
        sshAllowedCidrs: ["203.0.113.7/32"],
        domains: [
            {
                name: "example.org",
                mailboxes: ["alice", "bob"],
                aliases: { postmaster: ["alice@example.org"] },
                passwordResets: resets,
            },
        ],
    };
}

function spec(resets: Record<string, string> = {}) {
    return buildSpec(config(resets));
}

/** mail-data's configured rows for the sample, every mailbox with `hash` (alice's may differ). */
function configure(resets: Record<string, string> = {}, aliceHash = "{PLAIN}configured-alice-1"): void {
    const s = spec(resets);
    const hashes = Object.fromEntries(
        s.domains.flatMap((d) => d.mailboxes).map((m) => [m, m === "alice@example.org" ? aliceHash : HASH]),
    );
    const file = renderMailData(s, { passwordHashes: hashes }).find((f) => f.path === CONFIGURED_USERS)!;
    fs.writeFileSync(path.join(root, CONFIGURED_USERS), file.content);
}

function run(args: string[], input?: string) {
    return spawnSync("python3", [helper, ...args], {
        env: { ...process.env, MAILSTACK_PASSWORDS_ROOT: root, PATH: `${bin}:${process.env.PATH}` },
        input,
        encoding: "utf8",
    });
}

/** One change request through a connected unix socket, as systemd hands it to `serve`. */
function change(request: object): { ok: boolean; error?: string; warning?: string } {
    const py = `
import socket, subprocess, sys
a, b = socket.socketpair()
p = subprocess.Popen([sys.executable, sys.argv[1], "serve"], stdin=b)
b.close()
a.sendall(sys.stdin.buffer.read())
print(a.makefile().readline(), end="")
p.wait()
`;
    const r = spawnSync("python3", ["-c", py, helper], {
        env: { ...process.env, MAILSTACK_PASSWORDS_ROOT: root, PATH: `${bin}:${process.env.PATH}` },
        input: `${JSON.stringify(request)}\n`,
        encoding: "utf8",
    });
    return JSON.parse(r.stdout) as { ok: boolean; error?: string };
}

/** mailstack-restore as the backup step renders it for the sample with a backup. */
function restoreScript(): string {
    const s = buildSpec({
        ...config(),
        backup: { sftp: { host: "u1.your-storagebox.de", user: "u1", path: "mail", hostKey: BACKUP_HOST_KEY } },
        backupSecretsSet: ["backupPassword", "backupSshPrivateKey"],
    });
    return renderBackupFiles(s, { password: "pw-0123456789", sshPrivateKey: "KEY" }).find(
        (f) => f.path === "/usr/local/sbin/mailstack-restore",
    )!.content;
}

const dovecotHash = (address: string) =>
    fs
        .readFileSync(path.join(root, DOVECOT_USERS), "utf8")
        .split("\n")
        .find((l) => l.startsWith(`${address}:`))!
        .split(":")[1];

test("a configured password's generation changes with its hash or its reset marker, and only then", () => {
    expect(passwordGeneration(HASH, undefined)).toBe(passwordGeneration(HASH, undefined));
    expect(passwordGeneration(HASH, "2026-12-06")).not.toBe(passwordGeneration(HASH, undefined));
    expect(passwordGeneration(HASH, "2026-12-06")).not.toBe(passwordGeneration(HASH, "2026-12-07"));
    expect(passwordGeneration(`${HASH}x`, undefined)).not.toBe(passwordGeneration(HASH, undefined));
});

test("the bcrypt cost stays 12: a new cost re-hashes every configured password, and a new hash is a new generation, which drops every password users set", () => {
    expect(BCRYPT_COST).toBe(12);
    expect(passwordGeneration("{BLF-CRYPT}$2b$13$same-password", undefined)).not.toBe(
        passwordGeneration("{BLF-CRYPT}$2b$12$same-password", undefined),
    );
});

test("passwordResets names mailboxes of its domain, with a short marker", () => {
    expect(buildSpec(config({ Alice: "2026-12-06" })).domains[0].passwordResets).toEqual({
        "alice@example.org": "2026-12-06",
    });
    expect(configProblems(config({ nobody: "1" })).join("\n")).toMatch(
        /passwordResets\.nobody.*not a mailbox of this domain/,
    );
    expect(configProblems(config({ alice: "two words" })).join("\n")).toMatch(/passwordResets\.alice.*short marker/);
    expect(configProblems(config({ alice: "1", ALICE: "2" })).join("\n")).toMatch(/same mailbox/);
});

test("without passwords set by users, Dovecot's passwd-file is the configured one (0640, as Dovecot reads it)", () => {
    configure();
    const r = run(["apply"]);
    expect(r.status).toBe(0);
    expect(fs.readFileSync(path.join(root, DOVECOT_USERS), "utf8")).toBe(
        fs.readFileSync(path.join(root, CONFIGURED_USERS), "utf8"),
    );
    expect(fs.statSync(path.join(root, DOVECOT_USERS)).mode & 0o777).toBe(0o640);
});

test("a user's password is kept by every later apply, until the config changes the password or resets it", () => {
    configure();
    expect(run(["apply"]).status).toBe(0);
    expect(
        change({ user: "alice@example.org", current: "configured-alice-1", new: "a-new-secret-of-hers", name: "" }),
    ).toEqual({ ok: true });
    expect(dovecotHash("alice@example.org")).toBe("{BLF-CRYPT}$2y$fake$a-new-secret-of-hers");
    expect(dovecotHash("bob@example.org")).toBe(HASH);
    const stored = fs.readFileSync(path.join(root, USER_SET_PASSWORDS), "utf8");
    expect(fs.statSync(path.join(root, USER_SET_PASSWORDS)).mode & 0o777).toBe(0o600);
    expect(stored).toMatch(/^alice@example\.org:\{BLF-CRYPT\}\$2y\$fake\$a-new-secret-of-hers:[0-9a-f]{16}:\d+$/m);

    // `pulumi up` again (mail-data's file rewritten, apply again): the user's password stays.
    configure();
    expect(run(["apply"]).status).toBe(0);
    expect(dovecotHash("alice@example.org")).toBe("{BLF-CRYPT}$2y$fake$a-new-secret-of-hers");

    // A reset marker: the configured password again, and the user's hash is gone from the volume.
    configure({ alice: "2026-12-06" });
    const reset = run(["apply"]);
    expect(reset.status).toBe(0);
    expect(reset.stderr).toContain(
        "alice@example.org: the password the user set is dropped (reset by the stack config)",
    );
    expect(dovecotHash("alice@example.org")).toBe("{PLAIN}configured-alice-1");
    expect(fs.readFileSync(path.join(root, USER_SET_PASSWORDS), "utf8")).not.toContain("alice@");

    // Set again, then a new configured password takes it back too.
    expect(
        change({ user: "alice@example.org", current: "configured-alice-1", new: "another-secret-of-hers", name: "" }),
    ).toEqual({ ok: true });
    configure({ alice: "2026-12-06" }, "{PLAIN}configured-alice-2");
    expect(run(["apply"]).status).toBe(0);
    expect(dovecotHash("alice@example.org")).toBe("{PLAIN}configured-alice-2");
});

test("a change needs the current password and refuses short passwords and ones holding the address or the name", () => {
    configure();
    expect(run(["apply"]).status).toBe(0);
    const alice = (current: string, next: string, name = "") =>
        change({ user: "alice@example.org", current, new: next, name });
    expect(alice("configured-alice-1", "short-1")).toEqual({ ok: false, error: expect.stringMatching(/at least 12/) });
    expect(alice("configured-alice-1", "xx-Alice-is-my-name")).toEqual({
        ok: false,
        error: expect.stringMatching(/address or your name/),
    });
    expect(alice("configured-alice-1", "verylong-example-word")).toEqual({
        ok: false,
        error: expect.stringMatching(/address or your name/),
    });
    expect(alice("configured-alice-1", "my-Liddell-password", "Alice Liddell")).toEqual({
        ok: false,
        error: expect.stringMatching(/address or your name/),
    });
    expect(alice("configured-alice-1", "configured-alice-1")).toEqual({
        ok: false,
        error: expect.stringMatching(/at least|current password|address/),
    });
    // bob's current password is not alice's: whoever asks must know the password of the user it names.
    expect(
        change({ user: "bob@example.org", current: "configured-alice-1", new: "bobs-password-now", name: "" }),
    ).toEqual({
        ok: false,
        error: "the current password is wrong",
    });
    expect(dovecotHash("bob@example.org")).toBe(HASH);
    expect(dovecotHash("alice@example.org")).toBe("{PLAIN}configured-alice-1");
});

test("a removed mailbox's own password is dropped, and Dovecot sees a change made within the same second", () => {
    configure();
    expect(run(["apply"]).status).toBe(0);
    const before = fs.statSync(path.join(root, DOVECOT_USERS)).mtimeMs;
    expect(
        change({ user: "alice@example.org", current: "configured-alice-1", new: "a-new-secret-of-hers", name: "" }),
    ).toEqual({ ok: true });
    // Same size (the hash's length), so the mtime must move on: Dovecot compares whole seconds and size.
    expect(Math.floor(fs.statSync(path.join(root, DOVECOT_USERS)).mtimeMs / 1000)).toBeGreaterThan(
        Math.floor(before / 1000),
    );
    const withoutAlice = fs
        .readFileSync(path.join(root, CONFIGURED_USERS), "utf8")
        .split("\n")
        .filter((l) => !l.startsWith("alice@"))
        .join("\n");
    fs.writeFileSync(path.join(root, CONFIGURED_USERS), withoutAlice);
    const r = run(["apply"]);
    expect(r.stderr).toContain("alice@example.org: the password the user set is dropped (the mailbox is gone)");
    expect(fs.readFileSync(path.join(root, DOVECOT_USERS), "utf8")).not.toContain("alice@");
});

test("the passwords and app passwords users set are in the backup, and `mailstack-restore all` writes Dovecot's files again with them", () => {
    // restic's exclude patterns: none of them covers the accounts directory or its file.
    for (const pattern of BACKUP_EXCLUDE) {
        const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*+/g, ".*")}(/|$)`);
        expect(USER_SET_PASSWORDS).not.toMatch(re);
        expect(USER_APP_PASSWORDS).not.toMatch(re);
    }
    const restore = restoreScript();
    // Only after `all` (state/ came back), before Dovecot starts again.
    expect(restore).toMatch(
        new RegExp(
            `if \\[ "\\$what" = all \\]; then\\n(?:\\s*#.*\\n)*\\s*passwords_helper='${PASSWORDS_HELPER}'\\n(?:.*\\n)*?\\s*"\\$passwords_helper" apply .*\\n\\s*fi\\n\\s*restart\\n`,
        ),
    );
});

test("after `mailstack-restore all`, a password a user set after the snapshot stays theirs, and an older one does not come back", () => {
    configure();
    const stored = path.join(root, USER_SET_PASSWORDS);
    // The generation of today's configured passwords (the same for both here: none was reset).
    const g = fs
        .readFileSync(path.join(root, CONFIGURED_USERS), "utf8")
        .split("\n")
        .find((l) => l.startsWith("alice@example.org:"))!
        .split(":")[4];
    const gBob = fs
        .readFileSync(path.join(root, CONFIGURED_USERS), "utf8")
        .split("\n")
        .find((l) => l.startsWith("bob@example.org:"))!
        .split(":")[4];
    // The snapshot's: alice's (stolen) password of time 100, bob's of time 300.
    fs.writeFileSync(
        stored,
        `alice@example.org:{PLAIN}stolen:${g}:100\nbob@example.org:{PLAIN}bob-in-snapshot:${gBob}:300\n`,
    );
    // Moved aside by the restore: alice changed hers at 200; bob's is older than the snapshot's.
    const aside = path.join(root, "passwords.before-restore");
    fs.writeFileSync(
        aside,
        `# header\nalice@example.org:{PLAIN}changed-since:${g}:200\nbob@example.org:{PLAIN}bob-older:${gBob}:250\n`,
    );
    const r = run(["keep-newer", aside]);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain("alice@example.org: keeps the password set after the snapshot");
    const rows = fs.readFileSync(stored, "utf8");
    expect(rows).toMatch(/^alice@example\.org:\{PLAIN\}changed-since:[0-9a-f]{16}:200$/m);
    expect(rows).toMatch(/^bob@example\.org:\{PLAIN\}bob-in-snapshot:[0-9a-f]{16}:300$/m);
    expect(run(["apply"]).status).toBe(0);
    expect(dovecotHash("alice@example.org")).toBe("{PLAIN}changed-since");
    // The restore runs it with the file it moved aside, before apply.
    const restore = restoreScript();
    expect(restore).toContain(`user_set='${USER_SET_PASSWORDS}'`);
    expect(restore).toMatch(
        /\n {8}"\$passwords_helper" keep-newer "\$accounts\.before-restore-\$stamp\/\$\{user_set##\*\/\}"[^]*"\$passwords_helper" apply/,
    );
});

test("the webmail reaches the helper only through a root-owned socket of group www-data, one root process per request", () => {
    const files = renderPasswordFiles(spec());
    const socket = files.find((f) => f.path === "/etc/systemd/system/mailstack-password.socket")!.content;
    for (const line of [
        "ListenStream=/run/mailstack-password.sock",
        "SocketUser=root",
        "SocketGroup=www-data",
        "SocketMode=0660",
        "Accept=yes",
        "MaxConnections=4",
    ])
        expect(socket).toMatch(new RegExp(`^${line}$`, "m"));
    const service = files.find((f) => f.path === "/etc/systemd/system/mailstack-password@.service")!.content;
    expect(service).toMatch(/^ExecStart=\/usr\/bin\/python3 \/usr\/local\/sbin\/mailstack-passwords serve$/m);
    expect(service).toMatch(/^StandardInput=socket$/m);
    expect(service).toMatch(/^ProtectSystem=strict$/m);
    expect(service).not.toMatch(/^User=/m);
    // Without the webmail there is no socket at all; the helper stays (mail-data's apply).
    const off = buildSpec({ ...config(), webmail: false });
    expect(renderPasswordFiles(off).map((f) => f.path)).toEqual([
        PASSWORDS_HELPER,
        TOTP_MODULE,
        AUTH_CACHE_MODULE,
        APP_PASSWORDS_LUA,
        APP_PASSWORDS_CONF,
        MAIN_PASSWORD_LUA,
        MAIN_PASSWORD_CONF,
    ]);
});

// --- App passwords ------------------------------------------------------------------------

type AppAnswer = {
    ok: boolean;
    error?: string;
    id?: string;
    password?: string;
    appPasswords?: { id: string; label: string; protocols: string[]; created: number; lastUsed: number | null }[];
};
const apps = (request: object) => change(request) as AppAnswer;
const create = (label: string, protocols: string[], user = "alice@example.org", current = "configured-alice-1") =>
    apps({ action: "app-create", user, current, label, protocols });
const dovecotApps = () =>
    fs
        .readFileSync(path.join(root, DOVECOT_APP_PASSWORDS), "utf8")
        .split("\n")
        .filter((l) => l !== "");

/** Dovecot's {SSHA512}: base64 of SHA-512(password + salt) + salt. */
function ssha512Matches(hash: string, password: string): boolean {
    const raw = Buffer.from(hash.replace(/^\{SSHA512\}/, ""), "base64");
    const salt = raw.subarray(64);
    return createHash("sha512")
        .update(Buffer.concat([Buffer.from(password), salt]))
        .digest()
        .equals(raw.subarray(0, 64));
}

test("alice makes an app password: shown once, kept only as a salted SHA-512 on the volume, and Dovecot's file opens only what she chose", () => {
    configure();
    expect(run(["apply"]).status).toBe(0);
    const phone = create("phone", ["mail"]);
    expect(phone).toMatchObject({ ok: true, password: expect.stringMatching(/^[a-z]{4}-[a-z]{4}-[a-z]{4}-[a-z]{4}$/) });
    const laptop = create("laptop", []);
    expect(laptop.ok).toBe(true);
    expect(laptop.password).not.toBe(phone.password);

    const stored = fs.readFileSync(path.join(root, USER_APP_PASSWORDS), "utf8");
    expect(fs.statSync(path.join(root, USER_APP_PASSWORDS)).mode & 0o777).toBe(0o600);
    expect(stored).not.toContain(phone.password!);
    const row = stored
        .split("\n")
        .find((l) => l.includes(":phone:"))!
        .split(":");
    expect(row.slice(0, 4)).toEqual(["alice@example.org", phone.id, "phone", "mail"]);
    expect(ssha512Matches(row[4], phone.password!)).toBe(true);

    // The file Dovecot's Lua passdb reads: root only, Dovecot's protocol names; no choice is everything.
    expect(fs.statSync(path.join(root, DOVECOT_APP_PASSWORDS)).mode & 0o777).toBe(0o600);
    expect(dovecotApps()).toEqual([
        `alice@example.org:${phone.id}:imap,pop3:${row[4]}`,
        expect.stringMatching(
            new RegExp(`^alice@example\\.org:${laptop.id}:imap,pop3,smtp,sieve,radicale:\\{SSHA512\\}`),
        ),
    ]);

    // The list: names and protocols, never a hash or a password; last use as Dovecot noted it.
    fs.writeFileSync(path.join(root, APP_PASSWORDS_LAST_USED, phone.id!), "1796000000\n");
    const list = apps({ action: "app-list", user: "alice@example.org", current: "configured-alice-1" });
    expect(list.appPasswords).toEqual([
        { id: phone.id, label: "phone", protocols: ["mail"], created: expect.any(Number), lastUsed: 1796000000 },
        {
            id: laptop.id,
            label: "laptop",
            protocols: ["mail", "submission", "sieve", "dav"],
            created: expect.any(Number),
            lastUsed: null,
        },
    ]);
    expect(JSON.stringify(list)).not.toContain("SSHA512");

    // Names are unique and plain; protocols are the four known ones.
    expect(create("phone", ["mail"])).toEqual({ ok: false, error: "an app password of that name exists" });
    expect(create("a:b", ["mail"]).ok).toBe(false);
    expect(create("tablet", ["imap"])).toEqual({ ok: false, error: "unknown protocol" });

    // Revoked: gone from Dovecot's file at once, with its last-use note.
    expect(
        apps({ action: "app-revoke", user: "alice@example.org", current: "configured-alice-1", id: phone.id }),
    ).toEqual({
        ok: true,
    });
    expect(dovecotApps()).toHaveLength(1);
    expect(dovecotApps()[0]).toContain(laptop.id);
    expect(fs.existsSync(path.join(root, APP_PASSWORDS_LAST_USED, phone.id!))).toBe(false);
});

test("app passwords need the user's own current password: bob can neither list nor revoke alice's", () => {
    configure();
    expect(run(["apply"]).status).toBe(0);
    const phone = create("phone", ["mail"]);
    // Alice's password does not speak for bob, nor a wrong one for alice.
    expect(apps({ action: "app-list", user: "bob@example.org", current: "configured-alice-1" })).toEqual({
        ok: false,
        error: "the current password is wrong",
    });
    expect(create("phone", ["mail"], "alice@example.org", "not-hers")).toEqual({
        ok: false,
        error: "the current password is wrong",
    });
    // bob with his own password (the stub's {PLAIN}): his list is his, alice's id is not his to revoke.
    fs.writeFileSync(
        path.join(root, CONFIGURED_USERS),
        fs.readFileSync(path.join(root, CONFIGURED_USERS), "utf8").replace(HASH, "{PLAIN}configured-bob-1"),
    );
    expect(run(["apply"]).status).toBe(0);
    const bob = { user: "bob@example.org", current: "configured-bob-1" };
    expect(apps({ action: "app-list", ...bob })).toEqual({ ok: true, appPasswords: [] });
    expect(apps({ action: "app-revoke", ...bob, id: phone.id })).toEqual({ ok: false, error: "no such app password" });
    expect(dovecotApps()).toHaveLength(1);
    // Malformed requests go no further.
    expect(apps({ action: "app-revoke", ...bob, id: "../passwords" })).toEqual({ ok: false, error: "bad request" });
    expect(apps({ action: "app-export", ...bob })).toEqual({ ok: false, error: "bad request" });
});

test("a reset by the stack config, or the mailbox's removal, revokes its app passwords; any other apply keeps them", () => {
    configure();
    expect(run(["apply"]).status).toBe(0);
    expect(create("phone", ["mail"]).ok).toBe(true);
    configure();
    expect(run(["apply"]).status).toBe(0);
    expect(dovecotApps()).toHaveLength(1);
    // Dovecot's file is made again from the volume (a replaced or restored server).
    fs.rmSync(path.join(root, DOVECOT_APP_PASSWORDS));
    expect(run(["apply"]).status).toBe(0);
    expect(dovecotApps()).toHaveLength(1);
    configure({ alice: "2026-12-06" });
    const reset = run(["apply"]);
    expect(reset.stderr).toContain("alice@example.org: app password 'phone' dropped");
    expect(dovecotApps()).toEqual([]);
    expect(fs.readFileSync(path.join(root, USER_APP_PASSWORDS), "utf8")).not.toContain("alice@");
});

test("a restore of state/ keeps the app passwords of before it: none revoked since the snapshot comes back, none made since is lost", () => {
    configure();
    expect(run(["apply"]).status).toBe(0);
    const phone = create("phone", ["mail"]);
    const snapshot = fs.readFileSync(path.join(root, USER_APP_PASSWORDS), "utf8");
    // After the snapshot: the phone was stolen and revoked, a laptop was added.
    expect(
        apps({ action: "app-revoke", user: "alice@example.org", current: "configured-alice-1", id: phone.id }),
    ).toEqual({ ok: true });
    const laptop = create("laptop", ["mail"]);
    // mailstack-restore all: the accounts folder moved aside, the snapshot's in its place.
    const accounts = path.dirname(path.join(root, USER_APP_PASSWORDS));
    fs.cpSync(accounts, `${accounts}.before-restore`, { recursive: true });
    fs.writeFileSync(path.join(root, USER_APP_PASSWORDS), snapshot);
    const r = run(["keep-newer", path.join(`${accounts}.before-restore`, path.basename(USER_SET_PASSWORDS))]);
    expect(r.status).toBe(0);
    expect(run(["apply"]).status).toBe(0);
    expect(dovecotApps()).toEqual([expect.stringContaining(`alice@example.org:${laptop.id}:imap,pop3:`)]);
    // The restore calls it when either file was moved aside.
    expect(restoreScript()).toContain(`user_apps='${USER_APP_PASSWORDS}'`);
});

test("Dovecot asks the app passwords' Lua passdb first, in the auth worker, and never for a login from the server itself", () => {
    const files = renderPasswordFiles(spec());
    const conf = files.find((f) => f.path === APP_PASSWORDS_CONF)!;
    expect(conf.content).toMatch(/^passdb lua \{\n(?:\s*#.*\n)*\s*lua_file = \/etc\/dovecot\/app-passwords\.lua\n/m);
    expect(conf.content).toMatch(/^\s*use_worker = yes$/m);
    expect(conf.onChange).toEqual(["reload:dovecot"]);
    const lua = files.find((f) => f.path === APP_PASSWORDS_LUA)!.content;
    expect(lua).toContain(`local APP_PASSWORDS = "${DOVECOT_APP_PASSWORDS}"`);
    expect(lua).toContain(`local LAST_USED_DIR = "${APP_PASSWORDS_LAST_USED}"`);
    expect(lua).toContain('local LOOPBACK = { ["127.0.0.1"] = true, ["::1"] = true }');
    // dovecot.conf includes the directory before its passwd-file passdb: config order is passdb order.
    const dovecot = renderHostFiles(spec()).find((f) => f.path === "/etc/dovecot/dovecot.conf")!.content;
    const include = dovecot.indexOf(`!include_try ${APP_PASSWORDS_CONF.replace(/[^/]+$/, "")}*.conf`);
    expect(include).toBeGreaterThan(0);
    expect(include).toBeLessThan(dovecot.indexOf("passdb passwd-file {"));
});

// --- Logins that cost no hash when repeated (the rest: login-cache.test.ts) -----------------

test("a password change flushes that user from Dovecot's authentication cache; app passwords need no flush", () => {
    configure();
    const log = path.join(root, "doveadm-auth.log");
    const flushed = () => (fs.existsSync(log) ? fs.readFileSync(log, "utf8").trim().split("\n") : []);
    expect(run(["apply"]).status).toBe(0);
    fs.mkdirSync(path.join(root, path.dirname(DOVECOT_AUTH_MASTER)), { recursive: true });
    fs.writeFileSync(path.join(root, DOVECOT_AUTH_MASTER), "");
    const alice = { user: "alice@example.org", current: "a-new-secret-of-hers" };
    expect(change({ ...alice, current: "configured-alice-1", new: alice.current, name: "" })).toEqual({ ok: true });
    expect(flushed()).toEqual(["auth cache flush alice@example.org"]);
    // App passwords are not in this cache: making and revoking one flushes nothing.
    const made = apps({ action: "app-create", ...alice, label: "phone" });
    expect(apps({ action: "app-revoke", ...alice, id: made.id }).ok).toBe(true);
    expect(flushed()).toHaveLength(1);
    // A reset by the stack config (a new generation on the row even where the hash stays): those users.
    configure({ alice: "2026-12-06", bob: "2026-12-06" }, "{PLAIN}configured-alice-2");
    expect(run(["apply"]).status).toBe(0);
    expect(flushed()[1]).toBe("auth cache flush alice@example.org bob@example.org");
});

test("a change whose cache flush keeps failing is kept, asked 3 times, and the user is told the old password may work for up to 15 mins", () => {
    configure();
    expect(run(["apply"]).status).toBe(0);
    fs.mkdirSync(path.join(root, path.dirname(DOVECOT_AUTH_MASTER)), { recursive: true });
    fs.writeFileSync(path.join(root, DOVECOT_AUTH_MASTER), "");
    fs.writeFileSync(path.join(root, "doveadm-auth-status"), "75");
    const answer = change({
        user: "alice@example.org",
        current: "configured-alice-1",
        new: "a-new-secret-of-hers",
        name: "",
    });
    expect(answer).toEqual({
        ok: true,
        warning: `The server could not clear its login cache: until it expires (at most ${AUTH_CACHE_TTL}), mail apps may still log in as before.`,
    });
    expect(fs.readFileSync(path.join(root, "doveadm-auth.log"), "utf8").trim().split("\n")).toEqual(
        Array(3).fill("auth cache flush alice@example.org"),
    );
    // The new password is the one Dovecot's passwd-file holds.
    expect(fs.readFileSync(path.join(root, DOVECOT_USERS), "utf8")).toContain(
        "alice@example.org:{BLF-CRYPT}$2y$fake$a-new-secret-of-hers:",
    );
});
