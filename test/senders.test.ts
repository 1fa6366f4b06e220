// Senders for applications (mailstack:senders, issue 30): a login that may only submit mail,
// only as its own address; no mailbox, no IMAP, POP3, ManageSieve, webmail or DAV.
import * as pulumi from "@pulumi/pulumi";

import { addressOwners, buildSpec, type RawConfig } from "../model";
import { renderHostFiles, renderMailData, renderUserData } from "../render";
import { TEST_PROVISIONAL_HOST_KEY } from "./helpers/host-key";
import { DOVECOT_SENDERS, SENDERS_CONF } from "../render/host/senders";
import { configProblems, oneDomain, twoDomains } from "./helpers/fixtures";
import { byPath, hashesFor, HASH, rows, spec } from "./helpers/render";
import { bundleFile, COMMAND, deploy } from "./helpers/stack";
import { find } from "./helpers/mocks";

const withSenders = (senders: unknown, passwords?: Record<string, unknown>): RawConfig => ({
    ...oneDomain(),
    senders,
    ...(passwords ? { passwords } : {}),
});

describe("the config: each sender is one address of a configured domain, of its own", () => {
    test("senders are full addresses, lower case, in config order; none is a default", () => {
        expect(buildSpec(oneDomain()).senders).toEqual([]);
        expect(buildSpec(withSenders(["Notify@Nathabee.de", "evaluation-app@nathabee.de"])).senders).toEqual([
            "notify@nathabee.de",
            "evaluation-app@nathabee.de",
        ]);
    });

    test("an address outside the stack's domains is refused with its key path", () => {
        expect(configProblems(withSenders(["notify@elsewhere.example"]))).toEqual([
            "mailstack:senders[0]: notify@elsewhere.example is not an address of a configured domain (nathabee.de): a sender sends only as an address of this server's domains, which it signs with their DKIM keys",
        ]);
    });

    test("a sender that is a mailbox is refused: the mailbox logs in with its own password already", () => {
        expect(configProblems(withSenders(["notify@nathabee.de", "FreeBus@nathabee.de"]))).toEqual([
            "mailstack:senders[1]: freebus@nathabee.de is a mailbox (mailstack:domains[0].mailboxes[1]), which logs in and sends with its own password; give the application an address of its own",
        ]);
    });

    test("a sender listed twice (in any spelling) is refused", () => {
        expect(configProblems(withSenders(["notify@nathabee.de", "NOTIFY@nathabee.de"]))).toEqual([
            "mailstack:senders[1]: notify@nathabee.de is already listed at mailstack:senders[0] (addresses are case-insensitive)",
        ]);
    });

    test("a sender that is no address, or has a local part mailstack does not create, is refused", () => {
        expect(configProblems(withSenders(["notify", "a+b@nathabee.de", 7]))).toEqual([
            'mailstack:senders[0]: "notify" is not an address such as notify@nathabee.de (a-z, 0-9, ".", "_", "-" before the @)',
            'mailstack:senders[1]: "a+b@nathabee.de" is not an address such as notify@nathabee.de (a-z, 0-9, ".", "_", "-" before the @)',
            "mailstack:senders[2]: Invalid input: expected string, received number",
        ]);
    });

    test("a sender may share its address with an alias (where replies go), and in any configured domain", () => {
        const raw = twoDomains();
        const domains = raw.domains as Record<string, unknown>[];
        domains[0] = {
            ...domains[0],
            aliases: { ...(domains[0].aliases as object), notify: ["evaluation@nathabee.de"] },
        };
        expect(configProblems({ ...raw, senders: ["notify@nathabee.de", "app@example.org"] })).toEqual([]);
    });

    test("a sender may have a configured password, checked like a mailbox's and never echoed", () => {
        expect(
            configProblems(withSenders(["notify@nathabee.de"], { "notify@nathabee.de": "a-long-enough-password" })),
        ).toEqual([]);
        const found = configProblems(withSenders(["notify@nathabee.de"], { "notify@nathabee.de": "short-one" }));
        expect(found).toEqual(["mailstack:passwords.notify@nathabee.de: is too short: use at least 12 characters"]);
        expect(found.join()).not.toContain("short-one");
    });
});

describe("who may send as what", () => {
    test("a sender owns its own address only; an alias of the same name shares it with the mailboxes it reaches", () => {
        const s = spec({
            domains: [
                {
                    name: "example.org",
                    mailboxes: ["alice"],
                    aliases: { postmaster: ["alice@example.org"], replies: ["alice@example.org"] },
                },
            ],
            senders: ["notify@example.org", "replies@example.org"],
        });
        const owners = addressOwners(s);
        expect(owners.get("notify@example.org")).toEqual(["notify@example.org"]);
        expect(owners.get("replies@example.org")).toEqual(["alice@example.org", "replies@example.org"]);
        // alice's own address and the postmaster alias stay hers alone.
        expect(owners.get("alice@example.org")).toEqual(["alice@example.org"]);
        expect(owners.get("postmaster@example.org")).toEqual(["alice@example.org"]);
    });
});

