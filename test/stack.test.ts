// The Pulumi program under mocks: every resource is recorded with its inputs and checked.
import {
    caaRecordProblem,
    find,
    providerWarnings,
    zoneRecords,
    SERVER_HOST_KEY,
    MOCK_STATE_ID,
    invokes,
    created,
    mocksReady,
    options,
    promiseOf,
    recordOptions,
    registeredOutputs,
    resourcesOf,
    settle,
    type RecordedResource,
} from "./helpers/mocks";

import * as pulumi from "@pulumi/pulumi";

import { parseBundle, USER_DATA_LIMIT_BYTES } from "../render";
import { HOST_KEY_COMMAND } from "../render/plan/plan";
import { parse, stringify } from "yaml";
import { txtValue } from "../render/dns/text";
import { serverIpv6 } from "../components/host";
import { MailStack } from "../components/mailstack";
import { readZones, rollout } from "../components/zones";
import { buildSpec, type BackupSecretKey, type RawConfig } from "../model";
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
/** How every record comment of a test stack begins: project/stack and the mocks' state id. */
const OURS = `mailstack:mailstack/test#${MOCK_STATE_ID}: `;

async function deploy(
    name: string,
    raw: RawConfig,
    relayPassword?: string,
    backupSecrets?: Partial<Record<BackupSecretKey, string>>,
    now?: Date,
) {
    await mocksReady;
    const configured = buildSpec({
        ...raw,
        passwords: { "evaluation@nathabee.de": SECRET_PASSWORD },
        hasRelayPassword: relayPassword !== undefined,
        backupSecretsSet: Object.keys(backupSecrets ?? {}) as BackupSecretKey[],
    });
    // As index.ts: the new domains that do not fit in Cloudflare's request budget wait.
    const { spec, zones } = rollout(configured, await readZones(configured));
    const stack = new MailStack(
        name,
        {
            spec,
            passwords: pulumi.secret({ "evaluation@nathabee.de": SECRET_PASSWORD }),
            configuredPasswordAddresses: ["evaluation@nathabee.de"],
            ...(now ? { now } : {}),
            ...(relayPassword !== undefined ? { relayPassword: pulumi.secret(relayPassword) } : {}),
            ...(backupSecrets
                ? {
                      backupSecrets: Object.fromEntries(
                          Object.entries(backupSecrets).map(([k, v]) => [k, pulumi.secret(v)]),
                      ),
                  }
                : {}),
            zones,
        },
        { transformations: [recordOptions] },
    );
    const outputs = {
        dnsRecords: await promiseOf(stack.dnsRecords),
        mailboxPasswords: await promiseOf(stack.mailboxPasswords),
        ipv4: await promiseOf(stack.ipv4),
        ipv6: await promiseOf(stack.ipv6),
        sshHostKey: await promiseOf(stack.sshHostKey),
        backupSshPublicKey: stack.backupSshPublicKey ? await promiseOf(stack.backupSshPublicKey) : undefined,
    };
    await Promise.all(Object.values(stack.provisioning.reports).map(promiseOf));
    await settle();
    const own = (n: string) => n === name || n.startsWith(`${name}-`);
    return { spec, stack, outputs, resources: resourcesOf(name), options: options.filter((o) => own(o.name)) };
}

const BACKUP_PASSWORD = "restic-repository-password-1";
const STORAGE_BOX_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIj0Y7Fwm6wZUmPQpVuZ7mUr2Z5ZpOHg6oYd3Vtq8x9c";

describe("backups", () => {
    test("an sftp repository: the backup step's stdin (secret) holds the password and a generated key, whose public half is an output; the command holds neither", async () => {
        const res = await deploy(
            "bk",
            {
                ...oneDomain(),
                backup: {
                    sftp: {
                        host: "u123456.your-storagebox.de",
                        user: "u123456",
                        path: "mail",
                        hostKey: STORAGE_BOX_KEY,
                    },
                },
            } as RawConfig,
            undefined,
            { backupPassword: BACKUP_PASSWORD },
        );
        const step = find(res.resources, COMMAND, "bk-provision-backup");
        expect(step.secretInputs).toContain("stdin");
        expect(step.inputs.create).not.toContain(BACKUP_PASSWORD);
        expect(step.inputs.create).toMatch(/&& \/usr\/local\/sbin\/mailstack-backup enable$/);
        const stdin: string = step.inputs.stdin;
        expect(bundleFile(stdin, "/etc/mailstack/backup/password")).toBe(BACKUP_PASSWORD);
        const key = bundleFile(stdin, "/etc/mailstack/backup/ssh/id_ed25519")!;
        expect(key).toContain("OPENSSH PRIVATE KEY");
        expect(bundleFile(stdin, "/etc/mailstack/backup/ssh/known_hosts")).toBe(
            `[u123456.your-storagebox.de]:23 ${STORAGE_BOX_KEY}\n`,
        );
        expect(bundleFile(stdin, "/etc/mailstack/backup/env")).toContain(
            "RESTIC_REPOSITORY='sftp:u123456@u123456.your-storagebox.de:mail'",
        );
        const keys = res.resources.filter((r) => r.type === PRIVATE_KEY && r.name === "bk-backup-ssh-key");
        expect(keys.map((k) => k.inputs.algorithm)).toEqual(["ED25519"]);
        expect(res.outputs.backupSshPublicKey).toMatch(/^ssh-ed25519 /);
        // Nothing of the backup in the user-data.
        const server = find(res.resources, HCLOUD.server, "bk-server");
        expect(JSON.stringify(server.inputs)).not.toContain(BACKUP_PASSWORD);
        // Hetzner drops every outbound connection no rule allows: the Storage Box's SFTP port is one.
        const rules: any[] = find(res.resources, HCLOUD.firewall, "bk-firewall").inputs.rules;
        expect(rules).toContainEqual(
            expect.objectContaining({
                direction: "out",
                protocol: "tcp",
                port: "23",
                destinationIps: ["0.0.0.0/0", "::/0"],
            }),
        );
    });

    test("an sftp repository with the user's own key generates none; without mailstack:backup the step turns the timers off", async () => {
        const res = await deploy(
            "bk2",
            {
                ...oneDomain(),
                backup: { sftp: { host: "u1.your-storagebox.de", user: "u1", path: "mail", hostKey: STORAGE_BOX_KEY } },
            } as RawConfig,
            undefined,
            {
                backupPassword: BACKUP_PASSWORD,
                backupSshPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----",
            },
        );
        expect(res.resources.filter((r) => r.type === PRIVATE_KEY && r.name === "bk2-backup-ssh-key")).toEqual([]);
        expect(res.outputs.backupSshPublicKey).toBeUndefined();
        const off = await deploy("bk3", oneDomain());
        const env = bundleFile(
            find(off.resources, COMMAND, "bk3-provision-backup").inputs.stdin,
            "/etc/mailstack/backup/env",
        );
        expect(env).not.toContain("RESTIC_REPOSITORY");
    });
});

