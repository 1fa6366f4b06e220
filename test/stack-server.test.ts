// The Pulumi program under mocks: the server's parts (backups, the relay, imports, IPv6, password
// hashes, firewall CIDRs), every resource recorded with its inputs and checked.

import { find } from "./helpers/mocks";
import { parseBundle } from "../render";
import { serverIpv6 } from "../components/host";
import { type RawConfig } from "../model";
import { oneDomain, oneImport } from "./helpers/fixtures";
import {
    HCLOUD,
    COMMAND,
    PRIVATE_KEY,
    SECRET_PASSWORD,
    deploy,
    BACKUP_PASSWORD,
    STORAGE_BOX_KEY,
    bundleFile,
} from "./helpers/stack";

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

describe("importing an old IMAP account", () => {
    test("its password reaches the server only through the import step's secret stdin; the firewall opens the source's port", async () => {
        const raw = { ...oneDomain(), ...oneImport() };
        const password = (oneImport().importPasswords as Record<string, string>)["evaluation@nathabee.de"];
        const res = await deploy("import", raw);
        for (const r of res.resources) {
            if (r.name === "import-provision-import") continue;
            expect([r.name, JSON.stringify(r.inputs).includes(password)]).toEqual([r.name, false]);
        }
        const step = find(res.resources, COMMAND, "import-provision-import");
        expect(step.secretInputs).toContain("stdin");
        expect(step.inputs.create).not.toContain(password);
        const files = parseBundle(step.inputs.stdin);
        const secret = files.find((f) => f.path === "/etc/mailstack/import/evaluation@nathabee.de.password")!;
        expect([secret.content, secret.mode, secret.owner]).toEqual([`${password}\n`, "0600", "root"]);
        const rules: any[] = find(res.resources, HCLOUD.firewall, "import-firewall").inputs.rules;
        const out = rules.filter((r) => r.direction === "out" && r.protocol === "tcp").map((r) => r.port);
        expect(out).toContain("993");
    });
});

test("the server's IPv6 is ::1 of its primary IP's /64, however the provider spells the network", () => {
    expect(serverIpv6("2a01:4f8:c012:abcd::", "2a01:4f8:c012:abcd::/64")).toBe("2a01:4f8:c012:abcd::1");
    expect(serverIpv6("2a01:4f8:c012:abcd::/64", undefined)).toBe("2a01:4f8:c012:abcd::1");
    expect(serverIpv6("2a01:4f8:c012:abcd::", "")).toBe("2a01:4f8:c012:abcd::1");
    expect(() => serverIpv6("", "")).toThrow(/no IPv6 network/);
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
