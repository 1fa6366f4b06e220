// The Pulumi program under mocks: every resource is recorded with its inputs and checked.
import { created, find, invokes, mocksReady, promiseOf, resourcesOf, settle, type RecordedResource } from "./helpers/mocks";

import * as pulumi from "@pulumi/pulumi";

import { txtValue } from "../components/dns-records";
import { MailStack } from "../components/mailstack";
import { buildSpec, type RawConfig } from "../components/spec";
import { oneDomain, twoDomains } from "./helpers/fixtures";

const HCLOUD = {
    server: "hcloud:index/server:Server",
    firewall: "hcloud:index/firewall:Firewall",
    primaryIp: "hcloud:index/primaryIp:PrimaryIp",
    rdns: "hcloud:index/rdns:Rdns",
    volume: "hcloud:index/volume:Volume",
    sshKey: "hcloud:index/sshKey:SshKey",
};
const DNS_RECORD = "cloudflare:index/dnsRecord:DnsRecord";
const COMMAND = "command:remote:Command";
const PRIVATE_KEY = "tls:index/privateKey:PrivateKey";

const SECRET_PASSWORD = "correct-horse-battery-staple";

async function deploy(name: string, raw: RawConfig, relayPassword?: string) {
    await mocksReady;
    const spec = buildSpec({ ...raw, passwords: { "evaluation@nathabee.de": SECRET_PASSWORD }, hasRelayPassword: relayPassword !== undefined });
    const stack = new MailStack(name, {
        spec,
        passwords: pulumi.secret({ "evaluation@nathabee.de": SECRET_PASSWORD }),
        configuredPasswordAddresses: ["evaluation@nathabee.de"],
        ...(relayPassword !== undefined ? { relayPassword: pulumi.secret(relayPassword) } : {}),
    });
    const outputs = {
        dnsRecords: await promiseOf(stack.dnsRecords),
        mailboxPasswords: await promiseOf(stack.mailboxPasswords),
        ipv4: await promiseOf(stack.ipv4),
        ipv6: await promiseOf(stack.ipv6),
    };
    await Promise.all(Object.values(stack.provisioning.reports).map(promiseOf));
    await settle();
    return { spec, stack, outputs, resources: resourcesOf(name) };
}

const records = (resources: RecordedResource[]) => resources.filter((r) => r.type === DNS_RECORD);