const records = (resources: RecordedResource[]) => resources.filter((r) => r.type === DNS_RECORD);

describe("one domain", () => {
    let res: Awaited<ReturnType<typeof deploy>>;
    beforeAll(async () => {
        res = await deploy("one", oneDomain());
    });

    test("the deploy key reaches Hetzner exactly as Hetzner stores it: no trailing newline", () => {
        const key = find(res.resources, HCLOUD.sshKey, "one-deploy-key").inputs.publicKey;
        expect(key).toMatch(/^ssh-ed25519 [A-Za-z0-9+/]+=*$/);
    });

    test("no resource input makes a provider warn", () => {
        expect(providerWarnings.filter((w) => w.name.startsWith("one-"))).toEqual([]);
    });

    test("the firewall opens the mail ports to all, SSH only to the deployers, and no 110/143", () => {
        const rules: any[] = find(res.resources, HCLOUD.firewall, "one-firewall").inputs.rules;
        const inbound = rules.filter((r) => r.direction === "in" && r.protocol === "tcp");
        expect(inbound.map((r) => r.port).sort()).toEqual([
            "22",
            "25",
            "4190",
            "443",
            "465",
            "587",
            "80",
            "993",
            "995",
        ]);
        for (const r of inbound.filter((r) => r.port !== "22")) expect(r.sourceIps).toEqual(["0.0.0.0/0", "::/0"]);
        expect(inbound.find((r) => r.port === "22").sourceIps).toEqual(["203.0.113.7/32"]);
        expect(rules.some((r) => r.direction === "in" && r.protocol === "icmp")).toBe(true);
        const outbound = rules.filter((r) => r.direction === "out").map((r) => `${r.protocol}/${r.port ?? "-"}`);
        // Without a relay, no submission ports outbound: only what the host itself needs.
        expect(outbound.sort()).toEqual(["icmp/-", "tcp/25", "tcp/443", "tcp/53", "tcp/80", "udp/123", "udp/53"]);
    });

    test("the addresses are primary IPs that outlive the server, with PTRs to the hostname", () => {
        const ips = res.resources.filter((r) => r.type === HCLOUD.primaryIp);
        expect(ips.map((r) => r.inputs.type).sort()).toEqual(["ipv4", "ipv6"]);
        for (const ip of ips) {
            expect(ip.inputs).toMatchObject({ autoDelete: false, deleteProtection: true });
            // The server assigns the IP (publicNets); assigneeType alone makes the provider warn.
            expect(ip.inputs.assigneeType).toBeUndefined();
        }
        const ptrs = res.resources.filter((r) => r.type === HCLOUD.rdns);
        expect(ptrs.map((r) => [r.inputs.ipAddress, r.inputs.dnsPtr]).sort()).toEqual([
            ["192.0.2.25", "mail.nathabee.de"],
            ["2001:db8:25::1", "mail.nathabee.de"],
        ]);
        expect(res.outputs.ipv6).toBe("2001:db8:25::1");
    });

    test("the server is debian-13 with delete and rebuild protection, the deploy key, the firewall and both IPs", () => {
        const server = find(res.resources, HCLOUD.server, "one-server").inputs;
        expect(server).toMatchObject({
            image: "debian-13",
            serverType: "cx23",
            location: "nbg1",
            deleteProtection: true,
            rebuildProtection: true,
            // A deletion (replacement) shuts the OS down first: the queue and volume are flushed.
            shutdownBeforeDeletion: true,
            keepDisk: true,
        });
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
        expect(Buffer.byteLength(userData)).toBeLessThanOrEqual(USER_DATA_LIMIT_BYTES);
        expect(userData).not.toContain(SECRET_PASSWORD);
        expect(userData).not.toMatch(/BLF-CRYPT|\$2b\$/);
        expect(userData).not.toContain("generated-password");
        // Its one private key is the provisional host key, which the host-key step replaces.
        const doc = parse(userData);
        const provisional = find(res.resources, PRIVATE_KEY, "one-provisional-host-key");
        expect(provisional.inputs.algorithm).toBe("ED25519");
        expect(doc.ssh_keys.ed25519_private).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----\n/);
        expect(doc.ssh_genkeytypes).toEqual(["ed25519"]);
        delete doc.ssh_keys;
        expect(stringify(doc)).not.toContain("PRIVATE KEY");
    });

    test("every SSH connection pins the host key: the provisional one for host-key, the replaced one after", () => {
        const userData = parse(find(res.resources, HCLOUD.server, "one-server").inputs.userData);
        const step = (role: string) => find(res.resources, COMMAND, `one-provision-${role}`).inputs;
        expect(step("host-key").connection.hostKey).toBe(userData.ssh_keys.ed25519_public);
        expect(step("host-key").connection.hostKey).toMatch(/^ssh-ed25519 \S+$/);
        expect(step("host-key").create).toBe(HOST_KEY_COMMAND);
        for (const c of res.resources.filter((r) => r.type === COMMAND && r.name !== "one-provision-host-key"))
            expect([c.name, c.inputs.connection.hostKey]).toEqual([c.name, SERVER_HOST_KEY]);
        expect(res.outputs.sshHostKey).toBe(SERVER_HOST_KEY);
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
        const get = (name: string, type: string) =>
            dns.find((r) => r.inputs.name === name && r.inputs.type === type)?.inputs;
        expect(get("nathabee.de", "MX")).toMatchObject({ content: "mail.nathabee.de", priority: 10 });
        expect(get("mail.nathabee.de", "A")).toMatchObject({ content: "192.0.2.25" });
        expect(get("mail.nathabee.de", "AAAA")).toMatchObject({ content: "2001:db8:25::1" });
        expect(get("nathabee.de", "TXT")).toMatchObject({ content: '"v=spf1 mx -all"' });
        expect(get("mail.nathabee.de", "TXT")).toMatchObject({ content: '"v=spf1 a -all"' });
        expect(get("_dmarc.nathabee.de", "TXT")).toMatchObject({
            content: '"v=DMARC1; p=quarantine; rua=mailto:postmaster@nathabee.de; adkim=r; aspf=r"',
        });
        expect(get("_smtp._tls.nathabee.de", "TXT")).toMatchObject({
            content: '"v=TLSRPTv1; rua=mailto:postmaster@nathabee.de"',
        });
        expect(get("_submission._tcp.nathabee.de", "SRV")).toMatchObject({
            priority: 10,
            data: { priority: 10, weight: 1, port: 587, target: "mail.nathabee.de" },
        });
        expect(get("_imap._tcp.nathabee.de", "SRV")).toMatchObject({
            priority: 0,
            data: { priority: 0, weight: 0, port: 0, target: "." },
        });
        for (const r of dns.filter((x) => x.inputs.type === "SRV"))
            expect(r.inputs.priority).toBe(r.inputs.data.priority);
        expect(
            invokes.filter((i) => i.token === "cloudflare:index/getZone:getZone").map((i) => i.args.filter.name),
        ).toContain("nathabee.de");
    });

    test("the CAA records are data {flags, tag, value} as Cloudflare's provider wants them, with no content", () => {
        const caa = records(res.resources).filter((r) => r.inputs.type === "CAA");
        expect(caa.map((r) => [r.inputs.name, r.inputs.data, r.inputs.content])).toEqual([
            ["nathabee.de", { flags: 0, tag: "issue", value: "letsencrypt.org" }, undefined],
            ["nathabee.de", { flags: 0, tag: "iodef", value: "mailto:postmaster@nathabee.de" }, undefined],
        ]);
        expect(caa.every((r) => r.inputs.proxied === false && r.inputs.ttl === 3600)).toBe(true);
    });

    test("the mocks refuse the CAA shapes the provider refuses or shows as drift in every preview", () => {
        const good = { type: "CAA", data: { flags: 0, tag: "issue", value: "letsencrypt.org" } };
        expect(caaRecordProblem(good)).toBeUndefined();
        expect(caaRecordProblem({ ...good, content: '0 issue "letsencrypt.org"' })).toMatch(/content is computed/);
        expect(caaRecordProblem({ type: "CAA", content: '0 issue "letsencrypt.org"' })).toMatch(/content/);
        expect(caaRecordProblem({ type: "CAA", data: { ...good.data, flags: "0" } })).toMatch(/flags must be a number/);
        expect(caaRecordProblem({ type: "CAA", data: { ...good.data, flags: 256 } })).toMatch(/flags/);
        expect(caaRecordProblem({ type: "CAA", data: { ...good.data, tag: "issuer" } })).toMatch(/not a CAA tag/);
        expect(caaRecordProblem({ type: "CAA", data: { ...good.data, value: '"letsencrypt.org"' } })).toMatch(
            /bare value/,
        );
    });

    test("the DKIM TXT record is the public part of the domain's key", async () => {
        const key = find(res.resources, PRIVATE_KEY, "one-dkim-nathabee.de-mail");
        expect(key.inputs).toMatchObject({ algorithm: "RSA", rsaBits: 2048 });
        // The key of a stack deployed before keys were named by selector stays the same key.
        expect(res.options.find((o) => o.name === "one-dkim-nathabee.de-mail")?.aliasNames).toEqual([
            "one-dkim-nathabee.de",
        ]);
        const published = records(res.resources).find((r) => r.inputs.name === "mail._domainkey.nathabee.de")!.inputs
            .content;
        const { createPublicKey } = await import("node:crypto");
        const fromDns = txtValue(published).replace(/^v=DKIM1; k=rsa; p=/, "");
        const der = createPublicKey({ key: Buffer.from(fromDns, "base64"), format: "der", type: "spki" });
        const installed: string = find(res.resources, COMMAND, "one-provision-dkim").inputs.stdin;
        // The private key that goes to the host belongs to the published public key.
        const privatePem = bundleFile(installed, "/etc/opendkim/keys/nathabee.de.mail.private");
        expect(privatePem).toContain("PRIVATE KEY");
        const { createPrivateKey } = await import("node:crypto");
        const derived = createPublicKey(createPrivateKey(privatePem!)).export({ type: "spki", format: "der" });
        expect(Buffer.compare(derived, der.export({ type: "spki", format: "der" }))).toBe(0);
    });

    test("secrets travel only as command stdin, never in a command's text", () => {
        const commands = res.resources.filter((r) => r.type === COMMAND);
        expect(commands.map((c) => c.name).sort()).toEqual(
            [
                "one-provision-host-key",
                "one-provision-first-boot",
                "one-provision-packages",
                "one-provision-host-config",
                "one-provision-dkim",
                "one-provision-mail-data",
                "one-provision-mail-volume",
                "one-provision-certificate",
                "one-provision-backup",
            ].sort(),
        );
        for (const c of commands) {
            expect(c.inputs.create).not.toContain("PRIVATE KEY");
            expect(c.inputs.create).not.toContain(SECRET_PASSWORD);
            expect(c.inputs.create).not.toMatch(/\$2b\$/);
            expect(c.inputs.connection).toMatchObject({ host: "192.0.2.25", user: "root" });
            expect(c.inputs.triggers[0]).toEqual(expect.any(String));
        }
        for (const step of ["dkim", "mail-data"])
            expect(find(res.resources, COMMAND, `one-provision-${step}`).secretInputs).toContain("stdin");
        const mailData: string = find(res.resources, COMMAND, "one-provision-mail-data").inputs.stdin;
        expect(mailData).toMatch(/^mailstack-bundle 1\n/);
        expect(mailData).toMatch(/\nend\n?$/);
        const users = bundleFile(mailData, "/etc/dovecot/configured-users");
        expect(users).toBeDefined();
        expect(users).toMatch(/^evaluation@nathabee\.de:\{BLF-CRYPT\}\$2b\$12\$/m);
        expect(mailData).not.toContain(SECRET_PASSWORD);
    });

    test("the configured password hashes to a bcrypt hash Dovecot can verify, and generated ones are exported", async () => {
        const bcrypt = (await import("bcryptjs")).default;
        const users = bundleFile(
            find(res.resources, COMMAND, "one-provision-mail-data").inputs.stdin,
            "/etc/dovecot/configured-users",
        )!;
        const line = users.split("\n").find((l) => l.startsWith("evaluation@nathabee.de:"))!;
        const hash = line.split(":")[1].replace("{BLF-CRYPT}", "");
        expect(bcrypt.compareSync(SECRET_PASSWORD, hash)).toBe(true);
        expect(Object.keys(res.outputs.mailboxPasswords)).toEqual(["freebus@nathabee.de"]);
    });

    test("the server, the volume and the primary IPs are protected in Pulumi too, and a new user-data never replaces the server", () => {
        const opts = (type: string) => res.options.filter((o) => o.type === type);
        expect(opts(HCLOUD.server).map((o) => o.protect)).toEqual([true]);
        expect(opts(HCLOUD.volume).map((o) => o.protect)).toEqual([true]);
        expect(opts(HCLOUD.primaryIp).map((o) => o.protect)).toEqual([true, true]);
        expect(opts(HCLOUD.server)[0].ignoreChanges).toEqual(expect.arrayContaining(["userData", "sshKeys"]));
        // A new image (Debian's next release) is a replacement the protection stops at planning,
        // never ignored: Pulumi would keep the old image even for --replace (pulumi/pulumi#2657).
        expect(opts(HCLOUD.server)[0].ignoreChanges).not.toContain("image");
        expect(opts(HCLOUD.server)[0].replaceOnChanges).toEqual(["image"]);
        // A replacement frees the name, the primary IPs and the volume before the new server
        // asks for them (create-before-delete could never succeed here).
        expect(opts(HCLOUD.server)[0].deleteBeforeReplace).toBe(true);
        expect(opts("hcloud:index/volumeAttachment:VolumeAttachment")[0].deleteBeforeReplace).toBe(true);
    });

    test("components are mailstack:<module>:<Name>, and every resource is a child of one", () => {
        const components = res.options.filter((o) => o.type.startsWith("mailstack:"));
        expect(components.map((o) => o.type).sort()).toEqual(
            [
                "mailstack:dkim:DkimKeys",
                "mailstack:dns:MailDns",
                "mailstack:host:MailHost",
                "mailstack:stack:MailStack",
                "mailstack:provisioning:MailProvisioning",
            ].sort(),
        );
        const orphans = res.options.filter(
            (o) => o.type !== "mailstack:stack:MailStack" && !o.parentType?.startsWith("mailstack:"),
        );
        expect(orphans.map((o) => `${o.type} ${o.name}`)).toEqual([]);
        // Every recorded resource went through the transformation: nothing escaped the tree.
        expect(res.options.map((o) => `${o.type} ${o.name}`).sort()).toEqual(
            res.resources.map((r) => `${r.type} ${r.name}`).sort(),
        );
    });

    test("each component registers its outputs once, after its last child", () => {
        const components = res.options.filter((o) => o.type.startsWith("mailstack:"));
        for (const c of components) {
            const calls = registeredOutputs.filter((r) => r.component === c.resource);
            const children = res.options.filter((o) => o.parent === c.resource);
            expect({ component: c.type, calls: calls.length }).toEqual({ component: c.type, calls: 1 });
            expect(children.length).toBeGreaterThan(0);
            const late = children.filter((o) => o.seq > calls[0].seq).map((o) => `${o.type} ${o.name}`);
            expect({ component: c.type, late }).toEqual({ component: c.type, late: [] });
        }
    });

    test("the generated passwords and the deploy key are secret outputs; client settings name the host and ports", async () => {
        expect(await pulumi.isSecret(res.stack.mailboxPasswords)).toBe(true);
        expect(await pulumi.isSecret(res.stack.deployPrivateKey)).toBe(true);
        expect(res.stack.clientSettings).toEqual({
            username: "the full email address, e.g. evaluation@nathabee.de",
            imap: { host: "mail.nathabee.de", port: 993, security: "SSL/TLS" },
            pop3: { host: "mail.nathabee.de", port: 995, security: "SSL/TLS" },
            smtp: [
                { host: "mail.nathabee.de", port: 587, security: "STARTTLS" },
                { host: "mail.nathabee.de", port: 465, security: "SSL/TLS" },
            ],
            managesieve: { host: "mail.nathabee.de", port: 4190, security: "STARTTLS" },
            appleProfiles: { "nathabee.de": "https://autoconfig.nathabee.de/mailstack.mobileconfig" },
        });
    });

    test("every provisioning step is triggered by the server's id, so a replaced server re-runs them all", () => {
        const serverId = find(res.resources, HCLOUD.server, "one-server").id;
        const commands = res.resources.filter((r) => r.type === COMMAND);
        expect(commands).toHaveLength(9);
        for (const c of commands) expect(c.inputs.triggers[0]).toBe(serverId);
    });

    test("the _mta-sts id is published only after host-config and certificate serve its policy, and the certificate waits for every name it covers", () => {
        // The mocks register a resource once everything it depends on is registered: the
        // order of `created` is the order pulumi up would create them in.
        const order = res.resources.map((r) => r.name);
        const at = (name: string) => {
            const i = order.indexOf(name);
            expect([name, i >= 0]).toEqual([name, true]);
            return i;
        };
        const record = (name: string, type: string) =>
            res.resources.findIndex((r) => r.type === DNS_RECORD && r.inputs.name === name && r.inputs.type === type);
        const mtaSts = record("_mta-sts.nathabee.de", "TXT");
        expect(mtaSts).toBeGreaterThan(at("one-provision-host-config"));
        expect(mtaSts).toBeGreaterThan(at("one-provision-certificate"));
        // The certificate step names each record of a name it covers among what it waits for
        // (registered earlier is not enough: a CNAME Cloudflare has not created yet fails HTTP-01).
        const certificate = res.options.find((o) => o.name === "one-provision-certificate")!;
        for (const [name, type] of [
            ["mail.nathabee.de", "A"],
            ["mail.nathabee.de", "AAAA"],
            ["autoconfig.nathabee.de", "CNAME"],
            ["autodiscover.nathabee.de", "CNAME"],
            ["mta-sts.nathabee.de", "CNAME"],
        ]) {
            const key = `one-dns-nathabee.de-${type.toLowerCase()}-${name}`;
            const resource = res.options.find((o) => o.name === key)?.resource;
            expect([key, resource !== undefined && certificate.dependsOnList.includes(resource)]).toEqual([key, true]);
        }
    });

    test("dnsRecords output lists every record readably", () => {
        expect(res.outputs.dnsRecords).toEqual(
            expect.arrayContaining(["nathabee.de MX 10 mail.nathabee.de", "mail.nathabee.de A 192.0.2.25"]),
        );
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

        const key = (r: RecordedResource) => `${r.inputs.name} ${r.inputs.type}`;
        const before = records(a.resources).map(key);
        const after = records(b.resources).map(key);
        // Nothing of the first domain changed...
        const strippedInputs = (l: RecordedResource[]) => Object.fromEntries(l.map((r) => [key(r), r.inputs]));
        const first = strippedInputs(records(a.resources));
        const second = strippedInputs(records(b.resources));
        for (const k of before) expect([k, second[k]]).toEqual([k, first[k]]);
        // ...and the new one got exactly its mail records, in its own zone.
        expect(after.filter((k) => !before.includes(k)).sort()).toEqual(
            [
                "example.org MX",
                "example.org TXT",
                "mail._domainkey.example.org TXT",
                "_dmarc.example.org TXT",
                "_smtp._tls.example.org TXT",
                "_submission._tcp.example.org SRV",
                "_submissions._tcp.example.org SRV",
                "_imaps._tcp.example.org SRV",
                "_pop3s._tcp.example.org SRV",
                "_sieve._tcp.example.org SRV",
                "_imap._tcp.example.org SRV",
                "_pop3._tcp.example.org SRV",
                "_mta-sts.example.org TXT",
                "autoconfig.example.org CNAME",
                "autodiscover.example.org CNAME",
                "mta-sts.example.org CNAME",
                "example.org CAA",
                "example.org CAA",
            ].sort(),
        );
        expect(after.length).toBe(before.length + 18);
        expect(
            records(b.resources)
                .filter((r) => r.inputs.name.endsWith("example.org"))
                .every((r) => r.inputs.zoneId === "zone-of-example.org"),
        ).toBe(true);
        const added = (name: string, type: string) => second[`${name} ${type}`];
        expect(added("example.org", "MX")).toMatchObject({
            content: "mail.nathabee.de",
            priority: 10,
            proxied: false,
            ttl: 3600,
        });
        expect(added("example.org", "TXT")).toMatchObject({ content: '"v=spf1 mx -all"' });
        expect(added("_dmarc.example.org", "TXT")).toMatchObject({
            content: '"v=DMARC1; p=quarantine; rua=mailto:postmaster@example.org; adkim=r; aspf=r"',
        });
        // A new domain brings a DKIM key of its own.
        expect(bRes.filter((r) => r.type === PRIVATE_KEY).map((r) => r.name)).toContain("-dkim-example.org-mail");

        // Its client names point at the mail host, and the MTA-STS id is the first domain's:
        // one policy for every domain.
        for (const label of ["autoconfig", "autodiscover", "mta-sts"])
            expect(added(`${label}.example.org`, "CNAME")).toMatchObject({
                content: "mail.nathabee.de",
                proxied: false,
            });
        expect(added("_mta-sts.example.org", "TXT").content).toBe(first["_mta-sts.nathabee.de TXT"].content);

        // Everything else is untouched: host resources and the first-boot and host-config
        // steps; only the dkim, mail-data and certificate steps get new input (the
        // certificate's names: the new domain's three added, nothing else).
        const changing = new Set([
            `${COMMAND} -provision-dkim`,
            `${COMMAND} -provision-mail-data`,
            `${COMMAND} -provision-certificate`,
        ]);
        const rest = (l: typeof aRes) =>
            Object.fromEntries(
                l
                    .filter((r) => r.type !== DNS_RECORD && r.type !== PRIVATE_KEY && !r.type.startsWith("random:"))
                    .map((r) => [`${r.type} ${r.name}`, r.inputs] as const)
                    .filter(([k]) => !changing.has(k)),
            );
        const restA = rest(aRes);
        const restB = rest(bRes);
        expect(Object.keys(restB).filter((k) => !(k in restA))).toEqual(["mailstack:dns:MailDns -dns-example.org"]);
        expect(Object.keys(restA).filter((k) => !(k in restB))).toEqual([]);
        expect(Object.keys(restA)).toEqual(
            expect.arrayContaining([`${COMMAND} -provision-first-boot`, `${COMMAND} -provision-host-config`]),
        );
        // One line per certificate: the lineage, then its names; the new domain's join the host's.
        const certificates = (l: typeof aRes) =>
            (l.find((r) => r.name === "-provision-certificate")!.inputs.stdin as string)
                .trim()
                .split("\n")
                .map((line) => line.split(" "));
        expect(certificates(bRes)).toEqual([
            [...certificates(aRes)[0], "autoconfig.example.org", "autodiscover.example.org", "mta-sts.example.org"],
        ]);
        for (const k of Object.keys(restA)) expect([k, restB[k]]).toEqual([k, restA[k]]);
        for (const k of changing)
            expect(bRes.find((r) => `${r.type} ${r.name}` === k)!.inputs.stdin).not.toEqual(
                aRes.find((r) => `${r.type} ${r.name}` === k)!.inputs.stdin,
            );
    });
});

