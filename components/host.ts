// The server at Hetzner: deploy key, stable addresses with reverse DNS, firewall, the mail
// volume and the VM itself.

import * as hcloud from "@pulumi/hcloud";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";

import { firewallRules, secondaryFirewallRules, type FirewallRuleSpec, type UserDataOptions } from "../render";
import type { MailSpec } from "../model";

export interface MailHostArgs {
    /** The validated configuration. */
    readonly spec: MailSpec;
    /** Renders the first-boot user-data from the mail volume's device path and the provisional host key. */
    readonly userData: (options: UserDataOptions) => string;
    /** Which server: the mail server (default), or the backup MX (mailstack:secondaryMx). */
    readonly role?: "primary" | "secondary";
}

/** What differs between the two servers: the names, the place, the volume and the firewall. */
interface HostShape {
    readonly hostname: string;
    readonly server: { readonly type: string; readonly location: string; readonly image: string };
    readonly volumeSizeGb: number;
    /** Hetzner name suffixes of the volume and the firewall. */
    readonly volumeSuffix: string;
    readonly firewallSuffix: string;
    readonly firewallRules: readonly FirewallRuleSpec[];
}

/** The primary's shape is exactly what it always was: a backup MX added beside it changes none of its inputs. */
export function hostShape(spec: MailSpec, role: "primary" | "secondary"): HostShape {
    if (role === "primary")
        return {
            hostname: spec.hostname,
            server: spec.server,
            volumeSizeGb: spec.mailVolumeSizeGb,
            volumeSuffix: "mail",
            firewallSuffix: "mail",
            firewallRules: firewallRules(spec),
        };
    const secondary = spec.secondaryMx;
    if (!secondary) throw new Error("MailHost: role secondary without mailstack:secondaryMx");
    return {
        hostname: secondary.hostname,
        server: secondary.server,
        volumeSizeGb: secondary.queueVolumeSizeGb,
        volumeSuffix: "queue",
        firewallSuffix: "mx",
        firewallRules: secondaryFirewallRules(spec),
    };
}

/**
 * The server's IPv6 address in its primary IP's /64. The provider reports the network
 * address itself (`2a01:4f8:1:2::`, the /64 in `ipNetwork`); Debian on Hetzner configures
 * `::1` of that network, which is what AAAA and PTR must name.
 */
export function serverIpv6(ipAddress: string | undefined, ipNetwork: string | undefined): string {
    const base = (ipNetwork || ipAddress || "").split("/")[0];
    if (!base.includes(":"))
        throw new Error(`hcloud primary IPv6: no IPv6 network in ipAddress="${ipAddress}" ipNetwork="${ipNetwork}"`);
    return base.endsWith("::") ? `${base}1` : base;
}

export class MailHost extends pulumi.ComponentResource {
    /** Stable public IPv4 address (survives a server replacement). */
    public readonly ipv4: pulumi.Output<string>;
    /** Stable public IPv6 address of the server (`<prefix>::1`). */
    public readonly ipv6: pulumi.Output<string>;
    public readonly serverId: pulumi.Output<string>;
    /** OpenSSH private key the provisioning commands log in with (secret). */
    public readonly deployPrivateKey: pulumi.Output<string>;
    public readonly deployPublicKey: pulumi.Output<string>;
    /** Device path of the mail volume, e.g. /dev/disk/by-id/scsi-0HC_Volume_123. */
    public readonly mailVolumeDevice: pulumi.Output<string>;
    /** The mail volume: the volume step waits for its resize. */
    public readonly mailVolume: hcloud.Volume;
    /** `ssh-ed25519 ...` of the provisional host key in the user-data (replaced on the first deploy). */
    public readonly provisionalHostKey: pulumi.Output<string>;

