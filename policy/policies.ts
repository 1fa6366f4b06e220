// The rules every preview of mailstack is held to (policy/index.ts serves them, mandatory).
// Each is independent of the program's code: it reads the resources as the engine sends them,
// so a change to the program that breaks a rule fails the pull request's preview.

import * as cloudflare from "@pulumi/cloudflare";
import * as hcloud from "@pulumi/hcloud";
import {
    validateResourceOfType,
    type PolicyResource,
    type ResourceValidationPolicy,
    type StackValidationPolicy,
} from "@pulumi/policy";

import { disallowed, scanUserData, USER_DATA_ALLOWED_SECRETS, type AllowedSecret } from "./user-data";

/** Record types that only ever carry mail: never proxied, whatever their name. */
const MAIL_RECORD_TYPES = ["MX", "TXT", "SRV"];
const ADDRESS_RECORD_TYPES = ["A", "AAAA"];
const SSH_PORT = 22;

/** A DNS name compared as DNS compares it: case-insensitive, without the root's trailing dot. */
function dnsName(name: unknown): string {
    return String(name ?? "")
        .trim()
        .toLowerCase()
        .replace(/\.$/, "");
}

export const mailDnsRecordsUnproxied: ResourceValidationPolicy = {
    name: "mail-dns-records-unproxied",
    description: "Mail DNS records (MX, TXT, SRV) are never proxied by Cloudflare: proxied is false.",
    validateResource: validateResourceOfType(cloudflare.DnsRecord, (record, args, reportViolation) => {
        const type = String(record.type).toUpperCase();
        if (!MAIL_RECORD_TYPES.includes(type)) return;
        if (record.proxied !== false)
            reportViolation(
                `cloudflare DnsRecord "${args.name}" (${type} ${record.name}) has proxied=${String(record.proxied)}: ` +
                    "mail records must set proxied to false explicitly (Cloudflare's proxy carries HTTP only).",
            );
    }),
};

export const mailHostAddressUnproxied: StackValidationPolicy = {
    name: "mail-host-address-unproxied",
    description: "The A/AAAA records of the mail host name (the hcloud Server's name) are never proxied.",
    validateStack: (args, reportViolation) => {
        const hostNames = new Set(
            args.resources.filter((r) => r.isType(hcloud.Server)).map((r) => dnsName(r.props.name)),
        );
        for (const r of args.resources.filter((x) => x.isType(cloudflare.DnsRecord))) {
            const type = String(r.props.type).toUpperCase();
            if (!ADDRESS_RECORD_TYPES.includes(type) || !hostNames.has(dnsName(r.props.name))) continue;
            if (r.props.proxied !== false)
                reportViolation(
                    `cloudflare DnsRecord "${r.name}" (${type} ${r.props.name}) has proxied=${String(r.props.proxied)}: ` +
                        "the mail host's address must be the server's own (SMTP, IMAP and the PTR check need it), " +
                        "so proxied must be false explicitly.",
                    r.urn,
                );
        }
    },
};

/** Protected twice: `protect` in Pulumi (no plan deletes or replaces it) and at Hetzner. */
function protectionViolations(label: string, name: string, protect: boolean, deleteProtection: unknown): string[] {
    const problems: string[] = [];
    if (protect !== true)
        problems.push(
            `${label} "${name}" is not protected in Pulumi: declare it with { protect: true }, ` +
                "so that no plan can delete or replace it.",
        );
    if (deleteProtection !== true)
        problems.push(
            `${label} "${name}" has deleteProtection=${String(deleteProtection)}: ` +
                "it must be true, so that Hetzner refuses to delete it.",
        );
    return problems;
}

export const mailVolumeProtected: ResourceValidationPolicy = {
    name: "mail-volume-protected",
    description: "The mail volume is protected in Pulumi and delete-protected at Hetzner.",
    validateResource: validateResourceOfType(hcloud.Volume, (volume, args, reportViolation) =>
        protectionViolations("hcloud Volume", args.name, args.opts.protect, volume.deleteProtection).forEach((m) =>
            reportViolation(m),
        ),
    ),
};

export const primaryIpsProtected: ResourceValidationPolicy = {
    name: "primary-ips-protected",
    description: "The primary IPs are protected in Pulumi and delete-protected at Hetzner.",
    validateResource: validateResourceOfType(hcloud.PrimaryIp, (ip, args, reportViolation) =>
        protectionViolations("hcloud PrimaryIp", args.name, args.opts.protect, ip.deleteProtection).forEach((m) =>
            reportViolation(m),
        ),
    ),
};