describe("relay", () => {
    test("a relay given by IP address reaches main.cf with its pinned fingerprint, never with unchecked TLS", async () => {
        const fingerprint =
            "a0:9d:d3:66:e7:50:6d:e1:86:2a:8a:1b:40:ed:6b:72:90:a0:90:72:89:e9:83:f2:58:83:c2:1a:b5:02:7f:e4";
        const raw = {
            ...oneDomain(),
            relay: { host: "192.0.2.99", port: 587, username: "mailer", tlsFingerprint: fingerprint },
        };
        const res = await deploy("relayip", raw, "relay-secret-value-123");
        const stdin: string = find(res.resources, COMMAND, "relayip-provision-host-config").inputs.stdin;
        const mainCf = bundleFile(stdin, "/etc/postfix/main.cf")!;
        expect(mainCf).toMatch(/^smtp_tls_security_level = fingerprint$/m);
        expect(mainCf).toContain(`smtp_tls_fingerprint_cert_match = ${fingerprint.toUpperCase()}\n`);
    });

    // Hetzner drops every outbound packet no rule allows once one outbound rule exists.
    test.each([587, 465, 2525])("the firewall lets the server reach a relay on port %i", async (port) => {
        const raw = { ...oneDomain(), relay: { host: "smtp.relay.example", port, username: "mailer" } };
        const res = await deploy(`relayport${port}`, raw, "relay-secret-value-123");
        const rules: any[] = find(res.resources, HCLOUD.firewall, `relayport${port}-firewall`).inputs.rules;
        const out = rules.filter((r) => r.direction === "out" && r.protocol === "tcp").map((r) => r.port);
        expect(out).toContain(String(port));
    });

    test("relay credentials reach the server only through mail-data's stdin", async () => {
        const raw = { ...oneDomain(), relay: { host: "smtp.relay.example", port: 587, username: "mailer" } };
        const res = await deploy("relay", raw, "relay-secret-value-123");
        for (const r of res.resources) {
            if (r.name === "relay-provision-mail-data") continue;
            expect(JSON.stringify(r.inputs)).not.toContain("relay-secret-value-123");
        }
        const stdin: string = find(res.resources, COMMAND, "relay-provision-mail-data").inputs.stdin;
        const decoded = parseBundle(stdin)
            .map((f) => f.content)
            .join("\n");
        expect(decoded).toContain("relay-secret-value-123");
    });
});

