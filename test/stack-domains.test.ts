// The Pulumi program under mocks: one domain, a second domain and a new mailbox, every resource
// recorded with its inputs and checked.

import {
    caaRecordProblem,
    find,
    providerWarnings,
    SERVER_HOST_KEY,
    invokes,
    registeredOutputs,
    type RecordedResource,
} from "./helpers/mocks";
import * as pulumi from "@pulumi/pulumi";
import { USER_DATA_LIMIT_BYTES } from "../render";
import { HOST_KEY_COMMAND } from "../render/plan/plan";
import { parse, stringify } from "yaml";
import { txtValue } from "../render/dns/text";
import { type RawConfig } from "../model";
import { oneDomain, twoDomains } from "./helpers/fixtures";
import {
    HCLOUD,
    DNS_RECORD,
    COMMAND,
    PRIVATE_KEY,
    SECRET_PASSWORD,
    deploy,
    records,
    bundleFile,
} from "./helpers/stack";

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
                "one-provision-import",
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
        expect(commands).toHaveLength(10);
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
                "_caldavs._tcp.example.org SRV",
                "_caldavs._tcp.example.org TXT",
                "_carddavs._tcp.example.org SRV",
                "_carddavs._tcp.example.org TXT",
                "_mta-sts.example.org TXT",
                "autoconfig.example.org CNAME",
                "autodiscover.example.org CNAME",
                "mta-sts.example.org CNAME",
                "example.org CAA",
                "example.org CAA",
            ].sort(),
        );
        expect(after.length).toBe(before.length + 22);
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