    constructor(name: string, args: MailHostArgs, opts?: pulumi.ComponentResourceOptions) {
        super("mailstack:host:MailHost", name, {}, opts);
        const shape = hostShape(args.spec, args.role ?? "primary");
        const parent = { parent: this };
        const labels = { "managed-by": "mailstack" };
        // Hetzner names: lower-case letters, digits, dashes.
        const baseName = shape.hostname.replace(/\./g, "-");

        const deployKey = new tls.PrivateKey(`${name}-deploy-key`, { algorithm: "ED25519" }, parent);
        const sshKey = new hcloud.SshKey(
            `${name}-deploy-key`,
            // The tls provider ends the key with "\n"; Hetzner stores it trimmed, and an
            // untrimmed input is "inconsistent after apply" and then replaced on every up.
            { name: `${baseName}-deploy`, publicKey: deployKey.publicKeyOpenssh.apply((k) => k.trim()), labels },
            parent,
        );

        // The server's first SSH host key, known to the deploy before the server exists, so the
        // first connection can be verified. It travels in the user-data, so the first
        // provisioning step replaces it (render/plan/plan.ts, host-key).
        const hostKey = new tls.PrivateKey(`${name}-provisional-host-key`, { algorithm: "ED25519" }, parent);
        this.provisionalHostKey = hostKey.publicKeyOpenssh.apply((k) => k.trim());

        // Primary IPs outlive the server (autoDelete: false): the addresses, their reputation
        // with other mail servers and their PTR records stay when the VM is replaced.
        const primaryIp = (version: "ipv4" | "ipv6") =>
            new hcloud.PrimaryIp(
                `${name}-${version}`,
                {
                    name: `${baseName}-${version}`,
                    type: version,
                    location: shape.server.location,
                    // No assigneeType: it is only meaningful with an assigneeId, and the
                    // server assigns itself the IP through publicNets (hcloud provider #1395).
                    autoDelete: false,
                    deleteProtection: true,
                    labels,
                },
                { ...parent, protect: true },
            );
        const ip4 = primaryIp("ipv4");
        const ip6 = primaryIp("ipv6");

        const firewall = new hcloud.Firewall(
            `${name}-firewall`,
            {
                name: `${baseName}-${shape.firewallSuffix}`,
                labels,
                rules: shape.firewallRules.map((r) => ({
                    direction: r.direction,
                    protocol: r.protocol,
                    ...(r.port ? { port: r.port } : {}),
                    ...(r.sourceIps ? { sourceIps: [...r.sourceIps] } : {}),
                    ...(r.destinationIps ? { destinationIps: [...r.destinationIps] } : {}),
                    description: r.description,
                })),
            },
            parent,
        );

        // The mail store lives on its own volume: a rebuilt server finds years of mail intact.
        // Hetzner formats it once, at creation; the server only ever mounts it.
        const volume = new hcloud.Volume(
            `${name}-mail-volume`,
            {
                name: `${baseName}-${shape.volumeSuffix}`,
                size: shape.volumeSizeGb,
                location: shape.server.location,
                format: "ext4",
                deleteProtection: true,
                labels,
            },
            { ...parent, protect: true },
        );

        const server = new hcloud.Server(
            `${name}-server`,
            {
                name: shape.hostname,
                serverType: shape.server.type,
                image: shape.server.image,
                location: shape.server.location,
                sshKeys: [sshKey.id],
                firewallIds: [firewall.id.apply((id) => Number(id))],
                publicNets: [
                    {
                        ipv4Enabled: true,
                        ipv4: ip4.id.apply((id) => Number(id)),
                        ipv6Enabled: true,
                        ipv6: ip6.id.apply((id) => Number(id)),
                    },
                ],
                userData: pulumi
                    .all([volume.linuxDevice, hostKey.privateKeyOpenssh, hostKey.publicKeyOpenssh])
                    .apply(([mailVolumeDevice, privateKeyOpenssh, publicKeyOpenssh]) =>
                        args.userData({
                            mailVolumeDevice,
                            provisionalHostKey: { privateKeyOpenssh, publicKeyOpenssh },
                        }),
                    ),
                deleteProtection: true,
                rebuildProtection: true,
                // When it is deleted after all (a replacement), Postfix and Dovecot get an ACPI
                // shutdown first: the queue and the mail volume are flushed and unmounted.
                shutdownBeforeDeletion: true,
                // A new server.type changes CPU and memory only: the mail is on the volume,
                // and a grown root disk would rule out a smaller type later.
                keepDisk: true,
                labels,
            },
            {
                ...parent,
                // An accidental replacement stops at planning (README, "Replacing the server").
                protect: true,
                // After the first boot, configuration changes go through the provisioning
                // commands: a new user-data must never replace a server that holds mail.
                ignoreChanges: ["userData", "sshKeys"],
                // A new image is a new server (Debian's next release, README): Hetzner's provider
                // replaces a server for a new image, and replaceOnChanges says so here too;
                // `protect` stops that replacement at planning until it is made on purpose. It
                // is never ignored: Pulumi would keep the old image even for --replace
                // (pulumi/pulumi#2657), and a newer mailstack would provision the old Debian.
                replaceOnChanges: ["image"],
                // A replacement (`pulumi up --replace`) needs the old server gone first: it
                // holds the name, both primary IPs and the volume. Its delete protection
                // makes that a deliberate step (README, "Replacing the server").
                deleteBeforeReplace: true,
            },
        );

        new hcloud.VolumeAttachment(
            `${name}-mail-volume-attachment`,
            {
                serverId: server.id.apply((id) => Number(id)),
                volumeId: volume.id.apply((id) => Number(id)),
                automount: false,
            },
            // A volume attaches to one server at a time: detach from the old one first.
            { ...parent, deleteBeforeReplace: true },
        );

        this.ipv4 = ip4.ipAddress;
        this.ipv6 = pulumi
            .all([ip6.ipAddress, ip6.ipNetwork])
            .apply(([address, network]) => serverIpv6(address, network));

        // Reverse DNS: receivers check that the connecting IP's PTR names a host whose A/AAAA
        // points back (FCrDNS); without it much mail is refused or lands in spam.
        new hcloud.Rdns(
            `${name}-ptr-ipv4`,
            { primaryIpId: ip4.id.apply((id) => Number(id)), ipAddress: this.ipv4, dnsPtr: shape.hostname },
            parent,
        );
        new hcloud.Rdns(
            `${name}-ptr-ipv6`,
            { primaryIpId: ip6.id.apply((id) => Number(id)), ipAddress: this.ipv6, dnsPtr: shape.hostname },
            parent,
        );

        this.serverId = server.id;
        this.deployPrivateKey = pulumi.secret(deployKey.privateKeyOpenssh);
        this.deployPublicKey = deployKey.publicKeyOpenssh;
        this.mailVolumeDevice = volume.linuxDevice;
        this.mailVolume = volume;
        this.registerOutputs({
            ipv4: this.ipv4,
            ipv6: this.ipv6,
            serverId: this.serverId,
            deployPublicKey: this.deployPublicKey,
            mailVolumeDevice: this.mailVolumeDevice,
        });
    }
}