describe("adding a mailbox", () => {
    test("changes only the mail-data step's input: no other command, server, DNS record or key changes", async () => {
        const withExtra = (): RawConfig => {
            const raw = oneDomain();
            const [d] = raw.domains as { mailboxes: string[] }[];
            return { ...raw, domains: [{ ...d, mailboxes: [...d.mailboxes, "newbie"] }] };
        };
        const a = await deploy("mba", oneDomain());
        const b = await deploy("mbb", withExtra());
        const strip = (list: RecordedResource[], prefix: string) =>
            Object.fromEntries(
                list
                    .filter(
                        (r) =>
                            r.type !== "random:index/randomPassword:RandomPassword" &&
                            r.type !== "random:index/randomString:RandomString",
                    )
                    .map((r) => [`${r.type} ${r.name.slice(prefix.length)}`, r.inputs]),
            );
        const ra = strip(a.resources, "mba");
        const rb = strip(b.resources, "mbb");
        const mailData = `${COMMAND} -provision-mail-data`;
        expect(rb[mailData].stdin).not.toEqual(ra[mailData].stdin);
        expect(bundleFile(rb[mailData].stdin, "/etc/postfix/mailstack/virtual-mailboxes")).toContain(
            "newbie@nathabee.de",
        );
        const without = (o: Record<string, unknown>) =>
            Object.fromEntries(Object.entries(o).filter(([k]) => k !== mailData));
        const restA = without(ra);
        const restB = without(rb);
        expect(Object.keys(restB).sort()).toEqual(Object.keys(restA).sort());
        for (const k of Object.keys(restA)) expect([k, restB[k]]).toEqual([k, restA[k]]);
        expect(Object.keys(b.outputs.mailboxPasswords).sort()).toEqual(["freebus@nathabee.de", "newbie@nathabee.de"]);
    });
});

