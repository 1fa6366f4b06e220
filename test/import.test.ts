// Importing an old IMAP account (mailstack:imports, issue 31): the config's checks with their
// key paths (the old account's password never echoed), the files the import step sends, the
// firewall's port, and the folder mapper the server runs before mbsync.
import { spawnSync } from "node:child_process";
import * as path from "node:path";

import { firewallRules } from "../render/boot/firewall";
import { IMPORT_PRUNE, renderImportFiles, renderImportRc } from "../render/host/import";
import { renderPackageList } from "../render/plan/plan";
import { buildSpec, type RawConfig } from "../model";
import { configProblems, oneDomain, oneImport } from "./helpers/fixtures";

const MAILBOX = "evaluation@nathabee.de";
const APP_PASSWORD = "abcd efgh ijkl mnop";
const withImports = (imports: unknown, importPasswords: unknown = { [MAILBOX]: APP_PASSWORD }): RawConfig => ({
    ...oneDomain(),
    imports,
    importPasswords,
});
const GMAIL = { mailbox: MAILBOX, host: "imap.gmail.com", user: "old@gmail.com" };

describe("mailstack:imports is checked before anything is declared", () => {
    test("a valid import is taken with port 993 and implicit TLS by default, the mailbox in lower case", () => {
        const spec = buildSpec(withImports([{ ...GMAIL, mailbox: "Evaluation@Nathabee.de" }]));
        expect(spec.imports).toEqual([
            { mailbox: MAILBOX, host: "imap.gmail.com", port: 993, tls: "implicit", user: "old@gmail.com" },
        ]);
        expect(buildSpec(oneDomain()).imports).toEqual([]);
    });

    test("an import into an address that is no mailbox here, or twice into one mailbox, is refused with its key path", () => {
        expect(configProblems(withImports([{ ...GMAIL, mailbox: "nobody@nathabee.de" }], {}))).toEqual([
            "mailstack:imports[0].mailbox: nobody@nathabee.de is not a configured mailbox (the import fills a mailbox: list it under its domain's mailboxes)",
        ]);
        expect(configProblems(withImports([GMAIL, { ...GMAIL, host: "outlook.office365.com" }]))).toEqual([
            `mailstack:imports[1].mailbox: ${MAILBOX} is already imported into by mailstack:imports[0]: one account per mailbox`,
        ]);
    });

    test("a bad host, port, TLS mode or user is refused with its key path", () => {
        expect(
            configProblems(
                withImports([{ ...GMAIL, host: "imap gmail com", port: 70000, tls: "none", user: 'a"b', extra: 1 }]),
            ),
        ).toEqual([
            'mailstack:imports[0]: Unrecognized key: "extra"',
            'mailstack:imports[0].host: "imap gmail com" is not a host name or IP address',
            "mailstack:imports[0].port: Too big: expected number to be <=65535",
            'mailstack:imports[0].tls: must be "implicit" (TLS on connect, port 993) or "starttls" (port 143, upgraded before login)',
            'mailstack:imports[0].user: must be one line without control characters, " or \\',
        ]);
    });

    test("each import needs its password, and a password for no import is refused; no message shows a password", () => {
        expect(configProblems({ ...oneDomain(), imports: [GMAIL] })).toEqual([
            `mailstack:importPasswords: has no password for ${MAILBOX} (mailstack:imports[0]): pulumi config set --secret --path 'mailstack:importPasswords["${MAILBOX}"]'`,
        ]);
        const found = configProblems(
            withImports([GMAIL], { [MAILBOX]: "line one\nline two", "carol@nathabee.de": "stray-secret-value" }),
        );
        expect(found).toEqual([
            `mailstack:importPasswords.${MAILBOX}: must be one line without control characters`,
            "mailstack:importPasswords.carol@nathabee.de: is set but mailstack:imports has no entry for this mailbox",
        ]);
        expect(found.join()).not.toMatch(/line two|stray-secret-value/);
        expect(configProblems(withImports([GMAIL], { [MAILBOX]: 12345678 }))).toEqual([
            `mailstack:importPasswords.${MAILBOX}: is a number (digits only?): set it as a string with --secret`,
        ]);
    });
});

