// Logins that cost no hash when repeated (issue 30; README "Logins that cost no hash when
// repeated"): the main password's Lua passdb and Dovecot's authentication cache as rendered,
// and the helper's module that flushes a user whose passwd-file row changed, run for real
// (python3) with a `doveadm` stub that notes what it is asked. Debian's own Dovecot answers
// from the cache, misses to bcrypt and forgets a flushed user in check:host
// (test/host-tools/dovecot.sh); the lab does it on the server (lab/checks/accounts.test.ts).

import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { buildSpec } from "../model";
import {
    APP_PASSWORDS_CONF,
    AUTH_CACHE_MODULE,
    AUTH_CACHE_TTL,
    DOVECOT_USERS,
    MAIN_PASSWORD_CONF,
    MAIN_PASSWORD_LUA,
    renderPasswordFiles,
    TOTP_MODULE,
} from "../render/host/mailbox-passwords";

const spec = () =>
    buildSpec({
        hostname: "mail.example.org",
        acmeEmail: "postmaster@example.org",
        sshAllowedCidrs: ["203.0.113.7/32"],
        domains: [{ name: "example.org", mailboxes: ["alice", "bob"], aliases: { postmaster: ["alice@example.org"] } }],
    });
const file = (p: string) => renderPasswordFiles(spec()).find((f) => f.path === p)!;

test("the main password is checked by a cached Lua passdb: a SHA1 of an accepted password for 15 minutes, bcrypt for any other", () => {
    const conf = file(MAIN_PASSWORD_CONF);
    // The cache: on, its entries 15 minutes old at most, no negative answer kept (every wrong
    // password goes to bcrypt, as before the cache).
    expect(conf.content).toMatch(/^auth_cache_size = 1M$/m);
    expect(AUTH_CACHE_TTL).toBe("15 mins");
    expect(conf.content).toMatch(/^auth_cache_ttl = 15 mins$/m);
    expect(conf.content).toMatch(/^auth_cache_negative_ttl = 0$/m);
    // The passdb: Lua, bcrypt in the auth worker, and its failure is final (no second bcrypt
    // by the passwd-file passdb after it).
    const block = conf.content.slice(conf.content.indexOf("passdb main {"));
    expect(block).toMatch(/^\s*driver = lua$/m);
    expect(block).toMatch(/^\s*lua_file = \/etc\/dovecot\/main-password\.lua$/m);
    expect(block).toMatch(/^\s*use_worker = yes$/m);
    expect(block).toMatch(/^\s*result_failure = return-fail$/m);
    expect(conf.onChange).toEqual(["reload:dovecot"]);
    const lua = file(MAIN_PASSWORD_LUA).content;
    expect(lua).toContain(`local USERS = "${DOVECOT_USERS}"`);
    // Keyed by the user alone: doveadm auth cache flush USER finds the entry.
    expect(lua).toMatch(/function auth_passdb_get_cache_key\(\)\n\s*return "%\{user\}"\n/);
    // It verifies itself and never hands Dovecot the hash (a cached bcrypt hash costs bcrypt on
    // every hit), and reads the row again after bcrypt (a change meanwhile refuses the login).
    expect(lua).toContain("req:password_verify(hash, password) ~= 1");
    expect(lua).toMatch(
        /if hash_now ~= hash or extra_now ~= extra then\n\s*return dovecot\.auth\.PASSDB_RESULT_PASSWORD_MISMATCH/,
    );
    expect(lua).not.toMatch(/fields\.password|password =/);
    // After the app passwords' passdb (the include's files in name order), before the passwd-file's.
    expect(path.basename(APP_PASSWORDS_CONF) < path.basename(MAIN_PASSWORD_CONF)).toBe(true);
    expect(path.dirname(MAIN_PASSWORD_CONF)).toBe(path.dirname(APP_PASSWORDS_CONF));
    // The helper imports the flushing module from the directory it imports the TOTP one from.
    expect(path.dirname(AUTH_CACHE_MODULE)).toBe(path.dirname(TOTP_MODULE));
});

