// The backup MX (mailstack:secondaryMx): its config checks, its Postfix and first boot, its
// provisioning steps, its DNS and firewall, and the resources the program declares for it,
// recorded under mocks. Adding it must change no input of the primary server.
import { created, find, mocksReady, promiseOf, recordOptions, settle, resourcesOf } from "./helpers/mocks";

import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";

import { parseBundle, renderBundle, renderHostFiles, USER_DATA_LIMIT_BYTES } from "../render";
import { mailDnsRecords, spfValue } from "../render/dns/dns-records";
import { describeRecord } from "../render/dns/text";
import { mtaStsPolicy } from "../render/host/client-config";
import { renderFilterFiles, renderTrustedRelays } from "../render/host/filter";
import { secondaryFirewallRules } from "../render/boot/firewall";
import { PROVISIONING_PLAN, SECONDARY_PROVISIONING_PLAN, type StepRole } from "../render/plan/plan";
import {
    relayRecipients,
    renderRelayData,
    renderSecondaryHostFiles,
    renderSecondaryUserData,
} from "../render/features/backup-mx";
import { MailStack } from "../components/mailstack";
import { readZones } from "../components/zones";
import { buildSpec, type MailSpec, type RawConfig } from "../model";
import { configProblems, twoDomains } from "./helpers/fixtures";
import { TEST_PROVISIONAL_HOST_KEY } from "./helpers/host-key";

const SECONDARY = { hostname: "mx2.nathabee.de", location: "fsn1" };
/** The primary's addresses, from which the backup MX takes ETRN. */
const PRIMARY = ["192.0.2.25", "2001:db8:25::1"];
const withSecondary = (extra: Partial<RawConfig> = {}): RawConfig => ({
    ...twoDomains(),
    secondaryMx: SECONDARY,
    ...extra,
});
const spec = (extra: Partial<RawConfig> = {}): MailSpec => buildSpec(withSecondary(extra));
const fileOf = (files: { path: string; content: string }[], path: string) => {
    const f = files.find((x) => x.path === path);
    if (!f) throw new Error(`no ${path}`);
    return f.content;
};
/** main.cf's settings, as postconf would list them (continuation lines joined). */
function settings(mainCf: string): Record<string, string> {
    const out: Record<string, string> = {};
    const joined = mainCf.replace(/\n[ \t]+/g, " ");
    for (const line of joined.split("\n")) {
        const m = /^([a-z0-9_]+)\s*=\s*(.*)$/.exec(line);
        if (m) out[m[1]] = m[2].trim();
    }
    return out;
}

