import { buildSpec, dkimName, isCidr, parseDkimName, type RawConfig } from "../model";
import { configProblems, oneDomain, twoDomains } from "./helpers/fixtures";

const problems = configProblems;

function withDomain(patch: Record<string, unknown>, index = 0): RawConfig {
    const raw = twoDomains();
    const domains = (raw.domains as Record<string, unknown>[]).map((d) => ({ ...d }));
    domains[index] = { ...domains[index], ...patch };
    return { ...raw, domains };
}

describe("a valid config", () => {
    test("builds a spec with defaults and full, lower-case addresses", () => {
        const spec = buildSpec(oneDomain());
        expect(spec.server).toEqual({ type: "cx23", location: "nbg1", image: "debian-13" });
        expect(spec.hostnameDomain).toBe("nathabee.de");
        expect(spec.acmeServer).toBe("https://acme-v02.api.letsencrypt.org/directory");
        expect(spec.domains[0].mailboxes).toEqual(["evaluation@nathabee.de", "freebus@nathabee.de"]);
        expect(spec.domains[0].aliases).toContainEqual({
            address: "admin@nathabee.de",
            targets: ["someone@example.net"],
        });
        expect(spec.domains[0].dmarc).toEqual({ policy: "quarantine", rua: "postmaster@nathabee.de" });
        expect(spec.domains[0].dkimSelector).toBe("mail");
        expect(spec.messageSizeLimitBytes).toBe(50 * 1024 * 1024);
    });

    test("lower-cases every name it is given in upper or mixed case: host, domain, mailboxes, quotas, aliases and their targets, catch-all", () => {
        const raw = oneDomain();
        const spec = buildSpec({
            ...raw,
            hostname: "Mail.NathaBee.DE",
            domains: [
                {
                    name: "NathaBee.DE",
                    mailboxes: ["Evaluation", "FREEBUS"],
                    mailboxQuotas: { EVALUATION: "5G" },
                    aliases: { Admin: ["Someone@Example.NET"], postmaster: ["Evaluation@NathaBee.de"] },
                    catchAll: "FreeBus",
                    dmarc: { policy: "quarantine" },
                },
            ],
        });
        expect(spec.hostname).toBe("mail.nathabee.de");
        const d = spec.domains[0];
        expect(d.name).toBe("nathabee.de");
        expect(d.mailboxes).toEqual(["evaluation@nathabee.de", "freebus@nathabee.de"]);
        expect(d.mailboxQuotas).toEqual({ "evaluation@nathabee.de": "5G", "freebus@nathabee.de": "2G" });
        expect(d.aliases).toEqual([
            { address: "admin@nathabee.de", targets: ["someone@example.net"] },
            { address: "postmaster@nathabee.de", targets: ["evaluation@nathabee.de"] },
        ]);
        expect(d.catchAll).toBe("freebus@nathabee.de");
    });

    test("accepts an alias chain that ends in a mailbox and a cross-domain alias", () => {
        expect(problems(twoDomains())).toEqual([]);
    });
});

describe("the DKIM record's name", () => {
    test("is built in one place and read back by the same rule", () => {
        expect(dkimName("mail", "example.org")).toBe("mail._domainkey.example.org");
        expect(parseDkimName("s2026._domainkey.mail.example.org")).toEqual({
            selector: "s2026",
            domain: "mail.example.org",
        });
        expect(parseDkimName("_dmarc.example.org")).toBeUndefined();
        expect(parseDkimName("a.b._domainkey.example.org")).toBeUndefined();
    });
});

