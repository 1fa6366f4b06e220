// The stack's own cloud firewall (render/boot/firewall.ts), enforced in the lab with nftables
// where Hetzner enforces it: between the server and everything else. The table lives in
// msl-out, on the veth that is the server's only link, so the server's own nftables
// (fail2ban, the metadata guard) are untouched and every lab check runs behind the rules the
// real server gets. Applied before the first boot and again by every provisioning of the lab
// (lab/scenarios/provision.ts), as `pulumi up` updates the firewall whenever the config changes it.
//
// Hetzner's semantics (docs.hetzner.com, Cloud > Firewalls > FAQ): stateful; inbound only
// what a rule allows; outbound everything until the first outbound rule exists, then only
// what the rules allow; ICMP only as listed.

import { firewallRules, secondaryFirewallRules, type FirewallRuleSpec } from "../../render";
import type { MailSpec } from "../../model";
import { NET } from "../harness/net";
import { sh } from "../harness/processes";

/** The nftables table in msl-out. */
export const CLOUD_FIREWALL_TABLE = "mailstack_cloud_firewall";

const isV6 = (cidr: string) => cidr.includes(":");
const ANY4 = "0.0.0.0/0";
const ANY6 = "::/0";

/**
 * The nftables statements of one rule, one per address family it names: `addr` is `saddr`
 * for inbound rules (who may connect) and `daddr` for outbound ones (where the server may go).
 */
function ruleLines(rule: FirewallRuleSpec): string[] {
    const ips = (rule.direction === "in" ? rule.sourceIps : rule.destinationIps) ?? [];
    const addr = rule.direction === "in" ? "saddr" : "daddr";
    const match =
        rule.protocol === "icmp"
            ? // Hetzner's "icmp" covers ICMPv6 for IPv6 addresses.
              "meta l4proto { icmp, ipv6-icmp }"
            : `${rule.protocol} dport ${rule.port ?? "0-65535"}`;
    const comment = `comment ${JSON.stringify(rule.description)}`;
    // Open to all (both families): one statement without an address.
    if (ips.includes(ANY4) && ips.includes(ANY6)) return [`${match} accept ${comment}`];
    const family = (name: "ip" | "ip6", any: string, list: string[]): string[] => {
        if (list.length === 0) return [];
        const where = list.includes(any)
            ? `meta nfproto ${name === "ip" ? "ipv4" : "ipv6"}`
            : `${name} ${addr} { ${list.join(", ")} }`;
        return [`${where} ${match} accept ${comment}`];
    };
    return [
        ...family(
            "ip",
            ANY4,
            ips.filter((i) => !isV6(i)),
        ),
        ...family("ip6", ANY6, ips.filter(isV6)),
    ];
}

/**
 * The ruleset for `rules` on the outside end of the server's link (`iface`, in msl-out). Traffic
 * to the server leaves msl-out (hook output); traffic from it arrives there (hook input).
 * Replaces the table atomically (one `nft -f` transaction).
 */
export function renderCloudFirewall(
    rules: readonly FirewallRuleSpec[],
    iface: string = NET.outsideIf,
    table: string = CLOUD_FIREWALL_TABLE,
): string {
    const inbound = rules.filter((r) => r.direction === "in").flatMap(ruleLines);
    const outboundRules = rules.filter((r) => r.direction === "out");
    const outbound = outboundRules.flatMap(ruleLines);
    const chain = (
        name: string,
        hook: "input" | "output" | "forward",
        dev: "iifname" | "oifname",
        lines: string[],
        enforce: boolean,
    ) => [
        `    chain ${name} {`,
        `        type filter hook ${hook} priority filter; policy accept;`,
        `        ${dev} != "${iface}" accept`,
        // Stateful, as Hetzner's: replies to an allowed connection, and its ICMP errors, pass.
        "        ct state established,related accept",
        // Neighbour discovery stays on the server's link; Hetzner's firewall never sees it.
        "        icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, nd-router-advert } accept",
        ...lines.map((l) => `        ${l}`),
        ...(enforce ? [`        counter drop comment "not allowed by the cloud firewall"`] : []),
        "    }",
    ];
    const enforceOut = outboundRules.length > 0;
    return [
        `# The stack's cloud firewall (render/boot/firewall.ts) on ${iface}, with Hetzner's semantics.`,
        `table inet ${table}`,
        `delete table inet ${table}`,
        `table inet ${table} {`,
        // Inbound: only what a rule allows.
        ...chain("to_server", "output", "oifname", inbound, true),
        // Outbound: everything until the first outbound rule exists, then only what the rules allow.
        ...chain("from_server", "input", "iifname", outbound, enforceOut),
        // The same for what msl-out routes between this server and the other one (the backup
        // MX and its primary): each server's own firewall judges it, as both of Hetzner's do.
        ...chain("to_server_routed", "forward", "oifname", inbound, true),
        ...chain("from_server_routed", "forward", "iifname", outbound, enforceOut),
        "}",
        "",
    ].join("\n");
}

/** Enforce `spec`'s firewall in msl-out now (replacing the previous rules). */
export function applyCloudFirewall(spec: MailSpec): void {
    sh("ip", ["netns", "exec", NET.outsideNs, "nft", "-f", "-"], { input: renderCloudFirewall(firewallRules(spec)) });
}

/** The backup MX's own firewall (its table, on its own link). */
export const SECONDARY_FIREWALL_TABLE = "mailstack_cloud_firewall_mx2";

/** Enforce the backup MX's firewall (secondaryFirewallRules) in msl-out, on its link. */
export function applySecondaryFirewall(spec: MailSpec): void {
    sh("ip", ["netns", "exec", NET.outsideNs, "nft", "-f", "-"], {
        input: renderCloudFirewall(secondaryFirewallRules(spec), NET.mx2OutsideIf, SECONDARY_FIREWALL_TABLE),
    });
}
