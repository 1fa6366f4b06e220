// Issue 28, item 4: inputs that used to pass the config check but were wrong. Each is now a
// config problem with its key path (before anything is declared), made canonical, or
// refused as ambiguous; secret values are judged by their shape and never echoed.
import { buildSpec, configWarnings, type RawConfig } from "../model";
import { configProblems, oneDomain } from "./helpers/fixtures";

const problems = configProblems;

function withDomain(patch: Record<string, unknown>): RawConfig {
    const raw = oneDomain();
    return { ...raw, domains: [{ ...(raw.domains as Record<string, unknown>[])[0], ...patch }] };
}

const SFTP = {
    host: "u123456.your-storagebox.de",
    user: "u123456",
    path: "mail",
    hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIj0Y7Fwm6wZUmPQpVuZ7mUr2Z5ZpOHg6oYd3Vtq8x9c",
};
const S3 = { endpoint: "https://fsn1.your-objectstorage.com", bucket: "mail-backup" };
const RELAY = { host: "smtp.relay.example", port: 587, username: "mailer" };
/** A SHA-256 fingerprint as openssl prints it. */
const FINGERPRINT = "A0:9D:D3:66:E7:50:6D:E1:86:2A:8A:1B:40:ED:6B:72:90:A0:90:72:89:E9:83:F2:58:83:C2:1A:B5:02:7F:E4";

/**
 * An OpenSSH private key's armour and the start of its body (magic, cipher name): all that is
 * judged. ssh-keygen's own keys, unencrypted and with a passphrase, were tried by hand.
 */
function opensshKey(cipher: string): string {
    const name = Buffer.from(cipher);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(name.length);
    const body = Buffer.concat([Buffer.from("openssh-key-v1\0"), length, name, Buffer.alloc(32)]).toString("base64");
    return `-----BEGIN OPENSSH PRIVATE KEY-----\n${body.replace(/(.{70})/g, "$1\n")}\n-----END OPENSSH PRIVATE KEY-----\n`;
}