describe("bad input names the key path and what is wrong", () => {
    test("missing hostname", () => {
        const raw = oneDomain();
        delete raw.hostname;
        expect(problems(raw)).toEqual([expect.stringMatching(/^mailstack:hostname: is required/)]);
    });

    test("a resolver to forward to that is not an address", () => {
        expect(problems({ ...oneDomain(), resolver: { forward: ["192.0.2.7", "dns.example"] } })).toEqual([
            "mailstack:resolver.forward[1]: must be an IPv4 or IPv6 address",
        ]);
        expect(problems({ ...oneDomain(), resolver: { forward: [] } })).toEqual([
            "mailstack:resolver.forward: must list at least one resolver address",
        ]);
        expect(problems({ ...oneDomain(), resolver: {} })).toEqual([
            "mailstack:resolver: must set forward or signedZones",
        ]);
    });

    test("a signed zone with a bad name, server or DS", () => {
        const zone = { name: "dane.test", servers: ["198.51.100.53"], ds: ["46278 13 2 " + "ab".repeat(32)] };
        expect(problems({ ...oneDomain(), resolver: { signedZones: [zone] } })).toEqual([]);
        expect(
            problems({
                ...oneDomain(),
                resolver: {
                    signedZones: [zone, { name: "dane_test", servers: ["ns.dane.test"], ds: ["46278 13 2 xyz"] }],
                },
            }),
        ).toEqual([
            "mailstack:resolver.signedZones[1].name: must be a domain name such as internal.example.org",
            "mailstack:resolver.signedZones[1].servers[0]: must be an IPv4 or IPv6 address",
            'mailstack:resolver.signedZones[1].ds[0]: must be a DS record\'s data: "keytag algorithm digesttype hexdigest"',
        ]);
        expect(problems({ ...oneDomain(), resolver: { signedZones: [{ ...zone, ds: [] }] } })).toEqual([
            "mailstack:resolver.signedZones[0].ds: must list at least one DS record",
        ]);
    });

    test("invalid hostname", () => {
        expect(problems({ ...oneDomain(), hostname: "mail_host.nathabee.de" })).toEqual([
            'mailstack:hostname: "mail_host.nathabee.de" is not a valid host name',
        ]);
    });

    test("hostname outside every configured domain", () => {
        expect(problems({ ...oneDomain(), hostname: "mail.elsewhere.org" })).toEqual([
            expect.stringMatching(/^mailstack:hostname: "mail\.elsewhere\.org" is not inside any configured domain/),
        ]);
    });

    test("invalid domain name", () => {
        expect(problems(withDomain({ name: "example..org" }, 1))).toContain(
            'mailstack:domains[1].name: "example..org" is not a valid domain name',
        );
    });

    test("duplicate domain", () => {
        expect(problems(withDomain({ name: "NathaBee.de" }, 1))).toContain(
            'mailstack:domains[1].name: "nathabee.de" is already configured at mailstack:domains[0]',
        );
    });

    test("duplicate mailbox", () => {
        expect(problems(withDomain({ mailboxes: ["evaluation", "freebus", "Evaluation"] }))).toContain(
            "mailstack:domains[0].mailboxes[2]: evaluation@nathabee.de is already defined at mailstack:domains[0].mailboxes[0]",
        );
    });

    test("alias that is also a mailbox", () => {
        expect(
            problems(
                withDomain({
                    aliases: { freebus: ["evaluation@nathabee.de"], postmaster: ["evaluation@nathabee.de"] },
                }),
            ),
        ).toContain(
            "mailstack:domains[0].aliases.freebus: freebus@nathabee.de is already defined at mailstack:domains[0].mailboxes[1]",
        );
    });

    test("alias to a local address that does not exist", () => {
        expect(
            problems(
                withDomain({ aliases: { postmaster: ["evaluation@nathabee.de"], sales: ["nobody@example.org"] } }),
            ),
        ).toContain(
            "mailstack:domains[0].aliases.sales[0]: nobody@example.org is not a mailbox or alias of this server",
        );
    });

    test("alias loop", () => {
        const found = problems(
            withDomain({
                aliases: { postmaster: ["evaluation@nathabee.de"], a: ["b@nathabee.de"], b: ["a@nathabee.de"] },
            }),
        );
        expect(found).toEqual([
            "mailstack:domains[0].aliases.a: alias loop: a@nathabee.de -> b@nathabee.de -> a@nathabee.de",
        ]);
    });

    test("postmaster missing", () => {
        expect(problems(withDomain({ aliases: {} }, 1))).toContain(
            'mailstack:domains[1].aliases: postmaster@example.org must exist (RFC 5321): add a mailbox "postmaster" or an alias postmaster: [someone@...]',
        );
    });

    test("postmaster that reaches no one", () => {
        const found = problems(
            withDomain(
                { mailboxes: [], aliases: { postmaster: ["list@example.org"], list: ["postmaster@example.org"] } },
                1,
            ),
        );
        expect(found).toContain(
            "mailstack:domains[1].aliases.postmaster: postmaster@example.org does not reach any mailbox or outside address",
        );
    });

    test("invalid CIDR", () => {
        expect(
            problems({ ...oneDomain(), sshAllowedCidrs: ["203.0.113.7/32", "203.0.113.300/32", "2001:db8::/129"] }),
        ).toEqual([
            'mailstack:sshAllowedCidrs[1]: "203.0.113.300/32" is not a CIDR such as 203.0.113.7/32 or 2001:db8::/48',
            'mailstack:sshAllowedCidrs[2]: "2001:db8::/129" is not a CIDR such as 203.0.113.7/32 or 2001:db8::/48',
        ]);
    });

    test("invalid email in acmeEmail", () => {
        expect(problems({ ...oneDomain(), acmeEmail: "postmaster" })).toEqual([
            'mailstack:acmeEmail: "postmaster" is not a valid email address',
        ]);
    });

    test("invalid email in an alias target", () => {
        expect(
            problems(
                withDomain({ aliases: { postmaster: ["evaluation@nathabee.de"], admin: ["someone@@example.net"] } }),
            ),
        ).toContain('mailstack:domains[0].aliases.admin[0]: "someone@@example.net" is not a valid email address');
    });

    test("password for an unknown address", () => {
        expect(problems({ ...oneDomain(), passwords: { "ghost@nathabee.de": "a-long-enough-password" } })).toEqual([
            "mailstack:passwords.ghost@nathabee.de: ghost@nathabee.de is not a configured mailbox or sender (only they log in)",
        ]);
    });

    test("password too short, without echoing it", () => {
        const found = problems({ ...oneDomain(), passwords: { "evaluation@nathabee.de": "hunter2" } });
        expect(found).toEqual(["mailstack:passwords.evaluation@nathabee.de: is too short: use at least 12 characters"]);
        expect(found.join()).not.toContain("hunter2");
    });

    test("a digits-only password stored as a number is refused, not turned into another password", () => {
        const found = problems({ ...oneDomain(), passwords: { "evaluation@nathabee.de": 1234567890123 } });
        expect(found).toEqual([
            "mailstack:passwords.evaluation@nathabee.de: is a number (digits only?): use a password with letters as well",
        ]);
        expect(found.join()).not.toContain("1234567890123");
    });

    test("unsupported image", () => {
        expect(problems({ ...oneDomain(), server: { image: "ubuntu-24.04" } })).toEqual([
            'mailstack:server.image: "ubuntu-24.04" is not supported: the server configuration targets exactly debian-13',
        ]);
    });

    test.each([
        [
            "a DMARC report address that is not an address",
            withDomain({ dmarc: { policy: "reject", rua: "mailto:x@y.org" } }),
            'mailstack:domains[0].dmarc.rua: "mailto:x@y.org" is not a valid email address',
        ],
        [
            "a mail volume below Hetzner's smallest",
            { ...oneDomain(), mailVolumeSizeGb: 5 },
            "mailstack:mailVolumeSizeGb: must be at least 10 (Hetzner's smallest volume)",
        ],
        [
            "a message size limit out of range",
            { ...oneDomain(), messageSizeLimitMb: 500 },
            "mailstack:messageSizeLimitMb: Too big: expected number to be <=200",
        ],
        [
            "an ACME directory over plain http",
            { ...oneDomain(), acmeServer: "http://acme.example/dir" },
            "mailstack:acmeServer: must be an https:// ACME directory URL",
        ],
        [
            "a hostname that is a mail domain itself",
            { ...oneDomain(), hostname: "nathabee.de" },
            'mailstack:hostname: "nathabee.de" is also a mail domain; use a host inside it, e.g. mail.nathabee.de',
        ],
        [
            "nobody allowed to reach SSH",
            { ...oneDomain(), sshAllowedCidrs: [] },
            "mailstack:sshAllowedCidrs: must list at least one CIDR that may reach SSH (the deployer, CI)",
        ],
        ["no domain", { ...oneDomain(), domains: [] }, "mailstack:domains: must list at least one mail domain"],
        [
            "no acmeEmail",
            { ...oneDomain(), acmeEmail: undefined },
            "mailstack:acmeEmail: is required (the Let's Encrypt account address)",
        ],
        [
            "passwords that are not a map",
            { ...oneDomain(), passwords: ["x"] },
            'mailstack:passwords: must be a map of "address": "password"',
        ],
        [
            "a password longer than bcrypt takes",
            { ...oneDomain(), passwords: { "evaluation@nathabee.de": "a".repeat(80) } },
            "mailstack:passwords.evaluation@nathabee.de: is too long: bcrypt uses at most 72 bytes",
        ],
        [
            "a password with a line break",
            { ...oneDomain(), passwords: { "evaluation@nathabee.de": "abcdefghijkl\nmnop" } },
            "mailstack:passwords.evaluation@nathabee.de: must not contain control characters",
        ],
        [
            "an SPF entry that is not one mechanism",
            withDomain({ spf: { extra: ["include:_spf.example.net", "bogus mech"] } }),
            "mailstack:domains[0].spf.extra[1]: must be one SPF mechanism such as include:_spf.example.net or ip4:192.0.2.1",
        ],
    ])("%s", (_what, raw, problem) => {
        expect(problems(raw as RawConfig)).toEqual([problem]);
    });

    test("a relay port out of range", () => {
        expect(
            problems({ ...oneDomain(), relay: { host: "smtp.relay.example", username: "me", port: 70000 } }),
        ).toContain("mailstack:relay.port: Too big: expected number to be <=65535");
    });

    test("relay without its password", () => {
        expect(problems({ ...oneDomain(), relay: { host: "smtp.relay.example", username: "me" } })).toEqual([
            "mailstack:relayPassword: is required when mailstack:relay is set (set it with --secret)",
        ]);
    });

    test("wrong types and unknown keys come with their paths", () => {
        const found = problems(withDomain({ mailboxes: "evaluation", dmarc: { policy: "drop" }, colour: "blue" }));
        expect(found).toEqual(
            expect.arrayContaining([
                expect.stringMatching(/^mailstack:domains\[0\]\.mailboxes: /),
                expect.stringMatching(/^mailstack:domains\[0\]\.dmarc\.policy: /),
                expect.stringMatching(/^mailstack:domains\[0\]: .*colour/),
            ]),
        );
        expect(found).toHaveLength(3);
    });

    test("every problem is reported at once", () => {
        const raw = { ...withDomain({ name: "bad_domain" }, 1), acmeEmail: "nope", sshAllowedCidrs: ["x"] };
        expect(problems(raw).length).toBeGreaterThanOrEqual(3);
    });
});