describe("one domain", () => {
    let res: Awaited<ReturnType<typeof deploy>>;
    beforeAll(async () => {
        res = await deploy("one", oneDomain());
    });

    test("the firewall opens the mail ports to all, SSH only to the deployers, and no 110/143", () => {
        const rules: any[] = find(res.resources, HCLOUD.firewall, "one-firewall").inputs.rules;
        const inbound = rules.filter((r) => r.direction === "in" && r.protocol === "tcp");
        expect(inbound.map((r) => r.port).sort()).toEqual(["22", "25", "443", "465", "587", "80", "993", "995"]);
        for (const r of inbound.filter((r) => r.port !== "22")) expect(r.sourceIps).toEqual(["0.0.0.0/0", "::/0"]);
        expect(inbound.find((r) => r.port === "22").sourceIps).toEqual(["203.0.113.7/32"]);
        expect(rules.some((r) => r.direction === "in" && r.protocol === "icmp")).toBe(true);
        const outbound = rules.filter((r) => r.direction === "out").map((r) => `${r.protocol}/${r.port ?? "-"}`);
        expect(outbound).toEqual(expect.arrayContaining(["tcp/25", "tcp/53", "udp/53", "tcp/80", "tcp/443", "udp/123", "tcp/465", "tcp/587", "icmp/-"]));
    });

    test("the addresses are primary IPs that outlive the server, with PTRs to the hostname", () => {
        const ips = res.resources.filter((r) => r.type === HCLOUD.primaryIp);
        expect(ips.map((r) => r.inputs.type).sort()).toEqual(["ipv4", "ipv6"]);
        for (const ip of ips) expect(ip.inputs).toMatchObject({ autoDelete: false, deleteProtection: true, assigneeType: "server" });
        const ptrs = res.resources.filter((r) => r.type === HCLOUD.rdns);
        expect(ptrs.map((r) => [r.inputs.ipAddress, r.inputs.dnsPtr]).sort()).toEqual([
            ["192.0.2.25", "mail.nathabee.de"],
            ["2001:db8:25::1", "mail.nathabee.de"],
        ]);
        expect(res.outputs.ipv6).toBe("2001:db8:25::1");
    });

    test("the server is debian-13 with delete and rebuild protection, the deploy key, the firewall and both IPs", () => {
        const server = find(res.resources, HCLOUD.server, "one-server").inputs;
        expect(server).toMatchObject({ image: "debian-13", serverType: "cx23", location: "nbg1", deleteProtection: true, rebuildProtection: true });
        expect(server.sshKeys).toHaveLength(1);
        expect(server.firewallIds).toHaveLength(1);
        expect(server.publicNets[0]).toMatchObject({ ipv4Enabled: true, ipv6Enabled: true });
        const key = find(res.resources, PRIVATE_KEY, "one-deploy-key").inputs;
        expect(key.algorithm).toBe("ED25519");
    });

    test("the mail volume is delete-protected and the user-data mounts it by its device path", () => {
        const volume = find(res.resources, HCLOUD.volume, "one-mail-volume").inputs;
        expect(volume).toMatchObject({ deleteProtection: true, format: "ext4", size: 10 });
        const userData: string = find(res.resources, HCLOUD.server, "one-server").inputs.userData;
        expect(userData).toMatch(/\/dev\/disk\/by-id\/scsi-0HC_Volume_\d+/);
    });

    test("the user-data is cloud-config, under Hetzner's 32 KiB, and holds no secret", () => {
        const userData: string = find(res.resources, HCLOUD.server, "one-server").inputs.userData;
        expect(userData.startsWith("#cloud-config\n")).toBe(true);
        expect(Buffer.byteLength(userData)).toBeLessThan(32 * 1024);
        expect(userData).not.toContain(SECRET_PASSWORD);
        expect(userData).not.toContain("PRIVATE KEY");
        expect(userData).not.toMatch(/BLF-CRYPT|\$2b\$/);
        expect(userData).not.toContain("generated-password");
    });

    test("every mail record is on the zone, unproxied, with a full name, a TTL and the expected content", () => {
        const dns = records(res.resources);
        for (const r of dns) {
            expect(r.inputs.proxied).toBe(false);
            expect(r.inputs.ttl).toBe(3600);
            expect(r.inputs.zoneId).toBe("zone-of-nathabee.de");
            expect(r.inputs.name).not.toBe("@");
            expect(r.inputs.name === "nathabee.de" || r.inputs.name.endsWith(".nathabee.de")).toBe(true);
        }
        const get = (name: string, type: string) => dns.find((r) => r.inputs.name === name && r.inputs.type === type)?.inputs;
        expect(get("nathabee.de", "MX")).toMatchObject({ content: "mail.nathabee.de", priority: 10 });
        expect(get("mail.nathabee.de", "A")).toMatchObject({ content: "192.0.2.25" });
        expect(get("mail.nathabee.de", "AAAA")).toMatchObject({ content: "2001:db8:25::1" });
        expect(get("nathabee.de", "TXT")).toMatchObject({ content: '"v=spf1 mx -all"' });
        expect(get("_dmarc.nathabee.de", "TXT")!.content).toContain("p=quarantine");
        expect(get("_submission._tcp.nathabee.de", "SRV")).toMatchObject({ data: { port: 587, target: "mail.nathabee.de" } });
        expect(invokes.filter((i) => i.token === "cloudflare:index/getZone:getZone").map((i) => i.args.filter.name)).toContain("nathabee.de");
    });

    test("the DKIM TXT record is the public part of the domain's key", async () => {
        const key = find(res.resources, PRIVATE_KEY, "one-dkim-nathabee.de");
        expect(key.inputs).toMatchObject({ algorithm: "RSA", rsaBits: 2048 });
        const published = records(res.resources).find((r) => r.inputs.name === "mail._domainkey.nathabee.de")!.inputs.content;
        const { createPublicKey } = await import("node:crypto");
        const fromDns = txtValue(published).replace(/^v=DKIM1; k=rsa; p=/, "");
        const der = createPublicKey({ key: Buffer.from(fromDns, "base64"), format: "der", type: "spki" });
        const installed: string = find(res.resources, COMMAND, "one-provision-dkim").inputs.stdin;
        // The private key that goes to the host belongs to the published public key.
        const privatePem = bundleFile(installed, "/etc/opendkim/keys/nathabee.de.private") ?? anyPrivateKey(installed);
        const { createPrivateKey } = await import("node:crypto");
        const derived = createPublicKey(createPrivateKey(privatePem)).export({ type: "spki", format: "der" });
        expect(Buffer.compare(derived, der.export({ type: "spki", format: "der" }))).toBe(0);
    });

    test("secrets travel only as command stdin, never in a command's text", () => {
        const commands = res.resources.filter((r) => r.type === COMMAND);
        expect(commands.map((c) => c.name).sort()).toEqual(
            ["one-provision-certificate", "one-provision-dkim", "one-provision-first-boot", "one-provision-host-config", "one-provision-mail-data"].sort(),
        );
        for (const c of commands) {
            expect(c.inputs.create).not.toContain("PRIVATE KEY");
            expect(c.inputs.create).not.toContain(SECRET_PASSWORD);
            expect(c.inputs.create).not.toMatch(/\$2b\$/);
            expect(c.inputs.connection).toMatchObject({ host: "192.0.2.25", user: "root" });
            expect(c.inputs.triggers[0]).toEqual(expect.any(String));
        }
        for (const step of ["dkim", "mail-data"]) expect(find(res.resources, COMMAND, `one-provision-${step}`).secretInputs).toContain("stdin");
        const mailData: string = find(res.resources, COMMAND, "one-provision-mail-data").inputs.stdin;
        expect(mailData).toMatch(/^mailstack-bundle 1\n/);
        expect(mailData).toMatch(/\nend\n?$/);
        const users = bundleFile(mailData, "/etc/dovecot/users");
        expect(users).toBeDefined();
        expect(users).toMatch(/^evaluation@nathabee\.de:\{BLF-CRYPT\}\$2b\$12\$/m);
        expect(mailData).not.toContain(SECRET_PASSWORD);
    });

    test("the configured password hashes to a bcrypt hash Dovecot can verify, and generated ones are exported", async () => {
        const bcrypt = (await import("bcryptjs")).default;
        const users = bundleFile(find(res.resources, COMMAND, "one-provision-mail-data").inputs.stdin, "/etc/dovecot/users")!;
        const line = users.split("\n").find((l) => l.startsWith("evaluation@nathabee.de:"))!;
        const hash = line.split(":")[1].replace("{BLF-CRYPT}", "");
        expect(bcrypt.compareSync(SECRET_PASSWORD, hash)).toBe(true);
        expect(Object.keys(res.outputs.mailboxPasswords)).toEqual(["freebus@nathabee.de"]);
    });

    test("the resources that hold mail or reputation are protected", () => {
        expect(res.resources.filter((r) => r.type === HCLOUD.volume || r.type === HCLOUD.primaryIp).every((r) => r.inputs.deleteProtection)).toBe(true);
    });

    test("dnsRecords output lists every record readably", () => {
        expect(res.outputs.dnsRecords).toEqual(expect.arrayContaining(["nathabee.de MX 10 mail.nathabee.de", "mail.nathabee.de A 192.0.2.25"]));
    });
});