describe("secrets are checked for shape before anything is declared, and never echoed", () => {
    const backup = (secretValues: RawConfig["secretValues"], repository: object = { sftp: SFTP }) =>
        problems({ ...oneDomain(), backup: repository, secretValues });

    test("a backup password of 5 characters is refused, and the message does not show it", () => {
        const found = backup({ backupPassword: "abcde" });
        expect(found).toEqual(["mailstack:backupPassword: must be at least 12 characters"]);
        expect(found.join()).not.toContain("abcde");
        expect(backup({ backupPassword: "twelve-chars" })).toEqual([]);
    });

    test("a backup password with a line break is refused, because restic would read the break as part of it", () => {
        const found = backup({ backupPassword: "a-long-password\nsecond-line" });
        expect(found).toEqual(["mailstack:backupPassword: must be one line without control characters (CR, LF, tab)"]);
        expect(found.join()).not.toContain("second-line");
    });

    test("a backup SSH key that is not a private key is refused without echoing it", () => {
        const password = "a-long-backup-password";
        for (const garbage of [
            "garbage-not-a-key",
            "ssh-ed25519 AAAAC3Nza... me@laptop",
            opensshKey("none").slice(0, 60),
        ]) {
            const found = backup({ backupPassword: password, backupSshPrivateKey: garbage });
            expect(found).toEqual([
                "mailstack:backupSshPrivateKey: must be an unencrypted OpenSSH or PEM private key as ssh-keygen writes it (-----BEGIN OPENSSH PRIVATE KEY----- ... -----END OPENSSH PRIVATE KEY-----)",
            ]);
            expect(found.join()).not.toContain(garbage);
        }
        // The armour with something else inside is not a key either.
        expect(
            backup({
                backupPassword: password,
                backupSshPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----",
            }),
        ).toHaveLength(1);
        expect(backup({ backupPassword: password, backupSshPrivateKey: opensshKey("none") })).toEqual([]);
    });

    test("a backup SSH key with a passphrase is refused: the unattended backup could never use it", () => {
        expect(
            backup({ backupPassword: "a-long-backup-password", backupSshPrivateKey: opensshKey("aes256-ctr") }),
        ).toEqual([
            "mailstack:backupSshPrivateKey: is protected with a passphrase, which the unattended backup cannot type: remove it (ssh-keygen -p)",
        ]);
        expect(
            backup({
                backupPassword: "a-long-backup-password",
                backupSshPrivateKey:
                    "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n",
            }),
        ).toEqual([expect.stringMatching(/^mailstack:backupSshPrivateKey: is protected with a passphrase/)]);
    });

    test("an S3 key with a newline is a config error, not a failure after 70 resources", () => {
        const found = backup(
            {
                backupPassword: "a-long-backup-password",
                backupS3AccessKeyId: "AKIA123\n",
                backupS3SecretAccessKey: "secret key",
            },
            { s3: S3 },
        );
        expect(found).toEqual([
            "mailstack:backupS3AccessKeyId: must be one word of printable characters (no spaces or line breaks)",
            "mailstack:backupS3SecretAccessKey: must be one word of printable characters (no spaces or line breaks)",
        ]);
        expect(found.join()).not.toMatch(/AKIA123|secret key/);
    });

    test("a relay username or password with CR/LF is a config error up front, and the password is not echoed", () => {
        const found = problems({
            ...oneDomain(),
            relay: { ...RELAY, username: "mailer\r\nX" },
            secretValues: { relayPassword: "relay-password\r\nDATA" },
        });
        expect(found).toEqual([
            'mailstack:relay.username: must not contain ":", spaces or control characters: Postfix\'s password map holds "username:password" and splits at the first ":"',
            "mailstack:relayPassword: must be one line without control characters (CR, LF, tab)",
        ]);
        expect(found.join()).not.toContain("relay-password");
    });

    test("a relay username with a colon is refused: Postfix's password map splits username:password at the first colon", () => {
        expect(
            problems({ ...oneDomain(), relay: { ...RELAY, username: "user:name" }, hasRelayPassword: true }),
        ).toEqual([
            'mailstack:relay.username: must not contain ":", spaces or control characters: Postfix\'s password map holds "username:password" and splits at the first ":"',
        ]);
        // A colon in the password is fine: the split is at the first one.
        expect(problems({ ...oneDomain(), relay: RELAY, secretValues: { relayPassword: "pass:with:colons" } })).toEqual(
            [],
        );
    });

    test("a relay password that ends in a space is refused, because Postfix's map would drop the space", () => {
        expect(problems({ ...oneDomain(), relay: RELAY, secretValues: { relayPassword: "password " } })).toEqual([
            "mailstack:relayPassword: must not end with a space: Postfix's password map drops trailing blanks",
        ]);
    });

    test("a secret given by value counts as set", () => {
        expect(problems({ ...oneDomain(), relay: RELAY, secretValues: { relayPassword: "relay-password" } })).toEqual(
            [],
        );
        expect(problems({ ...oneDomain(), secretValues: { relayPassword: "relay-password" } })).toEqual([
            "mailstack:relayPassword: is set but mailstack:relay is not",
        ]);
    });
});