describe("shape errors do not hide other problems", () => {
    const CIDR_PROBLEM = (c: string, i = 0) =>
        `mailstack:sshAllowedCidrs[${i}]: "${c}" is not a CIDR such as 203.0.113.7/32 or 2001:db8::/48`;

    test("missing hostname and an invalid CIDR are both reported", () => {
        const raw: RawConfig = { ...oneDomain(), sshAllowedCidrs: ["203.0.113.300/32"] };
        delete raw.hostname;
        expect(problems(raw)).toEqual([
            expect.stringMatching(/^mailstack:hostname: is required/),
            CIDR_PROBLEM("203.0.113.300/32"),
        ]);
    });

    test("a bad dmarc policy and a bad acmeEmail are both reported, in config key order", () => {
        expect(problems({ ...withDomain({ dmarc: { policy: "drop" } }), acmeEmail: "postmaster" })).toEqual([
            'mailstack:acmeEmail: "postmaster" is not a valid email address',
            expect.stringMatching(/^mailstack:domains\[0\]\.dmarc\.policy: /),
        ]);
    });

    test("an invalid zoneId does not hide an invalid CIDR", () => {
        expect(problems({ ...withDomain({ zoneId: "xyz" }), sshAllowedCidrs: ["nope"] })).toEqual([
            CIDR_PROBLEM("nope"),
            "mailstack:domains[0].zoneId: must be a 32-character hex Cloudflare zone id",
        ]);
    });

    test("a shape error in one domain does not hide an alias loop in another", () => {
        const raw = withDomain({ dkimSelector: "Mail_Sel" }, 0);
        (raw.domains as Record<string, unknown>[])[1] = {
            name: "example.org",
            mailboxes: ["carol"],
            aliases: { postmaster: ["carol@example.org"], a: ["b@example.org"], b: ["a@example.org"] },
        };
        expect(problems(raw)).toEqual([
            "mailstack:domains[0].dkimSelector: must be a single DNS label (a-z, 0-9, -)",
            "mailstack:domains[1].aliases.a: alias loop: a@example.org -> b@example.org -> a@example.org",
        ]);
    });

    test("a bad field does not hide its siblings' problems", () => {
        const raw: RawConfig = {
            ...oneDomain(),
            server: { type: "CX 23", image: "ubuntu-24.04" },
            relay: { host: "bad host", username: "" },
        };
        expect(problems(raw)).toEqual([
            "mailstack:server.type: must be a Hetzner server type such as cx23",
            'mailstack:server.image: "ubuntu-24.04" is not supported: the server configuration targets exactly debian-13',
            'mailstack:relay.host: "bad host" is not a host name or IPv4 address',
            "mailstack:relay.username: must not be empty",
            "mailstack:relayPassword: is required when mailstack:relay is set (set it with --secret)",
        ]);
        expect(problems({ ...oneDomain(), sshAllowedCidrs: [42, "x"] })).toEqual([
            "mailstack:sshAllowedCidrs[0]: Invalid input: expected string, received number",
            CIDR_PROBLEM("x", 1),
        ]);
    });

    test("an invalid domain name causes no follow-on problems about the hostname, aliases or passwords", () => {
        const raw = {
            ...withDomain({ name: "nathabee.de." }),
            passwords: { "evaluation@nathabee.de": "a-long-enough-password" },
        };
        expect(problems(raw)).toEqual(['mailstack:domains[0].name: "nathabee.de." is not a valid domain name']);
        expect(problems({ ...oneDomain(), domains: [{ ...(oneDomain().domains as object[])[0], name: 42 }] })).toEqual([
            "mailstack:domains[0].name: Invalid input: expected string, received number",
        ]);
    });

    test("invalid mailboxes or aliases make no address of that domain look missing", () => {
        // A mistyped list: its addresses are unknown, so aliases to them and passwords for
        // them are not reported, while the password's own problem still is.
        const raw = { ...withDomain({ mailboxes: "evaluation" }), passwords: { "evaluation@nathabee.de": "short" } };
        expect(problems(raw)).toEqual([
            "mailstack:domains[0].mailboxes: Invalid input: expected array, received string",
            "mailstack:passwords.evaluation@nathabee.de: is too short: use at least 12 characters",
        ]);
        // A misspelt key: no "postmaster must exist" on top of it.
        expect(problems(withDomain({ alias: { postmaster: ["carol@example.org"] }, aliases: undefined }, 1))).toEqual([
            'mailstack:domains[1]: Unrecognized key: "alias"',
        ]);
        // One alias with an empty target list: only that, not "postmaster does not reach
        // anyone" for an alias that forwards to it, while a loop elsewhere is still found.
        const found = problems(
            withDomain({
                aliases: { postmaster: [], a: ["b@nathabee.de"], b: ["a@nathabee.de"], c: ["postmaster@nathabee.de"] },
            }),
        );
        expect(found).toEqual([
            "mailstack:domains[0].aliases.postmaster: must list at least one target",
            "mailstack:domains[0].aliases.a: alias loop: a@nathabee.de -> b@nathabee.de -> a@nathabee.de",
        ]);
    });

    test("domains that are not a list hide nothing else and add no noise", () => {
        const raw = {
            ...oneDomain(),
            domains: "nathabee.de",
            acmeEmail: "nope",
            passwords: { "evaluation@nathabee.de": "a-long-enough-password" },
        };
        expect(problems(raw)).toEqual([
            'mailstack:acmeEmail: "nope" is not a valid email address',
            "mailstack:domains: Invalid input: expected array, received string",
        ]);
    });
});