describe("the server's files", () => {
    const s = spec({ senders: ["notify@example.org"] });
    const files = renderMailData(s, { passwordHashes: hashesFor(s) });

    test("Postfix's sender-logins (envelope, and the sender milter's From: check) give the sender its address", () => {
        const logins = rows(byPath(files, "/etc/postfix/mailstack/sender-logins"));
        expect(logins).toContain("notify@example.org notify@example.org");
        expect(logins.filter((r) => r.split(" ")[1].split(",").includes("notify@example.org"))).toEqual([
            "notify@example.org notify@example.org",
        ]);
    });

    test("the sender has no mailbox: no virtual-mailboxes row, no alias, no Dovecot user (no IMAP, POP3, webmail, DAV, LMTP)", () => {
        for (const path of [
            "/etc/postfix/mailstack/virtual-mailboxes",
            "/etc/postfix/mailstack/virtual-aliases",
            "/etc/dovecot/configured-users",
        ])
            expect(byPath(files, path).content).not.toContain("notify@");
    });

    test("its hash alone is in the senders' passwd-file, readable by Dovecot only", () => {
        const f = byPath(files, DOVECOT_SENDERS);
        expect(f.content).toBe(`notify@example.org:${HASH}\n`);
        expect([f.mode, f.owner, f.group]).toEqual(["0640", "root", "dovecot"]);
        expect(f.onChange).toEqual(["reload:dovecot"]);
        // Without senders it is empty, so a removed sender's login is gone.
        const none = spec();
        expect(byPath(renderMailData(none, { passwordHashes: hashesFor(none) }), DOVECOT_SENDERS).content).toBe("");
    });

    test("mail-data refuses to run without a sender's hash, or with a hash for a login that does not exist", () => {
        const hashes = hashesFor(s);
        delete hashes["notify@example.org"];
        expect(() => renderMailData(s, { passwordHashes: hashes })).toThrow(
            /no password hash for the sender notify@example.org/,
        );
        expect(() => renderMailData(spec(), { passwordHashes: hashesFor(s) })).toThrow(
            /unknown login notify@example.org/,
        );
    });

    test("Dovecot asks the senders' passwd-file for Postfix's logins (protocol smtp) only", () => {
        const conf = byPath(renderHostFiles(s), SENDERS_CONF).content;
        const body = conf
            .split("\n")
            .filter((l) => l.trim() !== "" && !l.trim().startsWith("#"))
            .map((l) => l.trim());
        expect(body).toEqual([
            "protocol smtp {",
            "passdb senders {",
            "driver = passwd-file",
            `passwd_file_path = ${DOVECOT_SENDERS}`,
            "default_password_scheme = BLF-CRYPT",
            "}",
            "}",
        ]);
        // The same file whatever the senders: adding one changes mail-data only.
        expect(byPath(renderHostFiles(spec()), SENDERS_CONF).content).toBe(conf);
    });
});

test("adding a sender changes only mail-data: the user-data and host-config stay byte for byte the same", () => {
    const without = spec();
    const withSender = spec({ senders: ["notify@example.org"] });
    const options = {
        mailVolumeDevice: "/dev/disk/by-id/scsi-0HC_Volume_1",
        provisionalHostKey: TEST_PROVISIONAL_HOST_KEY,
    };
    expect(renderUserData(withSender, options)).toBe(renderUserData(without, options));
    expect(renderHostFiles(withSender)).toEqual(renderHostFiles(without));
});

describe("the stack", () => {
    let res: Awaited<ReturnType<typeof deploy>>;
    beforeAll(async () => {
        res = await deploy("snd", { ...oneDomain(), senders: ["notify@nathabee.de"] });
    });

    test("a sender without a configured password gets a generated one, a secret output of its own; only its hash reaches the server", async () => {
        expect(Object.keys(res.outputs.senderPasswords)).toEqual(["notify@nathabee.de"]);
        expect(Object.keys(res.outputs.mailboxPasswords)).not.toContain("notify@nathabee.de");
        expect(await pulumi.isSecret(res.stack.senderPasswords)).toBe(true);
        const password = res.outputs.senderPasswords["notify@nathabee.de"];
        const step = find(res.resources, COMMAND, "snd-provision-mail-data");
        expect(step.secretInputs).toContain("stdin");
        const row = bundleFile(step.inputs.stdin, DOVECOT_SENDERS)!;
        const [address, hash] = row.trim().split(":");
        expect(address).toBe("notify@nathabee.de");
        // The random provider's bcrypt hash of it (a stand-in of that shape under the mocks).
        expect(hash).toMatch(/^\{BLF-CRYPT\}\$2[ab]\$\d\d\$[./A-Za-z0-9]{53}$/);
        expect(step.inputs.stdin).not.toContain(password);
    });
});
