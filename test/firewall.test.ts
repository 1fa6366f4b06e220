// The cloud firewall as data (render/boot/firewall.ts) and as the lab enforces it
// (lab/world/firewall.ts): every outbound connection the server needs is a rule, and the lab's
// nftables follow Hetzner's semantics.
import { firewallRules, type FirewallRuleSpec } from "../render";
import { renderCloudFirewall } from "../lab/world/firewall";
import { buildSpec, type RawConfig } from "../model";
import { oneDomain } from "./helpers/fixtures";

const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIj0Y7Fwm6wZUmPQpVuZ7mUr2Z5ZpOHg6oYd3Vtq8x9c";
const SFTP = { host: "u123456.your-storagebox.de", user: "u123456", path: "mail", hostKey: HOST_KEY };
const S3 = { bucket: "mail-backup", path: "mail" };

function spec(extra: Partial<RawConfig>, backupSecretsSet: RawConfig["backupSecretsSet"] = []) {
    return buildSpec({ ...oneDomain(), passwords: {}, ...extra, backupSecretsSet } as RawConfig);
}
const outboundPorts = (rules: FirewallRuleSpec[]) =>
    rules.filter((r) => r.direction === "out" && r.protocol === "tcp").map((r) => r.port);

describe("the cloud firewall lets the server reach what it needs, and nothing else", () => {
    test("without a backup or a relay: SMTP, DNS, HTTP and HTTPS out, nothing more", () => {
        expect(outboundPorts(firewallRules(spec({}))).sort()).toEqual(["25", "443", "53", "80"]);
    });

    test("backups to a Storage Box open its SFTP port 23 outbound", () => {
        const rules = firewallRules(spec({ backup: { sftp: SFTP } }, ["backupPassword"]));
        expect(rules).toContainEqual({
            direction: "out",
            protocol: "tcp",
            port: "23",
            destinationIps: ["0.0.0.0/0", "::/0"],
            description: "the backup repository",
        });
    });

    test("an SFTP target on another port opens that port", () => {
        const rules = firewallRules(spec({ backup: { sftp: { ...SFTP, port: 2222 } } }, ["backupPassword"]));
        expect(outboundPorts(rules)).toContain("2222");
    });

    test("an S3 endpoint on its own port opens it; on 443 no further rule is needed", () => {
        const secrets: RawConfig["backupSecretsSet"] = [
            "backupPassword",
            "backupS3AccessKeyId",
            "backupS3SecretAccessKey",
        ];
        const own = firewallRules(
            spec({ backup: { s3: { ...S3, endpoint: "https://s3.example.net:9000" } } }, secrets),
        );
        expect(outboundPorts(own)).toContain("9000");
        const https = firewallRules(spec({ backup: { s3: { ...S3, endpoint: "https://fsn1.example.net" } } }, secrets));
        expect(outboundPorts(https).sort()).toEqual(["25", "443", "53", "80"]);
    });

    test("a relay and a backup on the same port give one rule", () => {
        const rules = firewallRules(
            spec(
                {
                    relay: { host: "smtp.relay.example", port: 2525, username: "me" },
                    hasRelayPassword: true,
                    backup: { sftp: { ...SFTP, port: 2525 } },
                },
                ["backupPassword"],
            ),
        );
        expect(outboundPorts(rules).filter((p) => p === "2525")).toHaveLength(1);
    });
});

describe("the lab enforces the same rules with Hetzner's semantics", () => {
    const lines = (text: string, chain: string) => {
        const start = text.indexOf(`chain ${chain} {`);
        return text
            .slice(start, text.indexOf("\n    }", start))
            .split("\n")
            .map((l) => l.trim());
    };
    const nft = renderCloudFirewall(firewallRules(spec({ backup: { sftp: SFTP } }, ["backupPassword"])), "out0");

    test("inbound: only what a rule allows, SSH only from the deployers' networks", () => {
        const inbound = lines(nft, "to_server");
        expect(inbound).toContain('oifname != "out0" accept');
        expect(inbound).toContain('tcp dport 25 accept comment "SMTP: mail from other servers"');
        expect(inbound).toContain(
            'ip saddr { 203.0.113.7/32 } tcp dport 22 accept comment "SSH from the deployers only"',
        );
        expect(inbound.some((l) => /^tcp dport 22 /.test(l))).toBe(false);
        expect(inbound.some((l) => /dport 143 /.test(l))).toBe(false);
        expect(inbound.at(-1)).toBe('counter drop comment "not allowed by the cloud firewall"');
    });

    test("outbound: once any outbound rule exists, only what the rules allow (the backup's port among them)", () => {
        const outbound = lines(nft, "from_server");
        expect(outbound).toContain('tcp dport 23 accept comment "the backup repository"');
        expect(outbound.at(-1)).toBe('counter drop comment "not allowed by the cloud firewall"');
    });

    test("stateful: replies to an allowed connection pass both ways", () => {
        for (const chain of ["to_server", "from_server"])
            expect(lines(nft, chain)).toContain("ct state established,related accept");
    });

    test("without any outbound rule, everything may leave", () => {
        const inboundOnly = firewallRules(spec({})).filter((r) => r.direction === "in");
        const outbound = lines(renderCloudFirewall(inboundOnly, "out0"), "from_server");
        expect(outbound.some((l) => l.includes("drop"))).toBe(false);
    });

    test("the table is replaced whole, so a changed config leaves no stale rule", () => {
        expect(nft.split("\n").slice(1, 4)).toEqual([
            "table inet mailstack_cloud_firewall",
            "delete table inet mailstack_cloud_firewall",
            "table inet mailstack_cloud_firewall {",
        ]);
    });
});