describe("a relay given by IP address is trusted only with its certificate pinned", () => {
    test("a relay by IP without a fingerprint is refused, with the command that gets one", () => {
        expect(problems({ ...oneDomain(), relay: { ...RELAY, host: "192.0.2.25" }, hasRelayPassword: true })).toEqual([
            "mailstack:relay.tlsFingerprint: is required for a relay given by IP address (192.0.2.25), whose certificate no name can verify: the SHA-256 fingerprint of its certificate (openssl s_client -connect 192.0.2.25:<port> -starttls smtp | openssl x509 -noout -fingerprint -sha256), or give the relay by its host name",
        ]);
    });

    test("a relay by IP with its fingerprint is accepted, the fingerprint in Postfix's form", () => {
        const spec = buildSpec({
            ...oneDomain(),
            relay: { ...RELAY, host: "192.0.2.25", tlsFingerprint: FINGERPRINT.replace(/:/g, "").toLowerCase() },
            hasRelayPassword: true,
        });
        expect(spec.relay?.tlsFingerprint).toBe(FINGERPRINT);
    });

    test("a relay by name needs no fingerprint; a fingerprint that is not SHA-256 hex is refused", () => {
        expect(buildSpec({ ...oneDomain(), relay: RELAY, hasRelayPassword: true }).relay?.tlsFingerprint).toBe(
            undefined,
        );
        expect(
            problems({
                ...oneDomain(),
                relay: { ...RELAY, host: "192.0.2.25", tlsFingerprint: "A0:9D:D3" },
                hasRelayPassword: true,
            }),
        ).toEqual([
            "mailstack:relay.tlsFingerprint: must be the relay certificate's SHA-256 fingerprint: 32 hex bytes separated by colons, as openssl x509 -noout -fingerprint -sha256 prints it",
        ]);
    });
});

describe("DNS values that would publish something else than meant", () => {
    test.each(["ip4:0.0.0.0/0", "ip6:::/0", "+ip4:0.0.0.0/1", "ip6:2000::/3", "a/0", "mx:example.net//0"])(
        "SPF that lets the whole internet send as my domain is refused: %s",
        (mechanism) => {
            expect(problems(withDomain({ spf: { extra: ["include:_spf.example.net", mechanism] } }))).toEqual([
                `mailstack:domains[0].spf.extra[1]: "${mechanism}" lets (most of) the whole internet send as this domain: list your senders' own networks`,
            ]);
        },
    );

    test.each(["+all", "?all", "all"])("an SPF %s in spf.extra is refused: mailstack ends the record itself", (all) => {
        expect(problems(withDomain({ spf: { extra: [all] } }))).toEqual([
            `mailstack:domains[0].spf.extra[0]: "${all}" is not allowed: mailstack ends the record with -all itself (+all or ?all would let the whole internet send as this domain)`,
        ]);
    });

    test("my senders' own networks are accepted in SPF, IPv6 in canonical form", () => {
        const spec = buildSpec(
            withDomain({
                spf: {
                    extra: ["ip4:17.0.0.0/8", "ip6:2001:DB8:0:0::/32", "a/24", "mx//64", "include:_spf.example.net"],
                },
            }),
        );
        expect(spec.domains[0].spfExtra).toEqual([
            "ip4:17.0.0.0/8",
            "ip6:2001:db8::/32",
            "a/24",
            "mx//64",
            "include:_spf.example.net",
        ]);
    });

    test("a backslash in spf.extra is refused with its key path", () => {
        expect(problems(withDomain({ spf: { extra: ["include:_spf\\.example.net"] } }))).toEqual([
            "mailstack:domains[0].spf.extra[0]: must be one SPF mechanism such as include:_spf.example.net or ip4:192.0.2.1 (no backslash)",
        ]);
    });

    test("an SPF ip4 that is not an address is refused with its key path", () => {
        expect(problems(withDomain({ spf: { extra: ["ip4:mail.example.net"] } }))).toEqual([
            "mailstack:domains[0].spf.extra[0]: must be one SPF mechanism such as include:_spf.example.net or ip4:192.0.2.1: ip4: needs an IPv4 address, optionally /prefix",
        ]);
    });

    test("a DMARC report address with ! is refused: DMARC reads it as a size limit", () => {
        expect(problems(withDomain({ dmarc: { policy: "reject", rua: "reports!10m@example.net" } }))).toEqual([
            'mailstack:domains[0].dmarc.rua: "reports!10m@example.net" contains "!", which DMARC reads as a report size limit: use an address without it',
        ]);
    });

    test("a domain so long that _submissions._tcp.<domain> would exceed 253 characters is refused with its key path", () => {
        const label = "a".repeat(60);
        const name = `${label}.${label}.${label}.${"b".repeat(58)}.de`;
        expect(name).toHaveLength(244);
        const raw = withDomain({ name, aliases: { postmaster: [`evaluation@${name}`] } });
        expect(problems({ ...raw, hostname: `mail.${name}` })).toEqual([
            "mailstack:domains[0].name: is too long: mailstack publishes _submissions._tcp.<domain> (262 characters), and DNS names end at 253; the domain may have at most 235",
        ]);
        // A long DKIM selector makes the longest name its own.
        const shorter = `${label}.${label}.${label}.example.de`;
        const found = problems({
            ...withDomain({ name: shorter, aliases: { postmaster: [`evaluation@${shorter}`] }, dkimSelector: label }),
            hostname: `mail.${shorter}`,
        });
        expect(found).toEqual([
            `mailstack:domains[0].name: is too long: mailstack publishes ${label}._domainkey.<domain> (265 characters), and DNS names end at 253; the domain may have at most 181`,
        ]);
    });
});

