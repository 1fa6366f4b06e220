// How mail leaves the host and what it asks DNS: unbound as the host's own validating
// resolver (Postfix, rspamd and the MTA-STS resolver use it), and the MTA-STS policy
// daemon Postfix asks before each delivery to another MX. Host-config files only (the
// user-data leaves them out): until host-config, Debian's defaults of both packages run.

import type { MailSpec } from "../../model";
import { renderTemplate } from "./template";
import type { HostFile, ServiceAction } from "./types";

/** Where unbound answers; resolv.conf and rspamd read it from here. */
export const RESOLVER_ADDRESS = "127.0.0.1";

/** postfix-mta-sts-resolver's socketmap; main.cf (smtp_tls_policy_maps) reads it from here. */
export const MTA_STS_RESOLVER = { host: "127.0.0.1", port: 8461 } as const;

/** main.cf's smtp_tls_policy_maps value: the socketmap, its default zone. */
export const MTA_STS_POLICY_MAP = `socketmap:inet:${MTA_STS_RESOLVER.host}:${MTA_STS_RESOLVER.port}:postfix`;

/** unbound's built-in zones that a forwarding (private) network may serve itself. */
const FORWARDED_RESERVED_ZONES = [
    "test.",
    "2.0.192.in-addr.arpa.",
    "100.51.198.in-addr.arpa.",
    "113.0.203.in-addr.arpa.",
    "8.b.d.0.1.0.0.2.ip6.arpa.",
];

/** Debian's unbound conffile that turns on the root trust anchor (rewritten here, see rootAnchor). */
export const ROOT_ANCHOR_CONF = "/etc/unbound/unbound.conf.d/root-auto-trust-anchor-file.conf";

/**
 * Debian's root anchor file: its own text for full recursion (the package's conffile stays
 * unmodified), none with forwarders, whose unsigned answers the root anchor would make
 * "bogus" (no chain from the root leads to them); without an anchor above them they are
 * "insecure", and only the signed zones' own anchors validate.
 */
function rootAnchor(spec: MailSpec): string {
    if (spec.resolverForward.length === 0) return renderTemplate("unbound/root-auto-trust-anchor-file.conf");
    return [
        `# ${ROOT_ANCHOR_CONF} - rendered by mailstack (render/host/outbound.ts).`,
        "# No root trust anchor: mailstack:resolver.forward sends every query to resolvers whose",
        "# network is not signed from the root; an anchor here would make all their answers bogus.",
        "# Validation stays on for mailstack:resolver.signedZones (trust anchors in mailstack.conf).",
        "",
    ].join("\n");
}

/** The end of unbound's config: full recursion or the forwarders, and the private signed zones. */
function upstream(spec: MailSpec): string {
    const server: string[] = [];
    const zones: string[] = [];
    if (spec.resolverForward.length === 0)
        server.push(
            "    # Full recursion from the root servers, validated against the root trust anchor",
            "    # (Debian's root-auto-trust-anchor-file.conf, seeded from the dns-root-data package).",
        );
    else
        server.push(
            "    # mailstack:resolver.forward: these resolvers are asked instead of the root servers. Their",
            "    # network's DNS is not signed from the root, so there is no root trust anchor",
            "    # (root-auto-trust-anchor-file.conf): their answers are insecure, and DANE applies only",
            "    # in the signed zones below. The validator stays on for those.",
            '    module-config: "validator iterator"',
            "    # A private network names itself under reserved zones (RFC 6761 .test, the documentation",
            "    # ranges' reverse zones) that unbound answers itself by default: ask the forwarders.",
            ...FORWARDED_RESERVED_ZONES.map((z) => `    local-zone: "${z}" nodefault`),
        );
    if (spec.resolverSignedZones.length > 0)
        server.push(
            "    # mailstack:resolver.signedZones: private zones signed with DNSSEC, validated against",
            "    # their own DS (a trust anchor each) and asked of their own name servers (stub zones).",
            ...spec.resolverSignedZones.flatMap((z) => z.ds.map((ds) => `    trust-anchor: "${z.name}. DS ${ds}"`)),
        );
    for (const z of spec.resolverSignedZones)
        zones.push("stub-zone:", `    name: "${z.name}."`, ...z.servers.map((a) => `    stub-addr: ${a}`));
    if (spec.resolverForward.length > 0)
        zones.push("forward-zone:", '    name: "."', ...spec.resolverForward.map((a) => `    forward-addr: ${a}`));
    return [...server, ...zones].join("\n");
}

function file(path: string, content: string, onChange: ServiceAction[]): HostFile {
    return { path, mode: "0644", owner: "root", group: "root", content, onChange };
}

/** unbound's config and resolv.conf pointing at it. */
export function renderResolverFiles(spec: MailSpec): HostFile[] {
    return [
        file(
            "/etc/unbound/unbound.conf.d/mailstack.conf",
            renderTemplate("unbound/mailstack.conf", { upstream: upstream(spec) }),
            ["restart:unbound"],
        ),
        file(ROOT_ANCHOR_CONF, rootAnchor(spec), ["restart:unbound"]),
        // After unbound's restart (apply-bundle's order), nothing asks the old resolver again.
        file("/etc/resolv.conf", renderTemplate("mailstack/resolv.conf", { resolver: RESOLVER_ADDRESS }), [
            "restart:unbound",
        ]),
    ];
}

/** The MTA-STS resolver's config. */
export function renderMtaStsFiles(): HostFile[] {
    return [
        file(
            "/etc/mta-sts-daemon.yml",
            renderTemplate("mta-sts/mta-sts-daemon.yml", {
                host: MTA_STS_RESOLVER.host,
                port: MTA_STS_RESOLVER.port,
            }),
            ["restart:mta-sts"],
        ),
    ];
}