describe("mailstack:secondaryMx is checked before anything is declared", () => {
    test("a backup MX in the primary's location is refused, naming the key path: it would share the outage it is for", () => {
        const problems = configProblems(withSecondary({ secondaryMx: { ...SECONDARY, location: "nbg1" } }));
        expect(problems).toEqual([
            expect.stringMatching(/^mailstack:secondaryMx\.location: is the primary's location/),
        ]);
        // The primary's location is nbg1 by default; given explicitly it counts the same.
        expect(
            configProblems(
                withSecondary({ server: { location: "fsn1" }, secondaryMx: { ...SECONDARY, location: "fsn1" } }),
            ),
        ).toEqual([
            expect.stringMatching(
                /^mailstack:secondaryMx\.location: is the primary's location \(mailstack:server\.location fsn1\)/,
            ),
        ]);
    });

    test("its location and host name are required", () => {
        expect(configProblems(withSecondary({ secondaryMx: {} }))).toEqual([
            expect.stringMatching(/^mailstack:secondaryMx\.hostname: is required/),
            expect.stringMatching(/^mailstack:secondaryMx\.location: is required/),
        ]);
    });

    test("its host name is its own, inside a configured domain, and no name mailstack publishes already", () => {
        const at = (hostname: string) => configProblems(withSecondary({ secondaryMx: { ...SECONDARY, hostname } }));
        expect(at("mail.nathabee.de")).toEqual([
            expect.stringMatching(/^mailstack:secondaryMx\.hostname: .* is the primary's hostname/),
        ]);
        expect(at("mx2.example.net")).toEqual([
            expect.stringMatching(/^mailstack:secondaryMx\.hostname: .* must be a host inside a configured domain/),
        ]);
        expect(at("example.org")).toEqual([
            expect.stringMatching(/^mailstack:secondaryMx\.hostname: .* must be a host inside a configured domain/),
        ]);
        expect(at("mta-sts.example.org")).toEqual([
            expect.stringMatching(/^mailstack:secondaryMx\.hostname: .* is a name mailstack publishes already/),
        ]);
        expect(at("not a name")).toEqual([
            expect.stringMatching(/^mailstack:secondaryMx\.hostname: .* is not a valid host name/),
        ]);
    });

    test("a queue volume below Hetzner's smallest or an unknown key is refused with its key path", () => {
        expect(configProblems(withSecondary({ secondaryMx: { ...SECONDARY, queueVolumeSizeGb: 5 } }))).toEqual([
            expect.stringMatching(/^mailstack:secondaryMx\.queueVolumeSizeGb: must be at least 10/),
        ]);
        expect(configProblems(withSecondary({ secondaryMx: { ...SECONDARY, mailboxes: [] } }))).toEqual([
            expect.stringMatching(/^mailstack:secondaryMx: .*mailboxes/),
        ]);
    });

    test("a valid one is in the spec with its zone, type and volume defaults", () => {
        expect(spec().secondaryMx).toEqual({
            hostname: "mx2.nathabee.de",
            hostnameDomain: "nathabee.de",
            server: { type: "cx23", location: "fsn1", image: "debian-13" },
            queueVolumeSizeGb: 10,
        });
        expect(buildSpec(twoDomains()).secondaryMx).toBeUndefined();
    });
});

describe("the backup MX's Postfix", () => {
    const main = () => settings(fileOf(renderSecondaryHostFiles(spec()), "/etc/postfix/main.cf"));

    test("queues for every domain and refuses an unknown recipient at RCPT (relay_recipient_maps)", () => {
        const m = main();
        expect(m.relay_domains).toBe("texthash:/etc/postfix/mailstack/relay-domains");
        expect(m.relay_recipient_maps).toBe("texthash:/etc/postfix/mailstack/relay-recipients");
        expect(m.smtpd_recipient_restrictions).toContain("reject_unlisted_recipient");
        expect(m.smtpd_relay_restrictions).toBe("reject_unauth_destination");
        const data = renderRelayData(spec(), PRIMARY);
        expect(fileOf(data, "/etc/postfix/mailstack/relay-domains")).toMatch(/^nathabee\.de OK\nexample\.org OK\n$/m);
    });

    test("every valid address is listed: mailboxes, aliases and abuse@; a catch-all domain as @domain", () => {
        expect(relayRecipients(spec())).toEqual([
            "abuse@nathabee.de",
            "admin@nathabee.de",
            "evaluation@nathabee.de",
            "freebus@nathabee.de",
            "postmaster@nathabee.de",
            "abuse@example.org",
            "carol@example.org",
            "postmaster@example.org",
        ]);
        const domains = twoDomains().domains as Record<string, unknown>[];
        const catchAll = spec({ domains: [domains[0], { ...domains[1], catchAll: "carol" }] });
        expect(relayRecipients(catchAll)).toContain("@example.org");
        expect(relayRecipients(catchAll).filter((a) => a.endsWith("@example.org"))).toEqual(["@example.org"]);
    });

    test("it holds the mail for days and tells the sender and the postmaster after hours", () => {
        const m = main();
        expect(m.maximal_queue_lifetime).toBe("10d");
        expect(m.bounce_queue_lifetime).toBe("5d");
        expect(m.delay_warning_time).toBe("4h");
        expect(m.notify_classes).toContain("delay");
        expect(m.delay_notice_recipient).toBe("postmaster@nathabee.de");
    });

    test("it tries the primary again every 5 minutes, its queue scanned every minute, not on Postfix's schedule that grows to over an hour", () => {
        const m = main();
        expect(m.maximal_backoff_time).toBe("5m");
        expect(m.queue_run_delay).toBe("1m");
        // Postfix's minimal_backoff_time (5m) is left: no shorter than a scan, no longer than the longest wait.
        expect(m.minimal_backoff_time).toBeUndefined();
    });

    test("it hands mail only to the primary, by name, over TLS verified for the primary's name", () => {
        const m = main();
        expect(m.relay_transport).toBe("relay:[mail.nathabee.de]:25");
        expect(m.smtp_tls_policy_maps).toBe("inline:{ { [mail.nathabee.de]:25 = secure match=mail.nathabee.de } }");
    });

    test("it filters as the primary does: the same rspamd files, rspamd as its milter, tempfail without it, our domains refused as senders", () => {
        const files = renderSecondaryHostFiles(spec());
        // The controller password's group aside (no vmail there: root only), the very same files.
        const rootOnly = { group: "root", why: "the backup MX runs no Sieve: root only" };
        for (const f of renderFilterFiles(spec(), rootOnly)) expect(fileOf(files, f.path)).toBe(f.content);
        const differs = renderFilterFiles(spec()).filter((f) => fileOf(files, f.path) !== f.content);
        expect(differs.map((f) => f.path)).toEqual(["/usr/local/sbin/mailstack-rspamd-password"]);
        const m = main();
        const primary = settings(fileOf(renderHostFiles(spec()), "/etc/postfix/main.cf"));
        expect(m.smtpd_milters).toBe(primary.smtpd_milters);
        expect(m.milter_default_action).toBe("tempfail");
        expect(m.smtpd_sender_restrictions).toBe(primary.smtpd_sender_restrictions);
        expect(m.smtpd_tls_chain_files).toBe(primary.smtpd_tls_chain_files);
        expect(fileOf(renderRelayData(spec(), PRIMARY), "/etc/postfix/mailstack/own-sender-domains")).toContain(
            "example.org REJECT 5.7.1",
        );
    });

    test("it holds no mailbox, no password and no DKIM key: no virtual mailboxes, no AUTH, no submission port", () => {
        const m = main();
        for (const key of ["virtual_mailbox_maps", "virtual_transport", "non_smtpd_milters", "smtpd_sasl_type"])
            expect(m[key]).toBeUndefined();
        expect(m.smtpd_sasl_auth_enable).toBe("no");
        const master = fileOf(renderSecondaryHostFiles(spec()), "/etc/postfix/master.cf");
        expect(master.split("\n").filter((l) => / inet /.test(l))).toEqual([
            "smtp      inet  n       -       n       -       -       smtpd",
        ]);
        const paths = renderSecondaryHostFiles(spec()).map((f) => f.path);
        expect(paths.filter((p) => /dovecot|opendkim|passwd|users$/.test(p))).toEqual([]);
    });
});

describe("the backup MX's first boot and steps", () => {
    const key = TEST_PROVISIONAL_HOST_KEY;
    const userData = (s: MailSpec) =>
        renderSecondaryUserData(s, { mailVolumeDevice: "/dev/disk/by-id/scsi-0HC_Volume_7", provisionalHostKey: key });

    test("nothing on it names what only the mail server has: no vmail, no Dovecot unit to stop", () => {
        const files = renderSecondaryHostFiles(spec());
        expect(fileOf(files, "/usr/local/sbin/mailstack-rspamd-password")).toMatch(/^password_group='root'$/m);
        expect(fileOf(files, "/usr/local/sbin/mailstack-volume-state")).toMatch(
            /^units='postfix certbot.timer valkey-server'$/m,
        );
        expect(files.filter((f) => /\bvmail\b/.test(f.content)).map((f) => f.path)).toEqual([]);
    });

    test("its host-config bundle is whole: every file once, the first boot's files a part of it", () => {
        const all = renderSecondaryHostFiles(spec());
        expect(() => renderBundle(all)).not.toThrow();
        const first = renderSecondaryHostFiles(spec(), { firstBoot: true }).map((f) => f.path);
        expect(first.filter((p) => !all.some((f) => f.path === p))).toEqual([]);
        expect(first).not.toContain("/etc/rspamd/local.d/actions.conf");
    });

    test("its user-data fits Hetzner's limit, names its own host, and does not change with the domains or mailboxes", () => {
        const text = userData(spec());
        expect(Buffer.byteLength(text)).toBeLessThan(USER_DATA_LIMIT_BYTES);
        const config = parse(text.slice(text.indexOf("\n") + 1));
        expect(config.fqdn).toBe("mx2.nathabee.de");
        expect(config.packages).toContain("postfix");
        expect(config.packages).not.toContain("dovecot-core");
        const domains = twoDomains().domains as Record<string, unknown>[];
        const more = spec({ domains: [{ ...domains[0], mailboxes: ["evaluation", "freebus", "dave"] }, domains[1]] });
        expect(userData(more)).toBe(text);
    });

    test("runs host-key, first-boot, packages, host-config, relay-data, mail-volume, certificate; none with a secret", () => {
        expect(SECONDARY_PROVISIONING_PLAN.map((s) => s.role)).toEqual([
            "host-key",
            "first-boot",
            "packages",
            "host-config",
            "relay-data",
            "mail-volume",
            "certificate",
        ]);
        // No step carries a secret; relay-data alone takes a deploy-time value, the primary's addresses.
        for (const s of SECONDARY_PROVISIONING_PLAN) {
            expect([s.role, s.secret, s.uses]).toEqual([
                s.role,
                false,
                s.role === "relay-data" ? ["primaryAddresses"] : [],
            ]);
        }
        // The same host-key pinning as the primary's.
        const primary = (r: StepRole) => PROVISIONING_PLAN.find((s) => s.role === r)!;
        expect(SECONDARY_PROVISIONING_PLAN[0]).toBe(primary("host-key"));
        expect(SECONDARY_PROVISIONING_PLAN.filter((s) => s.pin === "provisional").map((s) => s.role)).toEqual([
            "host-key",
        ]);
    });

    const stdinOf = (role: StepRole, s: MailSpec) =>
        SECONDARY_PROVISIONING_PLAN.find((x) => x.role === role)!.stdin!(s, {
            dkimPrivateKeysPem: {},
            passwordHashes: {},
            primaryAddresses: PRIMARY,
        });

    test("relay-data runs again after a new mailbox, alias or domain, and its bundle then lists the new address", () => {
        const domains = twoDomains().domains as Record<string, any>[];
        const before = stdinOf("relay-data", spec());
        const mailbox = spec({
            domains: [{ ...domains[0], mailboxes: ["evaluation", "freebus", "dave"] }, domains[1]],
        });
        const alias = spec({
            domains: [
                { ...domains[0], aliases: { ...domains[0].aliases, info: ["evaluation@nathabee.de"] } },
                domains[1],
            ],
        });
        const domain = spec({
            domains: [
                ...domains,
                { name: "example.com", mailboxes: ["eve"], aliases: { postmaster: ["eve@example.com"] } },
            ],
        });
        for (const [changed, address] of [
            [mailbox, "dave@nathabee.de"],
            [alias, "info@nathabee.de"],
            [domain, "eve@example.com"],
        ] as const) {
            const after = stdinOf("relay-data", changed);
            expect(after).not.toBe(before);
            const recipients = parseBundle(after).find((f) => f.path.endsWith("/relay-recipients"))!;
            expect(recipients.content).toContain(`${address} OK\n`);
        }
        expect(stdinOf("relay-data", spec())).toBe(before);
    });

    test("its certificate is for its own name only", () => {
        expect(stdinOf("certificate", spec())).toBe("mx2.nathabee.de mx2.nathabee.de\n");
    });
});

describe("the primary trusts the backup MX and no one else", () => {
    const relayFile = (s: MailSpec, addresses?: string[]) => renderTrustedRelays(s, addresses).content;

    test("rspamd takes the original sender from the Received: lines of the backup MX's two addresses only (ip_map)", () => {
        const text = relayFile(spec(), ["2001:db8:26::1", "192.0.2.26"]);
        expect(text).toMatch(
            /MAILSTACK_BACKUP_MX \{\s+strategy = "ip_map";\s+ip_map = \["192\.0\.2\.26", "2001:db8:26::1"\];/,
        );
        expect(text.match(/strategy/g)).toHaveLength(1);
        // Without a backup MX nobody's Received: lines are believed.
        const none = relayFile(buildSpec(twoDomains()), ["192.0.2.26"]);
        expect(none).not.toMatch(/strategy|ip_map/);
        expect(() => relayFile(spec(), [])).toThrow(/not IP addresses/);
        expect(() => relayFile(spec(), ["mx2.nathabee.de"])).toThrow(/not IP addresses/);
    });

    test("what the backup MX relayed is not greylisted a second time: greylist.conf skips the rule's symbol", () => {
        const greylist = fileOf(renderFilterFiles(spec()), "/etc/rspamd/local.d/greylist.conf");
        const symbol = /rules \{\s+(\w+) \{/.exec(relayFile(spec(), ["192.0.2.26", "2001:db8:26::1"]))![1];
        expect(greylist).toMatch(new RegExp(`whitelist_symbols = \\["${symbol}"\\];`));
    });

    test("one Authentication-Results of ours: every one the message arrived with (the backup MX's too) is removed first", () => {
        const headers = fileOf(renderFilterFiles(spec()), "/etc/rspamd/local.d/milter_headers.conf");
        expect(headers).toMatch(/authentication-results \{\s+remove = 0;/);
    });

    test("the primary's mail-data step carries the trust and runs again when the backup MX's addresses change", () => {
        const step = PROVISIONING_PLAN.find((x) => x.role === "mail-data")!;
        expect(step.uses).toContain("secondaryMxAddresses");
        const hashes = Object.fromEntries(
            spec()
                .domains.flatMap((d) => d.mailboxes)
                .map((m) => [m, "{BLF-CRYPT}$2b$x"]),
        );
        const run = (a: string[]) =>
            step.stdin!(spec(), { dkimPrivateKeysPem: {}, passwordHashes: hashes, secondaryMxAddresses: a });
        const before = run(["192.0.2.26", "2001:db8:26::1"]);
        expect(parseBundle(before).find((f) => f.path === "/etc/rspamd/local.d/external_relay.conf")).toBeDefined();
        expect(run(["192.0.2.27", "2001:db8:26::1"])).not.toBe(before);
        expect(run(["192.0.2.26", "2001:db8:26::1"])).toBe(before);
    });
});

describe("DNS and firewall with a backup MX", () => {
    const facts = {
        ipv4: "192.0.2.25",
        ipv6: "2001:db8:25::1",
        dkimPublicKeyPem: `-----BEGIN PUBLIC KEY-----\n${"A".repeat(392)}\n-----END PUBLIC KEY-----`,
        secondary: { ipv4: "192.0.2.26", ipv6: "2001:db8:26::1" },
    };
    const lines = (s: MailSpec, d: number) => mailDnsRecords(s, s.domains[d], facts).map(describeRecord);

    test("every domain's MX lists the primary first (10) and the backup MX after it (20)", () => {
        for (const d of [0, 1]) {
            const mx = lines(spec(), d).filter((l) => / MX /.test(l));
            expect(mx).toEqual([
                `${spec().domains[d].name} MX 10 mail.nathabee.de`,
                `${spec().domains[d].name} MX 20 mx2.nathabee.de`,
            ]);
        }
    });

    test("the backup MX's name has its A, AAAA and own SPF in the zone that holds it", () => {
        expect(lines(spec(), 0).filter((l) => l.startsWith("mx2.nathabee.de "))).toEqual([
            "mx2.nathabee.de A 192.0.2.26",
            "mx2.nathabee.de AAAA 2001:db8:26::1",
            'mx2.nathabee.de TXT "v=spf1 a -all"',
        ]);
        expect(lines(spec(), 1).filter((l) => l.startsWith("mx2."))).toEqual([]);
    });

    test("SPF covers it through mx; the MTA-STS policy lists both hosts, so its id changes", () => {
        expect(spfValue(spec().domains[0])).toBe("v=spf1 mx -all");
        expect(mtaStsPolicy(spec())).toContain("mx: mail.nathabee.de\r\nmx: mx2.nathabee.de\r\n");
        const without = buildSpec(twoDomains());
        expect(mtaStsPolicy(without)).not.toContain("mx2");
    });

    test("its firewall: SMTP and ACME's HTTP in from anywhere, SSH from the deployers only; no client port", () => {
        const inbound = secondaryFirewallRules(spec())
            .filter((r) => r.direction === "in")
            .map((r) => `${r.protocol} ${r.port ?? ""} ${(r.sourceIps ?? []).join(",")}`);
        expect(inbound).toEqual([
            "tcp 25 0.0.0.0/0,::/0",
            "tcp 80 0.0.0.0/0,::/0",
            "tcp 22 203.0.113.7/32",
            "icmp  0.0.0.0/0,::/0",
        ]);
        const outbound = secondaryFirewallRules(spec()).filter((r) => r.direction === "out");
        expect(outbound.map((r) => `${r.protocol} ${r.port ?? ""}`)).toEqual([
            "tcp 25",
            "tcp 53",
            "udp 53",
            "tcp 80",
            "tcp 443",
            "udp 123",
            "icmp ",
        ]);
    });
});

describe("the program with a backup MX (mocks)", () => {
    const HCLOUD_TYPES = [
        "hcloud:index/server:Server",
        "hcloud:index/primaryIp:PrimaryIp",
        "hcloud:index/rdns:Rdns",
        "hcloud:index/volume:Volume",
        "hcloud:index/volumeAttachment:VolumeAttachment",
        "hcloud:index/firewall:Firewall",
        "hcloud:index/sshKey:SshKey",
    ];

    async function deploy(name: string, raw: RawConfig) {
        await mocksReady;
        const s = buildSpec({ ...raw, hasRelayPassword: false, backupSecretsSet: [] });
        const stack = new MailStack(
            name,
            {
                spec: s,
                passwords: pulumi.secret({}),
                configuredPasswordAddresses: [],
                zones: await readZones(s),
            },
            { transformations: [recordOptions] },
        );
        await promiseOf(stack.dnsRecords);
        await Promise.all(Object.values(stack.provisioning.reports).map(promiseOf));
        if (stack.secondaryMx) await Promise.all(Object.values(stack.secondaryMx.provisioning.reports).map(promiseOf));
        await settle();
        return { stack, resources: resourcesOf(name) };
    }

    /** The primary's hcloud resources and their inputs, the stack prefix cut off so two stacks compare. */
    const primaryHost = (name: string, resources: typeof created) =>
        resources
            .filter((r) => HCLOUD_TYPES.includes(r.type) && !r.name.startsWith(`${name}-mx2-`))
            .map((r) => ({ type: r.type, name: r.name.slice(name.length), inputs: r.inputs }))
            .sort((a, b) => `${a.type} ${a.name}`.localeCompare(`${b.type} ${b.name}`));

    test("adding a backup MX changes no input of the primary's server, addresses, volume or firewall", async () => {
        const before = await deploy("one", twoDomains());
        const after = await deploy("two", withSecondary());
        const a = primaryHost("one", before.resources);
        const b = primaryHost("two", after.resources);
        // The user-data carries the stack's own keys; compare it apart (a fixed function of the same spec).
        expect(JSON.stringify(b).replaceAll("two-", "one-")).toBe(JSON.stringify(a).replaceAll("two-", "one-"));
        expect(a.length).toBeGreaterThanOrEqual(8);
    });

    test("the backup MX: its own server in fsn1, its own primary IPs with reverse DNS, a protected queue volume, its own firewall", async () => {
        const { resources } = await deploy("bk2", withSecondary());
        const server = find(resources, "hcloud:index/server:Server", "bk2-mx2-server");
        expect(server.inputs).toMatchObject({
            name: "mx2.nathabee.de",
            location: "fsn1",
            serverType: "cx23",
            image: "debian-13",
            deleteProtection: true,
        });
        expect(server.inputs.userData).toContain("fqdn: mx2.nathabee.de");
        const ips = resources.filter(
            (r) => r.type === "hcloud:index/primaryIp:PrimaryIp" && r.name.startsWith("bk2-mx2-"),
        );
        expect(ips.map((r) => [r.inputs.name, r.inputs.location, r.inputs.autoDelete])).toEqual([
            ["mx2-nathabee-de-ipv4", "fsn1", false],
            ["mx2-nathabee-de-ipv6", "fsn1", false],
        ]);
        const ptr = resources.filter((r) => r.type === "hcloud:index/rdns:Rdns" && r.name.startsWith("bk2-mx2-"));
        expect(ptr.map((r) => [r.inputs.ipAddress, r.inputs.dnsPtr])).toEqual([
            ["192.0.2.26", "mx2.nathabee.de"],
            ["2001:db8:26::1", "mx2.nathabee.de"],
        ]);
        const volume = find(resources, "hcloud:index/volume:Volume", "bk2-mx2-mail-volume");
        expect(volume.inputs).toMatchObject({
            name: "mx2-nathabee-de-queue",
            size: 10,
            location: "fsn1",
            deleteProtection: true,
        });
        const firewall = find(resources, "hcloud:index/firewall:Firewall", "bk2-mx2-firewall");
        expect(firewall.inputs.name).toBe("mx2-nathabee-de-mx");
        expect(
            firewall.inputs.rules.filter((r: any) => r.direction === "in").map((r: any) => r.port ?? "icmp"),
        ).toEqual(["25", "80", "22", "icmp"]);
        const keys = resources.filter((r) => r.type === "hcloud:index/sshKey:SshKey").map((r) => r.inputs.name);
        expect(keys.sort()).toEqual(["mail-nathabee-de-deploy", "mx2-nathabee-de-deploy"]);
    });

    test("its provisioning steps connect to its own address, and relay-data's stdin holds no password hash", async () => {
        const { resources } = await deploy("bk3", withSecondary());
        const steps = resources.filter(
            (r) => r.type === "command:remote:Command" && r.name.startsWith("bk3-mx2-provision-"),
        );
        expect(steps.map((r) => r.name.slice("bk3-mx2-provision-".length)).sort()).toEqual(
            SECONDARY_PROVISIONING_PLAN.map((s) => s.role).sort(),
        );
        for (const s of steps) expect(s.inputs.connection.host).toBe("192.0.2.26");
        const relay = find(resources, "command:remote:Command", "bk3-mx2-provision-relay-data");
        expect(relay.inputs.stdin).toContain("relay-recipients");
        expect(relay.inputs.stdin).not.toMatch(/BLF-CRYPT|PRIVATE KEY/);
        // The primary's own addresses (its server's), from which the backup MX takes ETRN.
        const etrn = parseBundle(relay.inputs.stdin).find((f) => f.path.endsWith("/etrn-clients"))!;
        expect(etrn.content).toMatch(/^192\.0\.2\.25\/32 OK\n2001:db8:25::1\/128 OK\n$/m);
        const dns = resources.filter((r) => r.type === "cloudflare:index/dnsRecord:DnsRecord");
        expect(
            dns
                .filter((r) => r.inputs.type === "MX")
                .map((r) => `${r.inputs.name} ${r.inputs.priority} ${r.inputs.content}`),
        ).toEqual([
            "nathabee.de 10 mail.nathabee.de",
            "nathabee.de 20 mx2.nathabee.de",
            "example.org 10 mail.nathabee.de",
            "example.org 20 mx2.nathabee.de",
        ]);
        const a = dns.find((r) => r.inputs.name === "mx2.nathabee.de" && r.inputs.type === "A")!;
        expect(a.inputs.content).toBe("192.0.2.26");
        // The primary's mail-data (secret stdin) carries its trust in exactly these addresses.
        const mailData = find(resources, "command:remote:Command", "bk3-provision-mail-data");
        const trust = parseBundle(mailData.inputs.stdin).find(
            (f) => f.path === "/etc/rspamd/local.d/external_relay.conf",
        )!;
        expect(trust.content).toContain('ip_map = ["192.0.2.26", "2001:db8:26::1"];');
        // rspamd ships external_relay disabled: without this its rule is never loaded (the
        // lab's secondary-mx.test.ts saw the backup MX's mail judged by its own address).
        expect(trust.content).toMatch(/^enabled = true;$/m);
    });
});