describe("names are case-insensitive everywhere, and ambiguity is refused", () => {
    test("two spellings of one address in passwords are refused as ambiguous", () => {
        const found = problems({
            ...oneDomain(),
            passwords: { "evaluation@nathabee.de": "first-password-1", "Evaluation@Nathabee.de": "second-password-2" },
        });
        expect(found).toEqual([
            "mailstack:passwords.Evaluation@Nathabee.de: is the same address as mailstack:passwords.evaluation@nathabee.de (addresses are case-insensitive): keep one",
        ]);
        expect(found.join()).not.toMatch(/first-password|second-password/);
    });

    test("a mailbox written Anna takes its quota whether mailboxQuotas says Anna or anna", () => {
        for (const key of ["Anna", "anna", "ANNA"]) {
            const spec = buildSpec(withDomain({ mailboxes: ["evaluation", "Anna"], mailboxQuotas: { [key]: "5G" } }));
            expect(spec.domains[0].mailboxQuotas["anna@nathabee.de"]).toBe("5G");
        }
    });

    test("a quota written twice for one mailbox in two spellings is refused as ambiguous", () => {
        expect(
            problems(withDomain({ mailboxes: ["evaluation", "anna"], mailboxQuotas: { anna: "5G", Anna: "6G" } })),
        ).toEqual([
            "mailstack:domains[0].mailboxQuotas.Anna: names the same mailbox as mailboxQuotas.anna (names are case-insensitive): keep one",
        ]);
    });

    test("an alias in two spellings is refused as defined twice", () => {
        expect(
            problems(
                withDomain({
                    aliases: {
                        postmaster: ["evaluation@nathabee.de"],
                        admin: ["a@example.net"],
                        Admin: ["b@example.net"],
                    },
                }),
            ),
        ).toEqual([
            "mailstack:domains[0].aliases.Admin: admin@nathabee.de is already defined at mailstack:domains[0].aliases.admin",
        ]);
    });

    test("an alias named __proto__ is refused, not silently dropped", () => {
        // As the stack config arrives: JSON, where __proto__ is an ordinary key.
        const aliases = JSON.parse('{"postmaster": ["evaluation@nathabee.de"], "__proto__": ["someone@example.net"]}');
        expect(problems(withDomain({ aliases }))).toEqual([
            'mailstack:domains[0].aliases.__proto__: "__proto__" is not a valid alias name (a-z, 0-9, ".", "_", "-")',
        ]);
    });

    test("a mailbox named like an object property gets its domain's quota, not Object's", () => {
        const spec = buildSpec(withDomain({ mailboxes: ["evaluation", "constructor", "tostring"] }));
        expect(spec.domains[0].mailboxQuotas).toEqual({
            "evaluation@nathabee.de": "2G",
            "constructor@nathabee.de": "2G",
            "tostring@nathabee.de": "2G",
        });
        // A selector named like one is not taken for a retired selector.
        expect(
            problems(withDomain({ dkimSelector: "constructor", dkimRetiredSelectors: { old2024: "2999-01-01" } })),
        ).toEqual([]);
    });
});

