// The cloud firewall as plain data: Hetzner applies it in front of the server
// (components/host.ts), and the lab applies the very same rules with nftables between its
// server and its "outside" (lab/world/firewall.ts), so every lab check runs behind them.

import { port, SERVICES, SSH_PORT, type MailSpec } from "../../model";

/** One firewall rule as Hetzner takes it. */
export interface FirewallRuleSpec {
    readonly direction: "in" | "out";
    readonly protocol: "tcp" | "udp" | "icmp";
    /** A port or a range `from-to`; none for ICMP. */
    readonly port?: string;
    readonly sourceIps?: readonly string[];
    readonly destinationIps?: readonly string[];
    readonly description: string;
}

export const ANYWHERE: readonly string[] = ["0.0.0.0/0", "::/0"];

/** HTTP: ACME's HTTP-01 challenges come in on it. */
const HTTP_PORT = 80;

/** HTTPS, the port of an S3 endpoint URL that names none. */
const HTTPS_PORT = 443;

/**
 * The port the backup repository is reached on, when it is not one the firewall opens
 * anyway: a Storage Box's SFTP (23), an S3 endpoint on a port of its own.
 */
export function backupEgressPort(spec: MailSpec): number | undefined {
    const repo = spec.backup?.repository;
    if (!repo) return undefined;
    const p = repo.type === "sftp" ? repo.port : Number(new URL(repo.endpoint).port || HTTPS_PORT);
    return p === HTTPS_PORT ? undefined : p;
}

/**
 * The firewall. Ingress: every service of the services table (model/services.ts), SSH only
 * from the deployers, ICMP (path MTU discovery breaks without it). No 110/143: clients use
 * 993/995.
 *
 * Egress: Hetzner drops all outbound traffic not allowed once any outbound rule exists, so
 * everything the host needs is listed: SMTP to other MX hosts, DNS, HTTP(S) for packages and
 * ACME, NTP, the relay's port when a relay is configured, the backup repository's port, ICMP.
 * A new outbound connection of the server must be a rule here; the lab enforces these rules.
 */
export function firewallRules(spec: MailSpec): FirewallRuleSpec[] {
    const outbound = (protocol: "tcp" | "udp", port: number, description: string): FirewallRuleSpec => ({
        direction: "out",
        protocol,
        port: String(port),
        destinationIps: ANYWHERE,
        description,
    });
    const relay = spec.relay;
    const backupPort = backupEgressPort(spec);
    const fixed = [port("smtp"), 53, 80, HTTPS_PORT];
    const earlier = [...fixed, ...(relay ? [relay.port] : []), ...(backupPort !== undefined ? [backupPort] : [])];
    // The old providers' IMAP ports (mailstack:imports), and their OAuth2 token endpoints'
    // (Microsoft's are on 443, open above; another provider's may be elsewhere), each once.
    const tokenPorts = spec.imports.flatMap((i) =>
        i.oauth2 ? [i.oauth2.tokenUrl, i.oauth2.deviceUrl].map((u) => Number(new URL(u).port || HTTPS_PORT)) : [],
    );
    const importPorts = [...new Set([...spec.imports.map((i) => i.port), ...tokenPorts])]
        .filter((p) => !earlier.includes(p))
        .sort((a, b) => a - b);
    return [
        ...SERVICES.map((s): FirewallRuleSpec => ({
            direction: "in",
            protocol: "tcp",
            port: String(s.port),
            sourceIps: ANYWHERE,
            description: s.purpose,
        })),
        {
            direction: "in",
            protocol: "tcp",
            port: String(SSH_PORT),
            sourceIps: [...spec.sshAllowedCidrs],
            description: "SSH from the deployers only",
        },
        { direction: "in", protocol: "icmp", sourceIps: ANYWHERE, description: "ICMP: ping and path MTU discovery" },
        outbound("tcp", port("smtp"), "SMTP to other mail servers"),
        // Any port the relay listens on (2525 is common), not only 465/587.
        ...(relay && !fixed.includes(relay.port) ? [outbound("tcp", relay.port, "the relay")] : []),
        // A Storage Box's SFTP is port 23 (22 is its own SSH shell, which restic does not use).
        ...(backupPort !== undefined && !fixed.includes(backupPort) && backupPort !== relay?.port
            ? [outbound("tcp", backupPort, "the backup repository")]
            : []),
        ...importPorts.map((p) => outbound("tcp", p, "IMAP of an old account being imported")),
        outbound("tcp", 53, "DNS over TCP"),
        outbound("udp", 53, "DNS"),
        outbound("tcp", 80, "HTTP: Debian packages"),
        // Also Microsoft's OAuth2 token endpoint for an import with auth: "oauth2".
        outbound("tcp", HTTPS_PORT, "HTTPS: ACME and packages"),
        outbound("udp", 123, "NTP"),
        { direction: "out", protocol: "icmp", destinationIps: ANYWHERE, description: "ICMP" },
    ];
}

/**
 * The backup MX's firewall (mailstack:secondaryMx): SMTP in from anywhere, HTTP in for its
 * ACME challenges, SSH from the deployers only, ICMP; nothing of the primary's client ports.
 * Out: SMTP (to the primary, and its bounces), DNS, HTTP(S) for packages and ACME, NTP, ICMP.
 */
export function secondaryFirewallRules(spec: MailSpec): FirewallRuleSpec[] {
    const inbound = (port: number, description: string): FirewallRuleSpec => ({
        direction: "in",
        protocol: "tcp",
        port: String(port),
        sourceIps: ANYWHERE,
        description,
    });
    // The primary's rules without its relay and backup repository (the backup MX uses
    // neither): its SSH and ICMP in, and all of its way out.
    const primary = firewallRules({ ...spec, relay: undefined, backup: undefined });
    const kept = (r: FirewallRuleSpec) => r.direction === "out" || r.protocol === "icmp" || r.port === String(SSH_PORT);
    return [
        inbound(port("smtp"), "SMTP from other mail servers (backup MX)"),
        inbound(HTTP_PORT, "HTTP: ACME challenges for its certificate"),
        ...primary.filter(kept),
    ];
}