describe("adding a second domain", () => {
    test("adds exactly its records and changes neither the server nor its user-data", async () => {
        const a = await deploy("cmpa", oneDomain());
        const b = await deploy("cmpb", twoDomains());
        const strip = (list: RecordedResource[], prefix: string) =>
            list.map((r) => ({ ...r, name: r.name.slice(prefix.length) }));
        const aRes = strip(a.resources, "cmpa");
        const bRes = strip(b.resources, "cmpb");
        const server = (l: typeof aRes) => l.find((r) => r.type === HCLOUD.server)!.inputs;
        const { userData: ua, ...sa } = server(aRes);
        const { userData: ub, ...sb } = server(bRes);
        expect(sb).toEqual(sa);
        expect(ub).toEqual(ua);

        const names = (l: typeof aRes) => l.filter((r) => r.type === DNS_RECORD).map((r) => r.name).sort();
        const added = names(bRes).filter((n) => !names(aRes).includes(n));
        expect(names(bRes).length - names(aRes).length).toBe(added.length);
        expect(added.length).toBeGreaterThan(0);
        expect(added.every((n) => n.includes("example.org"))).toBe(true);
        expect(records(b.resources).filter((r) => r.inputs.name.endsWith("example.org")).every((r) => r.inputs.zoneId === "zone-of-example.org")).toBe(true);
        // A new domain brings a DKIM key of its own.
        expect(bRes.filter((r) => r.type === PRIVATE_KEY).map((r) => r.name)).toContain("-dkim-example.org");
    });
});

describe("relay", () => {
    test("relay credentials reach the server only through mail-data's stdin", async () => {
        const raw = { ...oneDomain(), relay: { host: "smtp.relay.example", port: 587, username: "mailer" } };
        const res = await deploy("relay", raw, "relay-secret-value-123");
        for (const r of res.resources) {
            if (r.name === "relay-provision-mail-data") continue;
            expect(JSON.stringify(r.inputs)).not.toContain("relay-secret-value-123");
        }
        const stdin: string = find(res.resources, COMMAND, "relay-provision-mail-data").inputs.stdin;
        const decoded = decodeBundle(stdin).map((f) => f.content).join("\n");
        expect(decoded).toContain("relay-secret-value-123");
    });
});

afterAll(() => {
    // Every resource was declared with a name under one of the test stacks.
    expect(created.length).toBeGreaterThan(0);
});

// --- bundle helpers: the stdin format of scripts/apply-bundle.sh (docs/design.md) ---
function decodeBundle(bundle: string): { path: string; content: string }[] {
    return bundle
        .split("\n")
        .filter((l) => l.startsWith("file "))
        .map((l) => {
            const [, path, , , , , b64] = l.split(" ");
            return { path, content: b64 === "-" ? "" : Buffer.from(b64, "base64").toString("utf8") };
        });
}

function bundleFile(bundle: string, path: string): string | undefined {
    return decodeBundle(bundle).find((f) => f.path === path)?.content;
}

function anyPrivateKey(bundle: string): string {
    const f = decodeBundle(bundle).find((x) => x.content.includes("PRIVATE KEY"));
    if (!f) throw new Error("no private key in the dkim bundle");
    return f.content;
}