describe("CIDRs reach the firewall as Hetzner stores them", () => {
    test("an IPv6 CIDR written 2001:DB8:0:0::/48 becomes 2001:db8::/48, so no up shows a firewall diff", () => {
        const spec = buildSpec({
            ...oneDomain(),
            sshAllowedCidrs: ["2001:DB8:0:0::/48", "2001:db8:0:1:0:0:0:0/64", "203.0.113.7/32", "2001:0:0:1::/64"],
        });
        expect(spec.sshAllowedCidrs).toEqual([
            "2001:db8::/48",
            "2001:db8:0:1::/64",
            "203.0.113.7/32",
            "2001:0:0:1::/64",
        ]);
    });

    test("RFC 5952: the longest run of zero groups is compressed, the first of equal runs, never a single one", () => {
        const spec = buildSpec({
            ...oneDomain(),
            sshAllowedCidrs: ["2001:0:0:1:0:0:0:0/128", "2001:db8:0:1:1:0:0:1/128", "2001:db8:0:1:1:1:1:1/128"],
        });
        expect(spec.sshAllowedCidrs).toEqual(["2001:0:0:1::/128", "2001:db8:0:1:1::1/128", "2001:db8:0:1:1:1:1:1/128"]);
    });

    test("two spellings of one network in sshAllowedCidrs are refused", () => {
        expect(problems({ ...oneDomain(), sshAllowedCidrs: ["2001:db8::/48", "2001:DB8:0::/48"] })).toEqual([
            'mailstack:sshAllowedCidrs[1]: "2001:DB8:0::/48" is the same network as mailstack:sshAllowedCidrs[0]',
        ]);
    });
});

describe("an import from Microsoft 365 (auth: oauth2)", () => {
    const m365 = (oauth2: object) => ({
        ...oneDomain(),
        imports: [
            {
                mailbox: "evaluation@nathabee.de",
                host: "outlook.office365.com",
                user: "a@contoso.com",
                auth: "oauth2",
                oauth2,
            },
        ],
    });

    test("the app's client secret pasted where its client id belongs is refused with its key path, never echoed", () => {
        const secret = "Qx8Q~k3vZr.Lm9-Tn2Wq_bYc4Hs1Df6Gj0Ak5Pl7";
        const found = problems(m365({ clientId: secret }));
        expect(found).toEqual([
            "mailstack:imports[0].oauth2.clientId: must be an application (client) ID: letters, digits and ._:@- only",
        ]);
        expect(found.join()).not.toContain("Qx8Q");
    });

    test("the tenant's display name instead of its id or domain is refused with its key path", () => {
        expect(problems(m365({ clientId: "0f1e2d3c-4b5a-6978-8a9b-acbdcedf0011", tenant: "Contoso Ltd" }))).toEqual([
            "mailstack:imports[0].oauth2.tenant: must be common, organizations, consumers, a tenant id (GUID) or the tenant's domain",
        ]);
    });
});

describe("allowed but unwise: warnings", () => {
    test("SSH open to the whole internet is allowed, with a warning that says why it is a bad idea", () => {
        const spec = buildSpec({ ...oneDomain(), sshAllowedCidrs: ["203.0.113.7/32", "0.0.0.0/0", "::/0"] });
        const warnings = configWarnings(spec);
        expect(warnings).toHaveLength(2);
        expect(warnings[0]).toMatch(
            /^mailstack:sshAllowedCidrs\[1\]: 0\.0\.0\.0\/0 lets \(most of\) the whole internet reach SSH/,
        );
        expect(warnings[1]).toMatch(/^mailstack:sshAllowedCidrs\[2\]: ::\/0 /);
        expect(warnings[0]).toMatch(/deploy key is then the only lock/);
        expect(configWarnings(buildSpec(oneDomain()))).toEqual([]);
    });
});