/** A rule's port as a range; an absent port or "any" is every port; undefined if unreadable. */
export function portRange(port: string | undefined): { from: number; to: number } | undefined {
    const p = (port ?? "any").trim().toLowerCase();
    if (p === "any" || p === "") return { from: 1, to: 65535 };
    const m = /^(\d{1,5})(?:\s*-\s*(\d{1,5}))?$/.exec(p);
    if (!m) return undefined;
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    return from <= to ? { from, to } : undefined;
}

/** Every address: any prefix of length 0 (0.0.0.0/0, ::/0, and their spellings). */
const isWholeInternet = (cidr: string) => /\/0+$/.test(cidr.trim());

export const sshNotOpenToTheWorld: ResourceValidationPolicy = {
    name: "ssh-not-open-to-the-world",
    description: "No hcloud Firewall opens port 22 to the whole internet (a /0 source).",
    validateResource: validateResourceOfType(hcloud.Firewall, (firewall, args, reportViolation) => {
        (firewall.rules ?? []).forEach((rule, i) => {
            if (rule.direction !== "in" || !["tcp", "udp"].includes(rule.protocol)) return;
            const what = `rules[${i}] (inbound ${rule.protocol} port ${rule.port ?? "any"}${rule.description ? `, "${rule.description}"` : ""})`;
            const range = portRange(rule.port);
            if (!range) {
                reportViolation(
                    `hcloud Firewall "${args.name}": ${what} has a port this policy cannot read; use "22", "20-30" or "any".`,
                );
                return;
            }
            if (range.from > SSH_PORT || range.to < SSH_PORT) return;
            const world = (rule.sourceIps ?? []).filter(isWholeInternet);
            if (world.length > 0)
                reportViolation(
                    `hcloud Firewall "${args.name}": ${what} opens port ${SSH_PORT} to ${world.join(", ")}; ` +
                        "SSH must be limited to the deployers' addresses (mailstack:sshAllowedCidrs).",
                );
        });
    }),
};

/** The user-data policy, with the reviewed exceptions it allows (policy/user-data.ts). */
export function userDataHoldsNoSecrets(allowed: readonly AllowedSecret[] = USER_DATA_ALLOWED_SECRETS) {
    const policy: ResourceValidationPolicy = {
        name: "user-data-holds-no-secrets",
        description:
            "The hcloud Server's user-data holds no private key, password hash or password (write_files decoded).",
        validateResource: validateResourceOfType(hcloud.Server, (server, args, reportViolation) => {
            // During a preview the user-data may be unknown: reading it then throws the SDK's
            // UnknownValueError, which the SDK reports as "can't run during preview".
            const userData = server.userData;
            if (userData === undefined || userData === null || userData === "") return;
            const scan = scanUserData(String(userData));
            for (const problem of scan.problems)
                reportViolation(`hcloud Server "${args.name}": the user-data ${problem}.`);
            for (const f of disallowed(scan.findings, allowed))
                reportViolation(
                    `hcloud Server "${args.name}": the user-data holds ${f.what} (${f.kind}) at ${f.location}. ` +
                        "Secrets reach the server over SSH stdin in the provisioning steps; a deliberate exception " +
                        "is an entry in USER_DATA_ALLOWED_SECRETS (policy/user-data.ts).",
                );
        }),
    };
    return policy;
}

export const userDataNoSecrets = userDataHoldsNoSecrets();