test("the server's IPv6 is ::1 of its primary IP's /64, however the provider spells the network", () => {
    expect(serverIpv6("2a01:4f8:c012:abcd::", "2a01:4f8:c012:abcd::/64")).toBe("2a01:4f8:c012:abcd::1");
    expect(serverIpv6("2a01:4f8:c012:abcd::/64", undefined)).toBe("2a01:4f8:c012:abcd::1");
    expect(serverIpv6("2a01:4f8:c012:abcd::", "")).toBe("2a01:4f8:c012:abcd::1");
    expect(() => serverIpv6("", "")).toThrow(/no IPv6 network/);
});

// The stdin of scripts/apply-bundle.sh, read back with the renderers' own parser.
function bundleFile(bundle: string, path: string): string | undefined {
    return parseBundle(bundle).find((f) => f.path === path)?.content;
}

test("a long domain name still gives record comments within Cloudflare's free-plan 100 characters", async () => {
    const long = `${"a".repeat(50)}.${"b".repeat(40)}.example`;
    const base = oneDomain();
    const raw: RawConfig = {
        ...base,
        domains: [
            ...(base.domains as object[]),
            { name: long, mailboxes: ["someone"], aliases: { postmaster: [`someone@${long}`] } },
        ],
    };
    const res = await deploy("longname", raw);
    const comments: string[] = records(res.resources).map((r) => r.inputs.comment);
    expect(comments.length).toBeGreaterThan(10);
    for (const c of comments) expect([...c].length).toBeLessThanOrEqual(100);
});