describe("isCidr", () => {
    test.each(["203.0.113.7/32", "0.0.0.0/0", "2001:db8::/32", "::/0", "::ffff:192.0.2.1/128"])("accepts %s", (c) =>
        expect(isCidr(c)).toBe(true),
    );
    test.each(["203.0.113.7", "10.0.0.0/33", "2001:db8:::/32", "01.2.3.4/8", "1:2:3:4:5:6:7:8:9/64", "abc/8"])(
        "refuses %s",
        (c) => expect(isCidr(c)).toBe(false),
    );
});

describe("CIDRs with host bits, which Hetzner's firewall refuses mid-deploy", () => {
    test.each([
        ["203.0.113.7/24", "203.0.113.0/24"],
        ["2001:db8::1/64", "2001:db8::/64"],
        ["192.0.2.129/25", "192.0.2.128/25"],
    ])("%s is refused with its network named", (cidr, network) => {
        expect(isCidr(cidr)).toBe(false);
        expect(problems({ ...oneDomain(), sshAllowedCidrs: ["198.51.100.0/24", cidr] })).toEqual([
            `mailstack:sshAllowedCidrs[1]: "${cidr}" has host bits set: write ${network}, or /32 (/128) for one address`,
        ]);
    });
    test.each(["203.0.113.0/24", "2001:db8:1::/48", "198.51.100.7/32", "2001:db8::1/128"])("%s is a network", (c) =>
        expect(isCidr(c)).toBe(true),
    );
});

