// Sieve, Junk and learning (issue 10): mailstack:autoExpunge's validation, the global scripts
// and learn programs, and how dovecot.conf, apply-bundle.sh and the firewall find them.
import fs from "node:fs";
import path from "node:path";

import { renderHostFiles } from "../render";
import { renderFirstBootFiles } from "../render/features";
import { SIEVE_DIR, SIEVE_PIPE_DIR } from "../render/host/sieve";
import { buildSpec, type RawConfig } from "../model";
import { port, SERVICES } from "../model/services";
import { configProblems, twoDomains } from "./helpers/fixtures";

const problems = (autoExpunge: unknown) => configProblems({ ...twoDomains(), autoExpunge } as RawConfig);

const fileAt = <F extends { path: string }>(files: readonly F[], p: string): F => {
    const f = files.find((x) => x.path === p);
    if (!f) throw new Error(`no ${p}`);
    return f;
};

const dovecotConf = (raw: RawConfig) => fileAt(renderHostFiles(buildSpec(raw)), "/etc/dovecot/dovecot.conf").content;

/** The body of `mailbox <name> { ... }` inside namespace inbox. */
function mailboxBlock(conf: string, name: string): string {
    const m = new RegExp(`\\n  mailbox ${name} \\{\\n([\\s\\S]*?)\\n  \\}`).exec(conf);
    if (!m) throw new Error(`dovecot.conf: no mailbox ${name} block`);
    return m[1];
}

describe("mailstack:autoExpunge", () => {
    test("defaults to 30 days in Junk and in Trash", () => {
        expect(buildSpec(twoDomains()).autoExpunge).toEqual({ junk: 30, trash: 30 });
        const conf = dovecotConf(twoDomains());
        expect(mailboxBlock(conf, "Junk")).toMatch(/^ {4}autoexpunge = 30d$/m);
        expect(mailboxBlock(conf, "Trash")).toMatch(/^ {4}autoexpunge = 30d$/m);
    });

    test("takes other days, and false keeps mail until the user deletes it", () => {
        const raw = { ...twoDomains(), autoExpunge: { junk: 14, trash: false } } as RawConfig;
        expect(buildSpec(raw).autoExpunge).toEqual({ junk: 14, trash: false });
        const conf = dovecotConf(raw);
        expect(mailboxBlock(conf, "Junk")).toMatch(/^ {4}autoexpunge = 14d$/m);
        expect(mailboxBlock(conf, "Trash")).not.toMatch(/autoexpunge =/);
        expect(mailboxBlock(conf, "Trash")).toContain("mailstack:autoExpunge.trash = false");
    });

    test("a bad value is an error naming its key path", () => {
        const days = "must be a whole number of days from 1 to 3650, or false to keep mail until the user deletes it";
        expect(problems({ junk: 0 })).toEqual([`mailstack:autoExpunge.junk: ${days}`]);
        expect(problems({ trash: 1.5 })).toEqual([`mailstack:autoExpunge.trash: ${days}`]);
        expect(problems({ trash: true })).toEqual([`mailstack:autoExpunge.trash: ${days}`]);
        expect(problems({ junk: "30d", trash: 4000 })).toEqual([
            `mailstack:autoExpunge.junk: ${days}`,
            `mailstack:autoExpunge.trash: ${days}`,
        ]);
        expect(problems({ spam: 30 })).toEqual([expect.stringMatching(/^mailstack:autoExpunge: .*spam/)]);
    });
});

describe("the global Sieve scripts", () => {
    const files = renderHostFiles(buildSpec(twoDomains()));
    const conf = fileAt(files, "/etc/dovecot/dovecot.conf").content;
    const scripts = files.filter((f) => f.path.startsWith(`${SIEVE_DIR}/`));

    test("every script dovecot.conf names is rendered, and every rendered one is named", () => {
        const named = [...conf.matchAll(/^\s*path = (\/etc\/dovecot\/sieve\/\S+)$/gm)].map((m) => m[1]).sort();
        expect(named).toEqual(scripts.map((f) => f.path).sort());
        expect(named).toHaveLength(3);
        // A change to one recompiles and reloads Dovecot.
        for (const f of scripts) expect(f.onChange).toEqual(["reload:dovecot"]);
    });

    test("apply-bundle.sh compiles the directory the scripts are in", () => {
        const script = fs.readFileSync(path.join(__dirname, "..", "scripts", "apply-bundle.sh"), "utf8");
        // $root: APPLY_BUNDLE_ROOT, empty on a server (test/apply-bundle.test.ts sets it).
        expect(script).toMatch(new RegExp(`^SIEVE_DIR=\\$root${SIEVE_DIR}$`, "m"));
    });

    test("each pipe names a learn program in sieve_pipe_bin_dir, executable, that reaches rspamd's controller", () => {
        expect(conf).toMatch(new RegExp(`^sieve_pipe_bin_dir = ${SIEVE_PIPE_DIR}$`, "m"));
        const controller = fileAt(files, "/etc/rspamd/local.d/worker-controller.inc").content;
        const bind = /^bind_socket = "([^"]+)";$/m.exec(controller)![1];
        const piped = scripts.flatMap((f) => [...f.content.matchAll(/pipe :copy "([^"]+)"/g)].map((m) => m[1]));
        expect(piped.sort()).toEqual(["learn-ham", "learn-spam"]);
        for (const name of piped) {
            const prog = fileAt(files, `${SIEVE_PIPE_DIR}/${name}`);
            expect(prog.mode).toBe("0755");
            expect(prog.content).toContain(`"http://${bind}/learn${name.slice("learn-".length)}"`);
        }
    });

    test("spam goes to Junk on the header rspamd writes, and stops there", () => {
        const toJunk = fileAt(files, `${SIEVE_DIR}/spam-to-junk.sieve`).content;
        const headers = fileAt(files, "/etc/rspamd/local.d/milter_headers.conf").content;
        // rspamd writes X-Spam-Status and removes every copy the message arrived with.
        expect(headers).toMatch(/use = \[[^\]]*"x-spam-status"/);
        expect(headers).toMatch(/x-spam-status \{\s*remove = 0;/);
        expect(toJunk).toMatch(/if header :matches "X-Spam-Status" "Yes,\*" \{\s*fileinto :create "Junk";\s*stop;/);
        // It runs before the user's own script.
        expect(conf).toMatch(/sieve_script spam-to-junk \{\s*type = before/);
    });

    test("they also come with the first boot's files (small, and Dovecot names them)", () => {
        const first = renderFirstBootFiles(buildSpec(twoDomains())).map((f) => f.path);
        for (const f of scripts) expect(first).toContain(f.path);
    });
});

describe("ManageSieve", () => {
    const sieve = SERVICES.find((s) => s.name === "sieve")!;

    test("listens on 4190 with STARTTLS, as dovecot.conf, the fail2ban jail and the SRV record say", () => {
        expect(sieve).toMatchObject({ port: 4190, tls: "starttls", srv: "_sieve" });
        const files = renderHostFiles(buildSpec(twoDomains()));
        expect(fileAt(files, "/etc/dovecot/dovecot.conf").content).toMatch(
            new RegExp(`inet_listener sieve \\{\\s*port = ${port("sieve")}\\s*\\}`),
        );
        const jail = fileAt(files, "/etc/fail2ban/jail.local").content;
        expect(jail).toMatch(/^\[dovecot\][^[]*^port = [^\n]*\bsieve\b/m);
    });
});