describe("password hashing", () => {
    test("evaluating the program (what every preview does) hashes nothing: hashes are made by resources, once per change", async () => {
        const bcrypt = (await import("bcryptjs")).default;
        const spies = [jest.spyOn(bcrypt, "hashSync"), jest.spyOn(bcrypt, "hash"), jest.spyOn(bcrypt, "genSaltSync")];
        try {
            await deploy("nohash", oneDomain());
            for (const spy of spies) expect(spy).not.toHaveBeenCalled();
        } finally {
            for (const spy of spies) spy.mockRestore();
        }
    });

    test("a configured password is hashed by a local command whose inputs only change with the password or salt", async () => {
        const a = await deploy("hasha", oneDomain());
        const b = await deploy("hashb", oneDomain());
        const hashOf = (res: Awaited<ReturnType<typeof deploy>>, prefix: string) =>
            find(res.resources, "command:local:Command", `${prefix}-hash-evaluation@nathabee.de`);
        const ha = hashOf(a, "hasha");
        expect(ha.inputs.stdin).toBe(SECRET_PASSWORD);
        expect(ha.secretInputs).toContain("stdin");
        expect(ha.inputs.create).not.toContain(SECRET_PASSWORD);
        expect(ha.inputs.environment.BCRYPT_SALT).toMatch(/^[./A-Za-z0-9]{22}$/);
        expect(ha.inputs.logging).toBe("none");
        // Same config, same inputs: the engine has nothing to re-run.
        expect(hashOf(b, "hashb").inputs).toEqual(ha.inputs);
        // Generated passwords use the random provider's own hash; no command for them.
        expect(a.resources.some((r) => r.name === "hasha-hash-freebus@nathabee.de")).toBe(false);
    });

    test("the hash script gives exactly render/plan/passwords.ts's hash (the lab's), for the same password and salt", async () => {
        const { execFileSync } = await import("node:child_process");
        const { localNodeCommand } = await import("../scripts/commands");
        const { hashPassword } = await import("../render/plan/passwords");
        const salt = "abcdefghijklmnopqrstuv";
        const out = execFileSync("/bin/sh", ["-c", localNodeCommand("hash-password.cjs")], {
            input: SECRET_PASSWORD,
            env: { ...process.env, BCRYPT_SALT: salt },
            cwd: `${__dirname}/..`,
        }).toString();
        expect(out).toBe(hashPassword(SECRET_PASSWORD, salt));
    });
});