describe("the helper's flush (auth_cache.py)", () => {
    let dir: string;
    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "mailstack-auth-cache-"));
        fs.writeFileSync(path.join(dir, "auth_cache.py"), file(AUTH_CACHE_MODULE).content);
        fs.mkdirSync(path.join(dir, "bin"));
        fs.writeFileSync(
            path.join(dir, "bin", "doveadm"),
            // Fails (DOVEADM_STATUS) the first DOVEADM_FAILS times it is asked.
            `#!/bin/sh\necho "$*" >>"${dir}/asked"\n[ "$(wc -l <"${dir}/asked")" -gt "\${DOVEADM_FAILS:-0}" ] && { echo "1 cache entries flushed"; exit 0; }\necho "doveadm: auth-master: connect failed" >&2\nexit "\${DOVEADM_STATUS:-0}"\n`,
            { mode: 0o755 },
        );
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    /** flush_changed(before, after, socket) with rows as passwd-file lines: status, stderr, doveadm's calls. */
    function flush(before: string[], after: string[], socket: boolean, status = 0, fails = status === 0 ? 0 : 99) {
        if (socket) fs.writeFileSync(path.join(dir, "auth-master"), "");
        const py = `import sys; sys.path.insert(0, sys.argv[1]); from auth_cache import flush_changed
rows = lambda s: [l.split(":") for l in s.split("\\n") if l]
sys.exit(flush_changed(rows(sys.argv[2]), rows(sys.argv[3]), sys.argv[1] + "/auth-master", pause=0))`;
        const r = spawnSync("python3", ["-c", py, dir, before.join("\n"), after.join("\n")], {
            env: {
                ...process.env,
                PATH: `${dir}/bin:${process.env.PATH}`,
                DOVEADM_STATUS: String(status),
                DOVEADM_FAILS: String(fails),
            },
            encoding: "utf8",
        });
        const asked = fs.existsSync(path.join(dir, "asked")) ? fs.readFileSync(path.join(dir, "asked"), "utf8") : "";
        return { status: r.status, stderr: r.stderr, asked: asked.trim().split("\n").filter(Boolean) };
    }

    const ALICE =
        "alice@example.org:{BLF-CRYPT}$2y$12$a:5000:5000:0123456789abcdef:/srv/mail/vhosts/example.org/alice::";
    const BOB = "bob@example.org:{BLF-CRYPT}$2y$12$b:5000:5000:0123456789abcdef:/srv/mail/vhosts/example.org/bob::";

    test("exactly the users whose row was changed, added or removed, in one call", () => {
        const alice2 = ALICE.replace("$a:", "$c:");
        const r = flush([ALICE, BOB], [alice2, "carol@example.org:x:5000:5000:g:/h::"], true);
        expect(r.status).toBe(0);
        expect(r.asked).toEqual(["auth cache flush alice@example.org bob@example.org carol@example.org"]);
        expect(r.stderr).toContain(
            "the authentication cache forgot alice@example.org, bob@example.org, carol@example.org",
        );
    });

    test("the second factor turned on (a new field on the row) flushes too; an unchanged file flushes nothing", () => {
        expect(flush([ALICE, BOB], [`${ALICE}:allow_real_nets=127.0.0.1/32,::1/128`, BOB], true).asked).toEqual([
            "auth cache flush alice@example.org",
        ]);
        fs.rmSync(path.join(dir, "asked"));
        expect(flush([ALICE, BOB], [ALICE, BOB], true).asked).toEqual([]);
    });

    test("no auth process (no socket), nothing to flush; a flush that fails is asked 3 times, then fails the apply and says what stays open", () => {
        const none = flush([ALICE], [], false);
        expect(none).toEqual({ status: 0, stderr: "", asked: [] });
        const failed = flush([ALICE], [], true, 75);
        expect(failed.status).toBe(1);
        expect(failed.asked).toEqual(Array(3).fill("auth cache flush alice@example.org"));
        expect(failed.stderr).toContain(
            "doveadm auth cache flush failed (try 3 of 3): doveadm: auth-master: connect failed",
        );
        expect(failed.stderr).toContain(
            `Dovecot still caches the old login of alice@example.org: the password their row replaced may open logins for up to ${AUTH_CACHE_TTL} more (auth_cache_ttl). Run: doveadm auth cache flush alice@example.org`,
        );
    });

    test("a flush that fails once (Dovecot's auth process replaced by a reload) is asked again and succeeds", () => {
        const r = flush([ALICE], [BOB], true, 75, 1);
        expect(r.status).toBe(0);
        expect(r.asked).toHaveLength(2);
        expect(r.stderr).toContain("doveadm auth cache flush failed (try 1 of 3)");
        expect(r.stderr).toContain("the authentication cache forgot alice@example.org, bob@example.org");
    });
});