describe("mailbox quotas", () => {
    test("every mailbox gets its domain's quota (default 2G) unless mailboxQuotas names it", () => {
        expect(buildSpec(oneDomain()).domains[0].mailboxQuotas).toEqual({
            "evaluation@nathabee.de": "2G",
            "freebus@nathabee.de": "2G",
        });
        const spec = buildSpec(withDomain({ quota: "500M", mailboxQuotas: { freebus: "10G" } }));
        expect(spec.domains[0].mailboxQuotas).toEqual({
            "evaluation@nathabee.de": "500M",
            "freebus@nathabee.de": "10G",
        });
    });

    test("a bad size or an unknown mailbox is named by its key path", () => {
        const found = problems(withDomain({ quota: "2GB", mailboxQuotas: { freebus: "0G", nobody: "1G" } }));
        expect(found).toContain('mailstack:domains[0].quota: must be a size such as "500M", "2G" or "1T"');
        expect(found).toContain(
            'mailstack:domains[0].mailboxQuotas.freebus: must be a size such as "500M", "2G" or "1T"',
        );
        expect(found).toContain('mailstack:domains[0].mailboxQuotas.nobody: "nobody" is not a mailbox of this domain');
    });
});

describe("catch-all per domain (domains[i].catchAll)", () => {
    test("names a mailbox of its own domain, and the spec holds its full address", () => {
        const spec = buildSpec(withDomain({ catchAll: "Carol" }, 1));
        expect(spec.domains[1].catchAll).toBe("carol@example.org");
        expect(spec.domains[0].catchAll).toBeUndefined();
    });

    test("a full address is refused with the key path, naming the mailbox to give instead", () => {
        expect(problems(withDomain({ catchAll: "carol@example.org" }, 1))).toEqual([
            'mailstack:domains[1].catchAll: "carol@example.org" is an address: give the name of one of example.org\'s mailboxes (e.g. "carol"); the catch-all must be a mailbox of its own domain',
        ]);
    });

    test("a name that is not a mailbox of the domain is refused, an alias or another domain's mailbox too", () => {
        expect(problems(withDomain({ catchAll: "postmaster" }, 1))).toEqual([
            'mailstack:domains[1].catchAll: "postmaster" is not a mailbox of example.org (its mailboxes: carol); the catch-all must be one of them',
        ]);
        expect(problems(withDomain({ catchAll: "evaluation" }, 1))).toEqual([
            'mailstack:domains[1].catchAll: "evaluation" is not a mailbox of example.org (its mailboxes: carol); the catch-all must be one of them',
        ]);
        expect(problems(withDomain({ catchAll: 7 }, 1))).toEqual([
            expect.stringMatching(/^mailstack:domains\[1\]\.catchAll: /),
        ]);
    });

    test("an invalid mailbox entry is reported once, not again as a missing catch-all", () => {
        expect(problems(withDomain({ mailboxes: ["carol", "dä"], catchAll: "dä" }, 1))).toEqual([
            expect.stringMatching(/^mailstack:domains\[1\]\.mailboxes\[1\]: "dä" is not a valid mailbox name/),
        ]);
        // A mailbox that is not even a string may be the one the catch-all names: one problem, its own.
        expect(problems(withDomain({ mailboxes: ["carol", 7], catchAll: "dave" }, 1))).toEqual([
            expect.stringMatching(/^mailstack:domains\[1\]\.mailboxes\[1\]: /),
        ]);
    });

    test("postmaster@ must still be listed: a catch-all does not stand in for it", () => {
        expect(problems(withDomain({ aliases: { abuse: ["postmaster@nathabee.de"] }, catchAll: "carol" }, 1))).toEqual([
            'mailstack:domains[1].aliases: postmaster@example.org must exist (RFC 5321): add a mailbox "postmaster" or an alias postmaster: [someone@...]',
        ]);
    });
});