describe("zone pre-flight", () => {
    // Cloudflare Email Routing leaves three MX records and an SPF TXT at the apex.
    const emailRouting = (zone: string, domain: string) => [
        { id: `${zone}-mx1`, name: domain, type: "MX", content: "route1.mx.cloudflare.net" },
        { id: `${zone}-mx2`, name: domain, type: "MX", content: "route2.mx.cloudflare.net" },
        { id: `${zone}-spf`, name: domain, type: "TXT", content: '"v=spf1 include:_spf.mx.cloudflare.net ~all"' },
        { id: `${zone}-dmarc`, name: `_dmarc.${domain}`, type: "TXT", content: '"v=DMARC1; p=none"' },
        { id: `${zone}-www`, name: `www.${domain}`, type: "A", content: "198.51.100.80" },
    ];
    afterEach(() => {
        for (const k of Object.keys(zoneRecords)) delete zoneRecords[k];
    });

    test("records mailstack does not manage stop the deploy, each named, before anything is declared", async () => {
        zoneRecords["zone-of-nathabee.de"] = emailRouting("z", "nathabee.de");
        const before = resourcesOf("zoneconflict").length;
        const error = await deploy("zoneconflict", oneDomain()).catch((e: Error) => e);
        expect(pulumi.RunError.isInstance(error)).toBe(true);
        const message = (error as Error).message;
        expect(message).toContain(
            'MX nathabee.de "route1.mx.cloudflare.net" (id z-mx1) that mailstack does not manage: mail would be split',
        );
        expect(message).toContain("(id z-mx2)");
        expect(message).toContain(
            "(id z-spf) that mailstack does not manage: two SPF records are a permanent SPF error",
        );
        expect(message).toContain("(id z-dmarc)");
        expect(message).toContain("set mailstack:domains[0].takeOverRecords to true");
        expect(message).not.toContain("www.nathabee.de");
        expect(resourcesOf("zoneconflict").length).toBe(before);
    });

    /** A record as Cloudflare lists it. */
    const listed = (id: string, name: string, type: string, content: string, comment?: string) => ({
        id,
        name,
        type,
        content,
        ...(comment ? { comment } : {}),
    });

    test("the records this stack's state made are no conflict, nor those of before comments named the stack (an upgrade)", async () => {
        zoneRecords["zone-of-nathabee.de"] = [
            listed("legacy", "nathabee.de", "MX", "mail.nathabee.de", "mailstack: mail for nathabee.de"),
            listed("ours", "_dmarc.nathabee.de", "TXT", '"v=DMARC1; p=quarantine"', `${OURS}DMARC policy and reports`),
            listed("www", "www.nathabee.de", "A", "198.51.100.80"),
        ];
        await expect(deploy("zoneours", oneDomain())).resolves.toBeDefined();
    });

    test("a mailstack record of another stack, or of this stack's lost state, at a name and type of ours is a conflict with its fix", async () => {
        const old = "mailstack:mailstack/old#0badcafe: ";
        zoneRecords["zone-of-nathabee.de"] = [
            // Another stack that once served the domain.
            listed("other-mx", "nathabee.de", "MX", "mail.old.example", `${old}mail for nathabee.de`),
            // This stack, made by a state that is gone (lost, or the stack removed and made again).
            listed(
                "lost-dkim",
                "mail._domainkey.nathabee.de",
                "TXT",
                '"v=DKIM1; k=rsa; p=AAAA"',
                "mailstack:mailstack/test#deadbeef: DKIM public key of the key OpenDKIM signs with",
            ),
            // Another stack's record at a name this stack does not publish: none of its business.
            listed("other-host", "mail2.nathabee.de", "A", "198.51.100.25", `${old}mail host IPv4`),
        ];
        const error = await deploy("zoneforeign", oneDomain()).catch((e: Error) => e);
        expect(pulumi.RunError.isInstance(error)).toBe(true);
        const problems = (error as Error).message.split("\n").slice(1);
        expect(problems).toEqual([
            expect.stringContaining(
                'MX nathabee.de "mail.old.example" (id other-mx) made by the stack mailstack/old, and this stack\'s state does not hold it: creating ours beside it fails (Cloudflare 81058',
            ),
            expect.stringContaining(
                "(id lost-dkim) made by this stack (mailstack/test) under another state (state id deadbeef, this state's is 5a7e0001): a lost or removed state",
            ),
        ]);
        for (const p of problems)
            expect(p).toContain("Delete it in Cloudflare, or set mailstack:domains[0].takeOverRecords to true");

        const withTakeOver = oneDomain();
        withTakeOver.domains = [{ ...(withTakeOver.domains as object[])[0], takeOverRecords: true }];
        const res = await deploy("zoneforeign2", withTakeOver);
        expect(Object.fromEntries(res.options.filter((o) => o.import).map((o) => [o.name, o.import]))).toEqual({
            "zoneforeign2-dns-nathabee.de-mx-nathabee.de": "zone-of-nathabee.de/other-mx",
            "zoneforeign2-dns-nathabee.de-txt-mail._domainkey.nathabee.de": "zone-of-nathabee.de/lost-dkim",
        });
    });

    test("every record's comment names the project, the stack and its state id, within 100 characters", async () => {
        const res = await deploy("zonecomments", oneDomain());
        const comments: string[] = records(res.resources).map((r) => r.inputs.comment);
        expect(comments.length).toBeGreaterThan(10);
        for (const c of comments) {
            expect(c.startsWith(OURS)).toBe(true);
            expect([...c].length).toBeLessThanOrEqual(100);
        }
        // Made once with the state, before the pre-flight, and kept in it.
        const owner = created.filter((r) => r.type === "random:index/randomId:RandomId" && r.name === "dns-owner");
        expect(owner.length).toBeGreaterThan(0);
        expect(owner[0].inputs).toEqual({ byteLength: 4 });
    });

    test("takeOverRecords adopts one record per record of ours and still refuses the extra MX", async () => {
        const withTakeOver = (): RawConfig => {
            const raw = oneDomain();
            const [d] = raw.domains as object[];
            return { ...raw, domains: [{ ...d, takeOverRecords: true }] };
        };
        zoneRecords["zone-of-nathabee.de"] = emailRouting("t", "nathabee.de");
        const error = await deploy("zonetake1", withTakeOver()).catch((e: Error) => e);
        expect((error as Error).message).toContain("(id t-mx2), which mailstack cannot take over");
        expect((error as Error).message).not.toContain("t-spf");

        zoneRecords["zone-of-nathabee.de"] = emailRouting("t", "nathabee.de").filter((r) => r.id !== "t-mx2");
        const res = await deploy("zonetake2", withTakeOver());
        const imported = Object.fromEntries(res.options.filter((o) => o.import).map((o) => [o.name, o.import]));
        expect(imported).toEqual({
            // As `pulumi import cloudflare:index/dnsRecord:DnsRecord` takes it: <zone_id>/<record id>.
            "zonetake2-dns-nathabee.de-mx-nathabee.de": "zone-of-nathabee.de/t-mx1",
            "zonetake2-dns-nathabee.de-txt-nathabee.de": "zone-of-nathabee.de/t-spf",
            "zonetake2-dns-nathabee.de-txt-_dmarc.nathabee.de": "zone-of-nathabee.de/t-dmarc",
        });
    });
});

describe("Cloudflare's request budget", () => {
    afterEach(() => {
        for (const k of Object.keys(zoneRecords)) delete zoneRecords[k];
    });

    test("new domains over mailstack:rollout.newDomainsPerUp wait for the next up, said in a warning; a domain whose records exist is never left out", async () => {
        const three = (): RawConfig => {
            const raw = twoDomains();
            const extra = {
                name: "third.example",
                mailboxes: ["dora"],
                aliases: { postmaster: ["dora@third.example"] },
            };
            return { ...raw, domains: [...(raw.domains as object[]), extra], rollout: { newDomainsPerUp: 1 } };
        };
        const warn = jest.spyOn(pulumi.log, "warn").mockResolvedValue(undefined);
        try {
            const first = await deploy("budget1", three());
            expect(first.spec.domains.map((d) => d.name)).toEqual(["nathabee.de", "example.org"]);
            expect(new Set(records(first.resources).map((r) => r.inputs.zoneId))).toEqual(
                new Set(["zone-of-nathabee.de", "zone-of-example.org"]),
            );
            const mailData: string = find(first.resources, COMMAND, "budget1-provision-mail-data").inputs.stdin;
            expect(bundleFile(mailData, "/etc/postfix/mailstack/virtual-mailboxes")).not.toContain("third.example");
            expect(warn).toHaveBeenCalledWith(
                expect.stringMatching(
                    /^mailstack: 1 new domain waits for the next pulumi up \(third\.example\): Cloudflare allows 1200 API requests per 5 minutes per token, and this up makes about \d+ \(mailstack:rollout\.newDomainsPerUp is 1\)\. Run pulumi up again in 5 minutes to add them$/,
                ),
            );

            // The next up: example.org's records are there (this state's), so only third.example is new.
            warn.mockClear();
            zoneRecords["zone-of-example.org"] = [
                {
                    id: "held-mx",
                    name: "example.org",
                    type: "MX",
                    content: "mail.nathabee.de",
                    comment: `${OURS}mail for example.org goes to mail.nathabee.de`,
                },
            ];
            const second = await deploy("budget2", three());
            expect(second.spec.domains.map((d) => d.name)).toEqual(["nathabee.de", "example.org", "third.example"]);
            expect(warn).not.toHaveBeenCalled();
        } finally {
            warn.mockRestore();
        }
    });
});