describe("the import step's files", () => {
    const spec = buildSpec({ ...oneDomain(), ...oneImport() });

    test("mbsync only reads the old account: it pulls new messages and flags, never expunges or removes, and keeps the arrival date", () => {
        const rc = renderImportRc(spec.imports[0]);
        for (const line of [
            "Sync PullNew PullFlags",
            "Create Near",
            "Remove None",
            "Expunge None",
            "CopyArrivalDate yes",
            "Host imap.gmail.com",
            "Port 993",
            "TLSType IMAPS",
            'User "evaluation.old@gmail.com"',
            `PassCmd "cat /etc/mailstack/import/${MAILBOX}.password"`,
            `SyncState /srv/mail/state/import/${MAILBOX}/`,
            `Tunnel "doveadm exec imap -u ${MAILBOX} | cat"`,
        ])
            expect(rc.split("\n")).toContain(line);
        const starttls = buildSpec(withImports([{ ...GMAIL, port: 143, tls: "starttls" }]));
        expect(renderImportRc(starttls.imports[0])).toContain("\nTLSType STARTTLS\n");
    });

    test("the password is a root-only file of its own, the settings root-only too, and the timer comes with them", () => {
        const files = renderImportFiles(spec, { [MAILBOX]: APP_PASSWORD });
        const by = (p: string) => files.find((f) => f.path === p)!;
        expect(by(`/etc/mailstack/import/${MAILBOX}.password`)).toMatchObject({
            content: `${APP_PASSWORD}\n`,
            mode: "0600",
            owner: "root",
        });
        expect(by(`/etc/mailstack/import/${MAILBOX}.mbsyncrc`).mode).toBe("0600");
        expect(by(`/etc/mailstack/import/${MAILBOX}.mbsyncrc`).content).not.toContain(APP_PASSWORD);
        expect(by("/etc/systemd/system/mailstack-import.timer").content).toMatch(/^OnCalendar=hourly$/m);
        expect(() => renderImportFiles(spec, {})).toThrow(`import: no password for ${MAILBOX}`);
    });

    test("switched off, the units are not sent and the prune removes them and every account's files", () => {
        const off = renderImportFiles(buildSpec(oneDomain()), {}).map((f) => f.path);
        expect(off).toEqual([
            "/usr/local/sbin/mailstack-import",
            "/usr/local/lib/mailstack/import-folders.py",
            "/usr/local/lib/mailstack/import-oauth2.py",
        ]);
        expect(IMPORT_PRUNE.map((p) => `${p.dir}/${p.pattern}`)).toEqual([
            "/etc/mailstack/import/*.mbsyncrc",
            "/etc/mailstack/import/*.password",
            "/etc/mailstack/import/*.oauth2",
            "/etc/systemd/system/mailstack-import*",
        ]);
    });

    test("mbsync is installed only while an import is configured; the firewall opens each source's port once", () => {
        expect(renderPackageList(spec)).toContain("package isync\n");
        expect(renderPackageList(buildSpec(oneDomain()))).not.toContain("isync");
        const out = (s: typeof spec) =>
            firewallRules(s)
                .filter((r) => r.direction === "out" && r.description.startsWith("IMAP"))
                .map((r) => r.port);
        expect(out(spec)).toEqual(["993"]);
        const two = buildSpec({
            ...oneDomain(),
            domains: [{ ...(oneDomain().domains as object[])[0], mailboxes: ["evaluation", "freebus", "dave"] }],
            imports: [
                GMAIL,
                { ...GMAIL, mailbox: "dave@nathabee.de", port: 143, tls: "starttls" },
                { ...GMAIL, mailbox: "freebus@nathabee.de" },
            ],
            importPasswords: { [MAILBOX]: "x", "dave@nathabee.de": "y", "freebus@nathabee.de": "z" },
        });
        expect(out(two)).toEqual(["143", "993"]);
        expect(out(buildSpec(oneDomain()))).toEqual([]);
    });
});