export const ptrNamesTheMailHost: StackValidationPolicy = {
    name: "ptr-names-the-mail-host",
    description:
        "Each primary IP has exactly one hcloud Rdns, whose dnsPtr is the name of the hcloud Server that has the address " +
        "(the mail host, or the backup MX).",
    validateStack: (args, reportViolation) => {
        const servers = args.resources.filter((r) => r.isType(hcloud.Server));
        const ips = args.resources.filter((r) => r.isType(hcloud.PrimaryIp));
        const ptrs = args.resources.filter((r) => r.isType(hcloud.Rdns));
        if (servers.length === 0 && ips.length === 0 && ptrs.length === 0)
            args.notApplicable("no hcloud Server, PrimaryIp or Rdns in this stack");
        if (servers.length === 0)
            reportViolation("expected an hcloud Server, whose name is the mail host name; found none.");

        // Which primary IP each Rdns is set on: the resource its primaryIpId comes from (known
        // even in a preview, when the id itself is not); which server has that IP: the one
        // whose publicNets it feeds.
        const ipOf = (p: PolicyResource) =>
            (p.propertyDependencies["primaryIpId"] ?? []).filter((d) => d.isType(hcloud.PrimaryIp));
        const serversOf = (ip: PolicyResource) =>
            servers.filter((sv) => (sv.propertyDependencies["publicNets"] ?? []).some((d) => d.urn === ip.urn));
        for (const p of ptrs) {
            const on = ipOf(p);
            if (on.length !== 1) {
                reportViolation(
                    `hcloud Rdns "${p.name}" is not set on exactly one primary IP of this stack ` +
                        `(its primaryIpId comes from ${on.length} hcloud PrimaryIp resources; it must be one).`,
                    p.urn,
                );
                continue;
            }
            const holders = serversOf(on[0]);
            if (holders.length !== 1) {
                if (servers.length > 0)
                    reportViolation(
                        `hcloud Rdns "${p.name}" is set on hcloud PrimaryIp "${on[0].name}", which ${holders.length} hcloud ` +
                            "Servers have in their publicNets; it must be exactly one, whose name the PTR is.",
                        p.urn,
                    );
                continue;
            }
            const host = dnsName(holders[0].props.name);
            if (dnsName(p.props.dnsPtr) !== host)
                reportViolation(
                    `hcloud Rdns "${p.name}" has dnsPtr "${p.props.dnsPtr}"; it must be the mail host name ` +
                        `"${host}" (the name of hcloud Server "${holders[0].name}"), or receivers' FCrDNS check fails.`,
                    p.urn,
                );
        }
        for (const ip of ips) {
            const mine = ptrs.filter((p) => ipOf(p).some((d) => d.urn === ip.urn));
            if (mine.length !== 1)
                reportViolation(
                    `hcloud PrimaryIp "${ip.name}" has ${mine.length} hcloud Rdns records` +
                        (mine.length ? ` (${mine.map((p) => `"${p.name}"`).join(", ")})` : "") +
                        "; it must have exactly one, naming the mail host.",
                    ip.urn,
                );
        }
    },
};

/**
 * The Debian image this mailstack's files are made for (its templates, its package list,
 * Dovecot's pinned config and storage versions). The program's own constant is
 * SUPPORTED_IMAGE; test/policy.test.ts holds the two equal, so both move on purpose.
 */
export const MAILSTACK_IMAGE = "debian-13";

/**
 * A new server image is a new server: Debian's next release comes as a replacement onto the
 * new image (the same volume and addresses, every provisioning step: README, "Debian's next
 * release"), never as an in-place dist-upgrade. A policy sees only the planned inputs,
 * never the previous ones, so it cannot tell a changed image from an unchanged one; it
 * warns about the two things that make a change go wrong:
 * an image that is not the release this mailstack is made for, and a Server that ignores
 * changes to its image (Pulumi then keeps the old image from state, pulumi/pulumi#2657: an up
 * would bring the new release's files to the old Debian, and even `--replace` would boot the
 * old image). The program declares `replaceOnChanges: ["image"]` with `protect`, so the
 * engine stops such a plan until the replacement is made on purpose.
 */
export const serverImageChangeIsAReplacement: ResourceValidationPolicy = {
    name: "server-image-change-is-a-replacement",
    description:
        "The hcloud Server runs the Debian release this mailstack is made for and never ignores a changed image: a new release is a replacement, never an in-place upgrade.",
    enforcementLevel: "advisory",
    validateResource: validateResourceOfType(hcloud.Server, (server, args, reportViolation) => {
        const image = String(server.image ?? "");
        if (image !== MAILSTACK_IMAGE)
            reportViolation(
                `hcloud Server "${args.name}" has image "${image}", but this mailstack's files are made for ` +
                    `${MAILSTACK_IMAGE}. Another Debian release is a replacement onto its image with a mailstack ` +
                    `made for it (README, "Debian's next release"), never an apt full-upgrade in place.`,
            );
        if ((args.opts.ignoreChanges ?? []).includes("image"))
            reportViolation(
                `hcloud Server "${args.name}" ignores changes to its image: a new image would never reach it, ` +
                    "Pulumi would keep the old one even for `pulumi up --replace` (pulumi/pulumi#2657), and a newer " +
                    'mailstack would provision its release\'s files onto the old Debian. Declare replaceOnChanges: ["image"] instead.',
            );
    }),
};

/** Every policy of the pack, in the order they are reported. */
export const POLICIES: readonly (ResourceValidationPolicy | StackValidationPolicy)[] = [
    mailDnsRecordsUnproxied,
    mailHostAddressUnproxied,
    mailVolumeProtected,
    primaryIpsProtected,
    sshNotOpenToTheWorld,
    userDataNoSecrets,
    ptrNamesTheMailHost,
    serverImageChangeIsAReplacement,
];
