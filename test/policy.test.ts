// The policy pack's policies (policy/policies.ts), each against hand-built resource inputs
// that keep it and inputs that break it. test/policy-stack.test.ts runs them over the real
// program; test/policy-pack.test.ts loads the pack the way the Pulumi CLI does.

import { generateKeyPairSync, randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";

import bcrypt from "bcryptjs";
import { UnknownValueError } from "@pulumi/policy";
import { unknownValue } from "@pulumi/pulumi/runtime/rpc";
import { stringify } from "yaml";

import { renderUserData } from "../render";
import { packArchive } from "../render/boot/archive";
import {
    mailDnsRecordsUnproxied,
    mailHostAddressUnproxied,
    mailVolumeProtected,
    MAILSTACK_IMAGE,
    portRange,
    primaryIpsProtected,
    ptrNamesTheMailHost,
    serverImageChangeIsAReplacement,
    sshNotOpenToTheWorld,
    userDataHoldsNoSecrets,
    userDataNoSecrets,
} from "../policy/policies";
import { scanUserData, USER_DATA_ALLOWED_SECRETS, type AllowedSecret } from "../policy/user-data";
import { buildSpec, SUPPORTED_IMAGE } from "../model";
import { oneDomain } from "./helpers/fixtures";
import { TEST_PROVISIONAL_HOST_KEY } from "./helpers/host-key";
import { checkResource, checkStack, stackResources, urnOf, type StackResourceSpec } from "./helpers/policy";

const T = {
    dns: "cloudflare:index/dnsRecord:DnsRecord",
    server: "hcloud:index/server:Server",
    firewall: "hcloud:index/firewall:Firewall",
    primaryIp: "hcloud:index/primaryIp:PrimaryIp",
    rdns: "hcloud:index/rdns:Rdns",
    volume: "hcloud:index/volume:Volume",
};

const messages = (o: { violations: { message: string }[] }) => o.violations.map((v) => v.message);
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

describe("mail-dns-records-unproxied", () => {
    const record = (type: string, props: Record<string, unknown>) =>
        checkResource(mailDnsRecordsUnproxied, {
            type: T.dns,
            name: `dns-${type.toLowerCase()}`,
            props: { zoneId: "z", name: "example.org", type, ttl: 3600, ...props },
        });

    test.each(["MX", "TXT", "SRV"])("a %s record with proxied: false passes", async (type) => {
        expect(await record(type, { proxied: false })).toEqual({ violations: [] });
    });

    test.each([
        ["MX", true],
        ["TXT", true],
        ["SRV", true],
        ["MX", undefined],
    ])("a %s record with proxied: %s is a violation naming the record", async (type, proxied) => {
        const out = await record(type, proxied === undefined ? {} : { proxied });
        expect(messages(out)).toEqual([
            `cloudflare DnsRecord "dns-${type.toLowerCase()}" (${type} example.org) has proxied=${String(proxied)}: ` +
                "mail records must set proxied to false explicitly (Cloudflare's proxy carries HTTP only).",
        ]);
    });

    test("A/AAAA are left to mail-host-address-unproxied, other resources are not its concern", async () => {
        expect(await record("A", { proxied: true })).toEqual({ violations: [] });
        const other = await checkResource(mailDnsRecordsUnproxied, { type: T.volume, name: "v", props: {} });
        expect(other.notApplicable).toContain("cloudflare:index/dnsRecord:DnsRecord");
    });
});

describe("mail-host-address-unproxied", () => {
    const stack = (records: Record<string, unknown>[]) =>
        checkStack(
            mailHostAddressUnproxied,
            stackResources([
                { type: T.server, name: "server", props: { name: "mail.example.org" } },
                ...records.map((props, i) => ({ type: T.dns, name: `rec${i}`, props })),
            ]),
        );

    test("the mail host's A and AAAA unproxied pass; other names may be proxied", async () => {
        const out = await stack([
            { name: "mail.example.org", type: "A", proxied: false },
            { name: "mail.example.org", type: "AAAA", proxied: false },
            { name: "www.example.org", type: "A", proxied: true },
        ]);
        expect(out).toEqual({ violations: [] });
    });

    test("a proxied (or unset) A/AAAA of the mail host name is a violation on that record", async () => {
        const out = await stack([
            { name: "mail.example.org", type: "A", proxied: true },
            { name: "MAIL.example.org.", type: "AAAA" },
        ]);
        expect(out.violations).toEqual([
            {
                message: expect.stringMatching(
                    /^cloudflare DnsRecord "rec0" \(A mail\.example\.org\) has proxied=true: /,
                ),
                urn: urnOf(T.dns, "rec0"),
            },
            {
                message: expect.stringMatching(
                    /^cloudflare DnsRecord "rec1" \(AAAA MAIL\.example\.org\.\) has proxied=undefined: .*proxied must be false/,
                ),
                urn: urnOf(T.dns, "rec1"),
            },
        ]);
    });
});

describe.each([
    ["mail-volume-protected", mailVolumeProtected, T.volume, "hcloud Volume"],
    ["primary-ips-protected", primaryIpsProtected, T.primaryIp, "hcloud PrimaryIp"],
] as const)("%s", (_name, policy, type, label) => {
    const check = (protect: boolean, deleteProtection: unknown) =>
        checkResource(policy, {
            type,
            name: "it",
            props: deleteProtection === undefined ? {} : { deleteProtection },
            protect,
        });

    test("protect: true and deleteProtection: true pass", async () => {
        expect(await check(true, true)).toEqual({ violations: [] });
    });

    test("without protect in Pulumi: a violation naming the resource", async () => {
        expect(messages(await check(false, true))).toEqual([
            `${label} "it" is not protected in Pulumi: declare it with { protect: true }, so that no plan can delete or replace it.`,
        ]);
    });

    test.each([false, undefined])("with deleteProtection %s at Hetzner: a violation", async (deleteProtection) => {
        expect(messages(await check(true, deleteProtection))).toEqual([
            `${label} "it" has deleteProtection=${String(deleteProtection)}: it must be true, so that Hetzner refuses to delete it.`,
        ]);
    });

    test("both missing: two violations; other types are not its concern", async () => {
        expect(messages(await check(false, false))).toHaveLength(2);
        expect((await checkResource(policy, { type: T.server, name: "s", props: {} })).notApplicable).toBeDefined();
    });
});

describe("ssh-not-open-to-the-world", () => {
    const firewall = (rules: Record<string, unknown>[]) =>
        checkResource(sshNotOpenToTheWorld, { type: T.firewall, name: "fw", props: { name: "fw", rules } });
    const world = ["0.0.0.0/0", "::/0"];

    test("SSH from the deployers only, mail ports from anywhere, outbound 22 and ICMP: passes", async () => {
        const out = await firewall([
            { direction: "in", protocol: "tcp", port: "22", sourceIps: ["203.0.113.7/32", "2001:db8::/48"] },
            { direction: "in", protocol: "tcp", port: "25", sourceIps: world },
            { direction: "in", protocol: "tcp", port: "23-1024", sourceIps: world },
            { direction: "in", protocol: "tcp", port: "1-21", sourceIps: world },
            { direction: "in", protocol: "icmp", sourceIps: world },
            { direction: "out", protocol: "tcp", port: "22", destinationIps: world },
        ]);
        expect(out).toEqual({ violations: [] });
    });

    test.each([
        ["tcp", "22", ["0.0.0.0/0"], "0.0.0.0/0"],
        ["tcp", "22", ["203.0.113.7/32", "::/0"], "::/0"],
        ["tcp", "20-30", ["::/0"], "::/0"],
        ["tcp", "any", ["0.0.0.0/0"], "0.0.0.0/0"],
        ["tcp", undefined, ["0::/0"], "0::/0"],
        ["udp", "22", ["10.0.0.0/0"], "10.0.0.0/0"],
    ])("%s port %s from %j is a violation naming the rule", async (protocol, port, sourceIps, shown) => {
        const out = await firewall([
            { direction: "in", protocol: "tcp", port: "25", sourceIps: world, description: "SMTP" },
            { direction: "in", protocol, ...(port ? { port } : {}), sourceIps, description: "ssh" },
        ]);
        expect(messages(out)).toEqual([
            `hcloud Firewall "fw": rules[1] (inbound ${protocol} port ${port ?? "any"}, "ssh") opens port 22 to ${shown}; ` +
                "SSH must be limited to the deployers' addresses (mailstack:sshAllowedCidrs).",
        ]);
    });

    test("a port the policy cannot read is a violation, not a pass", async () => {
        const out = await firewall([{ direction: "in", protocol: "tcp", port: "ssh", sourceIps: ["203.0.113.7/32"] }]);
        expect(messages(out)).toEqual([
            `hcloud Firewall "fw": rules[0] (inbound tcp port ssh) has a port this policy cannot read; use "22", "20-30" or "any".`,
        ]);
    });

    test("portRange reads Hetzner's port syntax", () => {
        expect(portRange("22")).toEqual({ from: 22, to: 22 });
        expect(portRange("20-30")).toEqual({ from: 20, to: 30 });
        expect(portRange("any")).toEqual({ from: 1, to: 65535 });
        expect(portRange(undefined)).toEqual({ from: 1, to: 65535 });
        expect(portRange("30-20")).toBeUndefined();
        expect(portRange("22,23")).toBeUndefined();
    });
});

describe("user-data-holds-no-secrets", () => {
    // Detection is tested without exceptions; the shipped ones have tests of their own below.
    const strict = userDataHoldsNoSecrets([]);
    const server = (userData: unknown, policy = strict) =>
        checkResource(policy, { type: T.server, name: "mail-server", props: { name: "mail.example.org", userData } });
    const cloudConfig = (config: object) => `#cloud-config\n${stringify(config)}`;
    const gzb64 = (text: string) => gzipSync(Buffer.from(text)).toString("base64");
    const file = (path: string, content: string, encoding?: string) =>
        encoding === "archive"
            ? // The first-boot files' form (render/boot/archive.ts): a .tar.gz in a b64 entry.
              {
                  path: `${path}.tar.gz`,
                  permissions: "0600",
                  encoding: "b64",
                  content: packArchive([{ path, mode: "0644", owner: "root", group: "root", content }]).toString(
                      "base64",
                  ),
              }
            : {
                  path,
                  permissions: "0600",
                  ...(encoding ? { encoding } : {}),
                  content:
                      encoding === "b64"
                          ? Buffer.from(content).toString("base64")
                          : encoding
                            ? gzb64(content)
                            : content,
              };

    // Real secrets of every kind the policy looks for, made fresh.
    const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey;
    const ec = generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey;
    const openssh = [
        "-----BEGIN OPENSSH PRIVATE KEY-----",
        Buffer.concat([Buffer.from("openssh-key-v1\0"), randomBytes(180)]).toString("base64"),
        "-----END OPENSSH PRIVATE KEY-----",
    ].join("\n");
    const BCRYPT = "a bcrypt hash ($2a$/$2b$/$2y$)";
    const CRYPT = "a crypt(3) hash ($1$/$5$/$6$)";
    const SHA512_CRYPT =
        "$6$saltsalt$8iYtNHxjWRl.NF6oNZ5tF.iKFlQREaXBLlSmZKP6dy9l5z3vsooWNW0/GZ6Nej73/TFug6pIPSqbJoCT6dfnj.";
    /** Each secret with what the policy must call it. */
    const SECRETS: [string[], string][] = [
        [["a PEM private key"], rsa.export({ type: "pkcs1", format: "pem" }).toString()],
        [["a PEM private key"], rsa.export({ type: "pkcs8", format: "pem" }).toString()],
        [["a PEM private key"], ec.export({ type: "sec1", format: "pem" }).toString()],
        [["an OpenSSH private key"], openssh],
        [["an OpenSSH private key"], openssh.split("\n")[1]],
        [[BCRYPT], `alice@example.org:${bcrypt.hashSync("hunter2", 4)}`],
        [[BCRYPT], bcrypt.hashSync("hunter2", 4).replace(/^\$2b\$/, "$2a$")],
        [
            [BCRYPT, "a Dovecot password with its scheme ({BLF-CRYPT}, {PLAIN}, ...)"],
            `alice@example.org:{BLF-CRYPT}${bcrypt.hashSync("hunter2", 4)}`,
        ],
        [["a Dovecot password with its scheme ({BLF-CRYPT}, {PLAIN}, ...)"], "bob@example.org:{PLAIN}hunter2"],
        [[CRYPT], `root:${SHA512_CRYPT}:20000::::::`],
        [[CRYPT], "$1$abc$9dV135Rc3U8Xbm2DxadgF0"],
        [['a value for "password"'], "[relay]\npassword = correct-horse-battery-staple\n"],
        [['a value for "smtp_password"'], 'smtp_password: "s3cret"'],
        [['a value for "relayPassword"'], "relayPassword=s3cret"],
    ];

    const realUserData = () =>
        renderUserData(buildSpec({ ...oneDomain(), passwords: {}, hasRelayPassword: false }), {
            mailVolumeDevice: "/dev/disk/by-id/scsi-0HC_Volume_1",
            provisionalHostKey: TEST_PROVISIONAL_HOST_KEY,
        });

    test("the user-data the program renders today passes, by the one reviewed exception only", async () => {
        expect(await server(realUserData(), userDataNoSecrets)).toEqual({ violations: [] });
        // Without the exceptions, the provisional host key is all the policy finds.
        expect(messages(await server(realUserData()))).toEqual([
            expect.stringContaining('a value for the key "ed25519_private" (private-key) at ssh_keys.ed25519_private.'),
            expect.stringContaining("an OpenSSH private key (private-key) at ssh_keys.ed25519_private."),
        ]);
    });

    test("config that only names passwords, keys and hashes is no secret", async () => {
        const text = [
            "smtp_sasl_password_maps = hash:/etc/postfix/sasl_passwd",
            "default_password_scheme = BLF-CRYPT",
            "PasswordAuthentication no",
            "smtpd_tls_chain_files = /etc/mailstack/tls/privkey.pem, /etc/mailstack/tls/fullchain.pem",
            'password="$1"',
            "password=${RELAY_PASSWORD}",
            "password =",
        ].join("\n");
        const userData = cloudConfig({
            ssh_pwauth: false,
            users: [{ name: "vmail", lock_passwd: true }],
            ssh_keys: { ed25519_public: "ssh-ed25519 AAAA" },
            write_files: [file("/etc/a", text), file("/etc/b", text, "gz+b64"), file("/etc/c", text, "b64")],
        });
        expect(await server(userData)).toEqual({ violations: [] });
    });

    test.each([
        ["plain", undefined],
        ["gz+b64", "gz+b64"],
        ["gzip+base64", "gzip+base64"],
        ["b64", "b64"],
        ["tar.gz archive", "archive"],
    ])("a secret in a %s write_files entry is found after decoding", async (_label, encoding) => {
        for (const [whats, secret] of SECRETS) {
            const userData = cloudConfig({
                write_files: [
                    file("/etc/ok", "nothing here\n", encoding),
                    file("/etc/leak", `x\n${secret}\n`, encoding),
                ],
            });
            const out = messages(await server(userData));
            expect([secret, out]).toEqual([
                secret,
                whats.map((what) =>
                    expect.stringMatching(
                        new RegExp(
                            `^hcloud Server "mail-server": the user-data holds ${escape(what)} \\([a-z-]+\\) at write_files:/etc/leak\\. `,
                        ),
                    ),
                ),
            ]);
            // The message names the secret's kind and place, never the secret.
            for (const m of out) expect(m).not.toContain(secret.split("\n").find((l) => l.length > 12) ?? secret);
        }
    });

    test("secrets in the cloud-config itself: host keys, user passwords, chpasswd", async () => {
        const userData = cloudConfig({
            ssh_keys: { ed25519_private: openssh, ed25519_public: "ssh-ed25519 AAAA" },
            users: [{ name: "admin", passwd: SHA512_CRYPT }],
            chpasswd: { users: [{ name: "root", password: "hunter2", type: "text" }] },
            runcmd: [["sh", "-c", "echo 'password: hunter2' > /root/x"]],
        });
        const out = messages(await server(userData));
        const at = (location: string) => out.filter((m) => m.includes(` at ${location}.`));
        expect(at("ssh_keys.ed25519_private")).toEqual([
            expect.stringContaining('a value for the key "ed25519_private" (private-key)'),
            expect.stringContaining("an OpenSSH private key (private-key)"),
        ]);
        expect(at("users[0].passwd")).toEqual([
            expect.stringContaining('a value for the key "passwd" (password)'),
            expect.stringContaining("a crypt(3) hash ($1$/$5$/$6$) (password-hash)"),
        ]);
        expect(at("chpasswd.users[0].password")).toHaveLength(1);
        expect(at("runcmd[0][2]")).toEqual([expect.stringContaining('a value for "password" (password)')]);
        expect(out).toHaveLength(6);
    });

    test("user-data it cannot read is a violation, not a pass", async () => {
        const cases: [string, string][] = [
            ["#!/bin/sh\necho hi\n", 'does not start with "#cloud-config" (it starts with "#!/bin/sh")'],
            ["#cloud-config\nwrite_files: [\n", "is not one valid YAML document"],
            ["#cloud-config\na: 1\n---\nb: 2\n", "is not one valid YAML document"],
            [
                cloudConfig({ write_files: [{ path: "/x", encoding: "zstd", content: "AA==" }] }),
                'write_files /x has encoding "zstd", which cloud-init does not know',
            ],
            [
                cloudConfig({ write_files: [{ path: "/x", encoding: "gz+b64", content: "bm90Z3o=" }] }),
                "write_files /x is not valid gz+b64 content",
            ],
            [
                // gzip data that is no archive: its contents cannot be scanned, so it is refused.
                cloudConfig({ write_files: [{ path: "/x", encoding: "b64", content: gzb64("not a tar") }] }),
                "write_files /x is gzip data but not an archive mailstack can read",
            ],
            [cloudConfig({ write_files: { path: "/x" } }), "has a write_files that is not a list"],
        ];
        for (const [userData, problem] of cases) {
            const out = messages(await server(userData));
            expect([problem, out]).toEqual([problem, [expect.stringContaining(`the user-data ${problem}`)]]);
        }
    });

    test("no user-data at all passes; a user-data unknown in a preview reaches the SDK as UnknownValueError", async () => {
        expect(await server(undefined)).toEqual({ violations: [] });
        // The SDK turns this into "can't run policy ... during preview" (advisory); `pulumi up`
        // then checks the real value before the server is created.
        await expect(server(unknownValue)).rejects.toBeInstanceOf(UnknownValueError);
    });

    test("an allowed exception covers exactly its location and kinds, nothing else", async () => {
        const allowed: AllowedSecret[] = [
            { location: "ssh_keys.ed25519_private", kinds: ["private-key"], why: "provisional host key" },
        ];
        const policy = userDataHoldsNoSecrets(allowed);
        const withKey = { ssh_keys: { ed25519_private: openssh, ed25519_public: "ssh-ed25519 AAAA" } };
        expect(await server(cloudConfig(withKey), policy)).toEqual({ violations: [] });
        // Without the exception the same key is a violation.
        expect(messages(await server(cloudConfig(withKey)))).toHaveLength(2);
        // The same key elsewhere, or another kind of secret at the allowed place, is not covered.
        const elsewhere = cloudConfig({ ...withKey, write_files: [file("/etc/ssh/ssh_host_ed25519_key", openssh)] });
        expect(messages(await server(elsewhere, policy))).toEqual([
            expect.stringContaining("at write_files:/etc/ssh/ssh_host_ed25519_key."),
        ]);
        const hashThere = cloudConfig({ ssh_keys: { ed25519_private: bcrypt.hashSync("x", 4) } });
        expect(messages(await server(hashThere, policy))).toEqual([
            expect.stringContaining("a bcrypt hash ($2a$/$2b$/$2y$) (password-hash) at ssh_keys.ed25519_private."),
        ]);
    });

    test("the one exception allowed today is the provisional SSH host key, as a private key in ssh_keys", async () => {
        // An exception is a reviewed decision: add it to USER_DATA_ALLOWED_SECRETS and here.
        expect(USER_DATA_ALLOWED_SECRETS.map((a) => [a.location, a.kinds])).toEqual([
            ["ssh_keys.ed25519_private", ["private-key"]],
        ]);
        for (const a of USER_DATA_ALLOWED_SECRETS) expect(a.why.length).toBeGreaterThan(40);
        // The shipped policy still refuses that key anywhere else, and anything else there.
        const key = TEST_PROVISIONAL_HOST_KEY.privateKeyOpenssh;
        const elsewhere = cloudConfig({ write_files: [file("/etc/ssh/ssh_host_ed25519_key", key, "gz+b64")] });
        expect(messages(await server(elsewhere, userDataNoSecrets))).toEqual([
            expect.stringContaining(
                "an OpenSSH private key (private-key) at write_files:/etc/ssh/ssh_host_ed25519_key.",
            ),
        ]);
        const hash = cloudConfig({ ssh_keys: { ed25519_private: `${key}{BLF-CRYPT}${bcrypt.hashSync("x", 4)}` } });
        expect(messages(await server(hash, userDataNoSecrets))).toHaveLength(2);
        expect(scanUserData("#cloud-config\n").findings).toEqual([]);
    });
});

describe("ptr-names-the-mail-host", () => {
    const base = (): StackResourceSpec[] => [
        {
            type: T.server,
            name: "server",
            props: { name: "mail.example.org" },
            propertyDependencies: { publicNets: ["ipv4", "ipv6"] },
        },
        { type: T.primaryIp, name: "ipv4", props: { type: "ipv4" } },
        { type: T.primaryIp, name: "ipv6", props: { type: "ipv6" } },
        {
            type: T.rdns,
            name: "ptr-ipv4",
            props: { primaryIpId: 1, ipAddress: "192.0.2.25", dnsPtr: "mail.example.org" },
            propertyDependencies: { primaryIpId: ["ipv4"] },
        },
        {
            type: T.rdns,
            name: "ptr-ipv6",
            props: { primaryIpId: 2, ipAddress: "2001:db8::1", dnsPtr: "mail.example.org" },
            propertyDependencies: { primaryIpId: ["ipv6"] },
        },
    ];
    const run = (specs: StackResourceSpec[]) => checkStack(ptrNamesTheMailHost, stackResources(specs));
    const edit = (name: string, change: (s: StackResourceSpec) => StackResourceSpec | undefined) =>
        base().flatMap((s) => (s.name === name ? [change(s)].filter((x) => x !== undefined) : [s]));

    test("one Rdns per primary IP, each naming the server's name, passes (known or unknown ids)", async () => {
        expect(await run(base())).toEqual({ violations: [] });
        // In a first preview the ids are unknown; the dependency still says which IP it is.
        const unknownIds = base().map((s) =>
            s.type === T.rdns ? { ...s, props: { ...s.props, primaryIpId: unknownValue } } : s,
        );
        expect(await run(unknownIds)).toEqual({ violations: [] });
        expect(await run([{ type: T.volume, name: "v", props: {} }])).toMatchObject({
            notApplicable: expect.any(String),
        });
    });

    test("a PTR naming another host is a violation on that Rdns", async () => {
        const out = await run(edit("ptr-ipv6", (s) => ({ ...s, props: { ...s.props, dnsPtr: "static.example.net" } })));
        expect(out.violations).toEqual([
            {
                message:
                    'hcloud Rdns "ptr-ipv6" has dnsPtr "static.example.net"; it must be the mail host name "mail.example.org" ' +
                    '(the name of hcloud Server "server"), or receivers\' FCrDNS check fails.',
                urn: urnOf(T.rdns, "ptr-ipv6"),
            },
        ]);
    });

    test("a trailing dot or capitals are the same DNS name", async () => {
        const out = await run(edit("ptr-ipv6", (s) => ({ ...s, props: { ...s.props, dnsPtr: "Mail.Example.org." } })));
        expect(out).toEqual({ violations: [] });
    });

    test("a primary IP without an Rdns, or with two, is a violation on the IP", async () => {
        const missing = await run(edit("ptr-ipv6", () => undefined));
        expect(missing.violations).toEqual([
            {
                message:
                    'hcloud PrimaryIp "ipv6" has 0 hcloud Rdns records; it must have exactly one, naming the mail host.',
                urn: urnOf(T.primaryIp, "ipv6"),
            },
        ]);
        const twice = await run(edit("ptr-ipv6", (s) => ({ ...s, propertyDependencies: { primaryIpId: ["ipv4"] } })));
        expect(messages(twice)).toEqual([
            'hcloud PrimaryIp "ipv4" has 2 hcloud Rdns records ("ptr-ipv4", "ptr-ipv6"); it must have exactly one, naming the mail host.',
            'hcloud PrimaryIp "ipv6" has 0 hcloud Rdns records; it must have exactly one, naming the mail host.',
        ]);
    });

    test("an Rdns not set on one of the stack's primary IPs is a violation", async () => {
        const out = await run(edit("ptr-ipv4", (s) => ({ ...s, propertyDependencies: {} })));
        expect(messages(out)).toEqual([
            'hcloud Rdns "ptr-ipv4" is not set on exactly one primary IP of this stack (its primaryIpId comes from 0 hcloud PrimaryIp resources; it must be one).',
            'hcloud PrimaryIp "ipv4" has 0 hcloud Rdns records; it must have exactly one, naming the mail host.',
        ]);
    });

    test("no server is a violation: the PTR names the server that has the address", async () => {
        const none = await run(base().filter((s) => s.type !== T.server));
        expect(messages(none)).toEqual(["expected an hcloud Server, whose name is the mail host name; found none."]);
    });

    // The backup MX (mailstack:secondaryMx): a second server with its own primary IPs.
    const withBackupMx = (ptr = "mx2.example.org"): StackResourceSpec[] => [
        ...base(),
        {
            type: T.server,
            name: "mx2-server",
            props: { name: "mx2.example.org" },
            propertyDependencies: { publicNets: ["mx2-ipv4"] },
        },
        { type: T.primaryIp, name: "mx2-ipv4", props: { type: "ipv4" } },
        {
            type: T.rdns,
            name: "mx2-ptr-ipv4",
            props: { primaryIpId: 3, ipAddress: "192.0.2.26", dnsPtr: ptr },
            propertyDependencies: { primaryIpId: ["mx2-ipv4"] },
        },
    ];

    test("a second server (the backup MX): each PTR names the server that has its address", async () => {
        expect(await run(withBackupMx())).toEqual({ violations: [] });
        const out = await run(withBackupMx("mail.example.org"));
        expect(messages(out)).toEqual([
            'hcloud Rdns "mx2-ptr-ipv4" has dnsPtr "mail.example.org"; it must be the mail host name "mx2.example.org" ' +
                '(the name of hcloud Server "mx2-server"), or receivers\' FCrDNS check fails.',
        ]);
    });

    test("a primary IP that no server has, or two have, leaves its PTR without a host: a violation", async () => {
        const orphan = await run(
            withBackupMx().map((s) => (s.name === "mx2-server" ? { ...s, propertyDependencies: {} } : s)),
        );
        expect(messages(orphan)).toEqual([
            'hcloud Rdns "mx2-ptr-ipv4" is set on hcloud PrimaryIp "mx2-ipv4", which 0 hcloud Servers have in their publicNets; it must be exactly one, whose name the PTR is.',
        ]);
    });
});

describe("server-image-change-is-a-replacement", () => {
    const server = (image: string, ignoreChanges: string[] = ["userData", "sshKeys"]) =>
        checkResource(serverImageChangeIsAReplacement, {
            type: T.server,
            name: "mail-server",
            props: { name: "mail.example.org", image, serverType: "cx23", location: "nbg1" },
            protect: true,
            ignoreChanges,
        });

    test("the pack's Debian release is the program's (SUPPORTED_IMAGE): the two move together, on purpose", () => {
        expect(MAILSTACK_IMAGE).toBe(SUPPORTED_IMAGE);
    });

    test("a server on this mailstack's release, whose image change is not ignored, passes", async () => {
        expect(await server(MAILSTACK_IMAGE)).toEqual({ violations: [] });
    });

    test("another image is a warning that says a new release is a replacement, never an in-place upgrade", async () => {
        const out = await server("debian-14");
        expect(messages(out)).toEqual([
            `hcloud Server "mail-server" has image "debian-14", but this mailstack's files are made for ${MAILSTACK_IMAGE}. ` +
                "Another Debian release is a replacement onto its image with a mailstack made for it " +
                `(README, "Debian's next release"), never an apt full-upgrade in place.`,
        ]);
    });

    test("a server that ignores changes to its image is a warning: the new image would never reach it", async () => {
        const out = await server(MAILSTACK_IMAGE, ["userData", "image", "sshKeys"]);
        expect(messages(out)).toEqual([expect.stringContaining("ignores changes to its image")]);
        expect(messages(out)[0]).toContain("pulumi/pulumi#2657");
        expect(messages(out)[0]).toContain('replaceOnChanges: ["image"]');
    });

    test("it is advisory (a warning in the preview), and other resources are not its concern", async () => {
        expect(serverImageChangeIsAReplacement.enforcementLevel).toBe("advisory");
        const other = await checkResource(serverImageChangeIsAReplacement, { type: T.volume, name: "v", props: {} });
        expect(other.notApplicable).toContain("hcloud:index/server:Server");
    });
});