describe("the folder mapper (import-folders.py) puts each old folder where it belongs here", () => {
    const script = path.join(__dirname, "..", "render", "host", "templates", "import", "import-folders.py");
    const map = (lines: string[]) => {
        const r = spawnSync("python3", [script, "--map"], { input: lines.join("\r\n") + "\r\n", encoding: "utf8" });
        const pairs = [...r.stdout.matchAll(/^Far :old:"(.*)"\nNear :here:"(.*)"$/gm)].map((m) => `${m[1]} -> ${m[2]}`);
        return { pairs, status: r.status, stderr: r.stderr };
    };

    test("Gmail (in German here): its system folders by special-use, All Mail into Archive, Starred and Important (Markiert, Wichtig) left out, labels as folders", () => {
        expect(
            map([
                '(\\HasNoChildren) "/" "INBOX"',
                '(\\HasChildren \\Noselect) "/" "[Gmail]"',
                '(\\All \\HasNoChildren) "/" "[Gmail]/All Mail"',
                '(\\Drafts \\HasNoChildren) "/" "[Gmail]/Drafts"',
                '(\\HasNoChildren \\Sent) "/" "[Gmail]/Gesendet"',
                '(\\HasNoChildren \\Junk) "/" "[Gmail]/Spam"',
                '(\\HasNoChildren \\Trash) "/" "[Gmail]/Trash"',
                '(\\Flagged \\HasNoChildren) "/" "[Gmail]/Markiert"',
                '(\\HasNoChildren \\Important) "/" "[Gmail]/Wichtig"',
                '(\\HasChildren) "/" "Work"',
                '(\\HasNoChildren) "/" "Work/Projekte"',
                '(\\HasNoChildren) "/" "&AMQ-rger"',
                '(\\HasNoChildren) "/" "Release v1.2"',
            ]).pairs,
        ).toEqual([
            "INBOX -> INBOX",
            "[Gmail]/All Mail -> Archive",
            "[Gmail]/Drafts -> Drafts",
            "[Gmail]/Gesendet -> Sent",
            "[Gmail]/Spam -> Junk",
            "[Gmail]/Trash -> Trash",
            "Work -> Work",
            "Work/Projekte -> Work/Projekte",
            "Ärger -> Ärger",
            "Release v1.2 -> Release v1_2",
        ]);
    });

    test("Microsoft 365 and servers without special-use: by name; Outbox, Sync Issues and Courier's INBOX. prefix handled", () => {
        expect(
            map([
                '(\\HasNoChildren) "/" INBOX',
                '(\\HasNoChildren) "/" "Sent Items"',
                '(\\HasNoChildren) "/" "Deleted Items"',
                '(\\HasNoChildren) "/" "Junk Email"',
                '(\\HasNoChildren) "/" Archive',
                '(\\HasNoChildren) "/" Outbox',
                '(\\HasChildren) "/" "Sync Issues"',
                '(\\HasNoChildren) "/" "Sync Issues/Conflicts"',
                '(\\HasNoChildren) "." "INBOX.Sent Messages"',
                '(\\HasNoChildren) "." "INBOX.Kunden"',
            ]).pairs,
        ).toEqual([
            "INBOX -> INBOX",
            "Sent Items -> Sent",
            "Deleted Items -> Trash",
            "Junk Email -> Junk",
            "Archive -> Archive",
            "INBOX/Sent Messages -> Sent",
            "INBOX/Kunden -> Kunden",
        ]);
    });

    test("a folder whose name cannot be written here is left out and said so, and the others are still imported", () => {
        const r = map([
            '(\\HasNoChildren) "/" "INBOX"',
            // Not modified UTF-7: no closing "-", then base64 that is no UTF-16.
            '(\\HasNoChildren) "/" "&AMQ"',
            '(\\HasNoChildren) "/" "&A-"',
            // A newline, in modified UTF-7: it would end the line of mbsync's config.
            '(\\HasNoChildren) "/" "a&AAo-b"',
            '(\\HasNoChildren) "/" "Work"',
        ]);
        expect(r.pairs).toEqual(["INBOX -> INBOX", "Work -> Work"]);
        expect(r.stderr).toContain(
            `folder '(\\\\HasNoChildren) "/" "&AMQ"': left out (its name is not valid modified UTF-7)`,
        );
        expect(r.stderr).toContain(
            `folder '(\\\\HasNoChildren) "/" "&A-"': left out (its name is not valid modified UTF-7)`,
        );
        expect(r.stderr).toContain("folder 'a\\nb': left out (a control character in its name)");
    });

    test("a folder name the server sends as a literal is imported like a quoted one", () => {
        const py = [
            "import importlib.util as u, sys",
            "s = u.spec_from_file_location('m', sys.argv[1]); m = u.module_from_spec(s); s.loader.exec_module(m)",
            "data = [(b'(\\\\HasNoChildren) \"/\" {9}', b'Projekte\\xc3'), b'', b'(\\\\HasNoChildren) \"/\" INBOX']",
            "print(m.response_lines(data))",
            "print(m.mapping(m.response_lines([(b'(\\\\HasNoChildren) \"/\" {4}', b'Work'), b'']), print))",
        ].join("\n");
        const r = spawnSync("python3", ["-c", py, script], { encoding: "utf8" });
        expect(r.stderr).toBe("");
        expect(r.stdout.trim().split("\n")).toEqual([
            `['(\\\\HasNoChildren) "/" "Projekte\ufffd"', '(\\\\HasNoChildren) "/" INBOX']`,
            'folder "Work" -> "Work"',
            "[('Work', 'Work')]",
        ]);
    });

    test("an account with nothing to import is an error, not an empty success", () => {
        const r = map(['(\\HasChildren \\Noselect) "/" "[Gmail]"']);
        expect([r.status, r.stderr.trim().split("\n").pop()]).toEqual([
            5,
            "other: the old account lists no folder to import",
        ]);
    });
});