describe("mailbox and alias names are ASCII (internationalized mail is accepted, not created)", () => {
    test("a non-ASCII mailbox name is refused with the key path and the reason", () => {
        expect(problems(withDomain({ mailboxes: ["evaluation", "freebus", "jürgen"] }))).toEqual([
            'mailstack:domains[0].mailboxes[2]: "jürgen" is not a valid mailbox name (a-z, 0-9, ".", "_", "-"; no "@domain", it is added): mailstack\'s mailbox and alias names are ASCII only (mail from UTF-8 addresses elsewhere is accepted)',
        ]);
    });

    test("a non-ASCII alias name is refused with the key path and the reason", () => {
        expect(
            problems(
                withDomain({ aliases: { postmaster: ["evaluation@nathabee.de"], grüße: ["evaluation@nathabee.de"] } }),
            ),
        ).toEqual([
            'mailstack:domains[0].aliases.grüße: "grüße" is not a valid alias name (a-z, 0-9, ".", "_", "-"): mailstack\'s mailbox and alias names are ASCII only (mail from UTF-8 addresses elsewhere is accepted)',
        ]);
    });

    test("an ASCII name that is invalid for another reason gets no word about ASCII", () => {
        expect(problems(withDomain({ mailboxes: ["evaluation", "freebus", "a+b"] }))).toEqual([
            'mailstack:domains[0].mailboxes[2]: "a+b" is not a valid mailbox name (a-z, 0-9, ".", "_", "-"; no "@domain", it is added)',
        ]);
    });
});