describe("rotating a DKIM key", () => {
    /** nathabee.de signing with `selector`, with `retired` selectors still listed. */
    const rotated = (selector: string, retired: Record<string, string>): RawConfig => {
        const raw = oneDomain();
        const [d] = raw.domains as object[];
        return { ...raw, domains: [{ ...d, dkimSelector: selector, dkimRetiredSelectors: retired }] };
    };
    const dkimRecords = (resources: RecordedResource[]) =>
        records(resources)
            .filter((r) => r.inputs.name.includes("._domainkey."))
            .map((r) => [r.inputs.name, r.inputs.comment])
            .sort();
    const publicPem = (resources: RecordedResource[], name: string) =>
        find(resources, PRIVATE_KEY, name).inputs.publicKeyPem ?? "";

    test("a new selector gets a new key, published before it signs; the old one stays published (not installed) until its day, then record and key go", async () => {
        const before = await deploy("rot0", oneDomain());
        expect(dkimRecords(before.resources)).toEqual([
            ["mail._domainkey.nathabee.de", `${OURS}DKIM public key of the key OpenDKIM signs with`],
        ]);

        // The rotation: mail2 signs, mail stays published until 2026-12-09.
        const during = await deploy(
            "rot1",
            rotated("mail2", { mail: "2026-12-09" }),
            undefined,
            undefined,
            new Date("2026-12-02T12:00:00Z"),
        );
        expect(dkimRecords(during.resources)).toEqual([
            ["mail._domainkey.nathabee.de", `${OURS}retired DKIM key, no longer signing, published until 2026-12-09`],
            ["mail2._domainkey.nathabee.de", `${OURS}DKIM public key of the key OpenDKIM signs with`],
        ]);
        const keys = during.resources.filter((r) => r.type === PRIVATE_KEY && r.name.startsWith("rot1-dkim-"));
        expect(keys.map((k) => k.name).sort()).toEqual(["rot1-dkim-nathabee.de-mail", "rot1-dkim-nathabee.de-mail2"]);
        // The key of the deployment before the rotation was the one of `mail`: it keeps it.
        expect(during.options.find((o) => o.name === "rot1-dkim-nathabee.de-mail")?.aliasNames).toEqual([
            "rot1-dkim-nathabee.de",
        ]);
        expect(during.options.find((o) => o.name === "rot1-dkim-nathabee.de-mail2")?.aliasNames).toEqual([]);
        // Each record carries its own key.
        const content = (n: string) =>
            txtValue(records(during.resources).find((r) => r.inputs.name === n)!.inputs.content);
        const b64 = (pem: string) => pem.replace(/-----[A-Z ]+-----|\s/g, "");
        expect(content("mail2._domainkey.nathabee.de")).toContain(
            b64(publicPem(during.resources, "rot1-dkim-nathabee.de-mail2")),
        );
        expect(content("mail._domainkey.nathabee.de")).toContain(
            b64(publicPem(during.resources, "rot1-dkim-nathabee.de-mail")),
        );

        // OpenDKIM gets the new key alone and signs with mail2; the dkim step prunes the old key file.
        const dkimStep = find(during.resources, COMMAND, "rot1-provision-dkim").inputs.stdin as string;
        expect(parseBundle(dkimStep).map((f) => f.path)).toEqual([
            "/etc/opendkim/keys/nathabee.de.mail2.private",
            "/etc/opendkim/key.table",
            "/etc/opendkim/signing.table",
        ]);
        expect(bundleFile(dkimStep, "/etc/opendkim/signing.table")).toContain(
            "*@nathabee.de mail2._domainkey.nathabee.de\n",
        );
        expect(dkimStep).toContain("\nprune /etc/opendkim/keys *.private restart:opendkim\n");
        // ... and only after the new selector's record exists: the step depends on it.
        const record = during.options.find((o) => o.name === "rot1-dns-nathabee.de-txt-mail2._domainkey.nathabee.de")!;
        const step = during.options.find((o) => o.name === "rot1-provision-dkim")!;
        expect(step.dependsOnList).toContain(record.resource);

        // The day after its last day: the old record and key are gone; nothing else changes.
        const after = await deploy(
            "rot2",
            rotated("mail2", { mail: "2026-12-09" }),
            undefined,
            undefined,
            new Date("2026-12-10T00:00:01Z"),
        );
        expect(dkimRecords(after.resources)).toEqual([
            ["mail2._domainkey.nathabee.de", `${OURS}DKIM public key of the key OpenDKIM signs with`],
        ]);
        expect(
            after.resources.filter((r) => r.type === PRIVATE_KEY && r.name.startsWith("rot2-dkim-")).map((k) => k.name),
        ).toEqual(["rot2-dkim-nathabee.de-mail2"]);
        // Its last day still counts.
        const lastDay = await deploy(
            "rot3",
            rotated("mail2", { mail: "2026-12-09" }),
            undefined,
            undefined,
            new Date("2026-12-09T23:59:59Z"),
        );
        expect(dkimRecords(lastDay.resources)).toHaveLength(2);
    });

    test("a selector that signs cannot be retired too; a retirement date must be a date", () => {
        expect(() => buildSpec({ ...rotated("mail", { mail: "2026-12-09" }), passwords: {} })).toThrow(
            /mailstack:domains\[0\]\.dkimRetiredSelectors\.mail: is the signing selector/,
        );
        expect(() => buildSpec({ ...rotated("mail2", { mail: "next week" }), passwords: {} })).toThrow(
            /mailstack:domains\[0\]\.dkimRetiredSelectors\.mail: must be a date YYYY-MM-DD/,
        );
        expect(() => buildSpec({ ...rotated("mail2", { mail: "2026-13-40" }), passwords: {} })).toThrow(
            /dkimRetiredSelectors\.mail: is not a calendar date/,
        );
        expect(() => buildSpec({ ...rotated("mail2", { Bad_Selector: "2026-12-09" }), passwords: {} })).toThrow(
            /dkimRetiredSelectors/,
        );
    });
});

describe("firewall CIDRs", () => {
    test("an IPv6 CIDR written 2001:DB8:0:0::/48 reaches the firewall as Hetzner stores it, so no up shows a diff", async () => {
        const raw = { ...oneDomain(), sshAllowedCidrs: ["2001:DB8:0:0::/48", "203.0.113.7/32"] };
        const res = await deploy("cidrs", raw);
        const rules: any[] = find(res.resources, HCLOUD.firewall, "cidrs-firewall").inputs.rules;
        expect(rules.find((r) => r.direction === "in" && r.port === "22").sourceIps).toEqual([
            "2001:db8::/48",
            "203.0.113.7/32",
        ]);
    });
});
