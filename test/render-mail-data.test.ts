// Unit tests of the per-domain files: mail-data, the own sender domains, DKIM, and which step
// carries which secret.

import { addressOwners, type MailSpec } from "../model";
import { renderDkimFiles, renderHostFiles, renderMailData, renderUserData } from "../render";
import { passwordGeneration } from "../render/host/mailbox-passwords";
import { TEST_PROVISIONAL_HOST_KEY } from "./helpers/host-key";
import {
    DEVICE,
    HASH,
    PEM,
    orgDomain,
    comDomain,
    spec,
    withRelay,
    hashesFor,
    keysFor,
    withoutHostKey,
    byPath,
    rows,
} from "./helpers/render";

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
